"""Seconds of the closed message, before (every day's hours) and after (closed now, the
next opening, the emergency numbers), for the demo practice, fr and en, in one run.

The audio is synthesised with espeak-ng as on a call (``PromptComposer``, a throw-away
cache) and measured from its length; without espeak-ng, a words-per-second estimate.

    .venv/bin/python bench/closed_message.py [--estimate]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import yaml

from ivr_flows.channel import Prompt
from ivr_flows.practice import Doctor, PracticeInfo, parse_hours
from ivr_flows.practice_answers import closed_message
from ivr_flows.prompts.compose import PromptComposer
from ivr_flows.prompts.synth import SAMPLE_RATE, Synthesizer
from ivr_flows.rendering import text

DEMO = Path(__file__).resolve().parents[1] / "scheduling" / "demo_practice.yaml"
FRIDAY_EVENING = datetime(2030, 1, 11, 19, 30, tzinfo=UTC)  # 20:30 in Paris
WORDS_PER_SECOND = 2.6  # espeak-ng at 160 words a minute, with the pauses


def demo_practice() -> PracticeInfo:
    """The demo practice from its file (hours: any doctor's), without a database."""
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    hours: dict = {}
    for person in data["practitioners"]:
        parsed = parse_hours(person["opening"])
        assert isinstance(parsed, dict)
        for day, spans in parsed.items():
            hours.setdefault(day, []).extend(spans)
    merged = {day: tuple(sorted(spans)) for day, spans in hours.items()}
    merged = parse_hours({("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d]:
                          [f"{a:%H:%M}-{b:%H:%M}" for a, b in spans]
                          for d, spans in merged.items()})
    assert isinstance(merged, dict)
    profile = data["profile"]
    return PracticeInfo(
        1, data["slug"], data["name"], data["timezone"],
        tuple(Doctor(i, p["slug"], p["name"], p.get("accepts_new_patients", True))
              for i, p in enumerate(data["practitioners"], start=1)),
        (), merged, spoken_name=profile["spoken_name"],
        sos_medecins_number=profile["sos_medecins_number"],
        on_call_number=profile["on_call_number"], pharmacy_number=profile["pharmacy_number"])


def before(practice: PracticeInfo) -> list[Prompt]:
    """What the line said until now: every day's hours, then the emergency numbers."""
    return [Prompt("closed_now", {"hours": practice.hours}), Prompt("emergency_numbers")]


def seconds(prompts: list[Prompt], language: str, composer: PromptComposer | None) -> float:
    if composer is None:
        words = sum(len(text(p, language).split()) for p in prompts)
        return words / WORDS_PER_SECOND
    pcm = b"".join(composer.prompt(p.id, language, p.values) for p in prompts)
    return len(pcm) / 2 / SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", action="store_true",
                        help="count words instead of synthesising (no espeak-ng needed)")
    args = parser.parse_args()
    practice = demo_practice()
    with tempfile.TemporaryDirectory() as cache:
        composer = None
        if not args.estimate and shutil.which("espeak-ng"):
            composer = PromptComposer(Synthesizer(Path(cache)))
        how = "synthesised" if composer else "estimated"
        print(f"closed message of the demo practice, Friday 20:30 ({how} seconds)")
        print(f"{'language':<10}{'before':>10}{'after':>10}")
        for language in ("fr", "en"):
            old = seconds(before(practice), language, composer)
            new = seconds(closed_message(practice, FRIDAY_EVENING, language), language,
                          composer)
            print(f"{language:<10}{old:>9.1f}s{new:>9.1f}s")
        print("after, fr:", " ".join(text(p, "fr") for p in
                                     closed_message(practice, FRIDAY_EVENING, "fr")))


if __name__ == "__main__":
    main()
