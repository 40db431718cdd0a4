"""Accuracy of the understanding functions on the phrasing corpus, per category.

    python -m ivr_flows.understanding.report [corpus.yaml ...]

Without arguments it reads tests/understanding/corpus_fr.yaml and corpus_en.yaml.
Prints one row per language and category; with --failures, the phrasings that failed
(those are fictional test phrasings, never real callers' words).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any

from ivr_flows.understanding.dates import parse_birth_date
from ivr_flows.understanding.intents import Intent
from ivr_flows.understanding.numbers import parse_digits, parse_number
from ivr_flows.understanding.spelling import parse_spelled_name
from ivr_flows.understanding.times import parse_time
from ivr_flows.understanding.understand import understand
from ivr_flows.understanding.when import parse_when
from ivr_flows.understanding.yesno import parse_yes_no

DEFAULT_CORPORA = [
    Path(__file__).resolve().parents[2] / "tests" / "understanding" / name
    for name in ("corpus_fr.yaml", "corpus_en.yaml")
]


def _as_time(value: Any) -> time | None:
    if value is None:
        return None
    hours, minutes = str(value).split(":")
    return time(int(hours), int(minutes))


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _check_when(text: str, lang: str, now: datetime, expected: Any) -> bool:
    got = parse_when(text, lang, now)
    if expected is None:
        return got is None
    if got is None:
        return False
    converters: dict[str, Callable[[Any], Any]] = {
        "time": _as_time, "earliest": _as_datetime, "latest": _as_datetime,
    }
    for key, value in expected.items():
        want = converters.get(key, lambda v: v)(value)
        if getattr(got, key) != want:
            return False
    return True


def _intent_name(intent: Intent | None) -> str | None:
    return intent.value if intent is not None else None


def _check(category: str, case: Any, lang: str, now: datetime) -> bool:
    if category == "emergencies":
        result = understand(case, lang, now)
        return result.is_emergency and result.intent is Intent.EMERGENCY
    text, expected = case
    if category == "numbers":
        return parse_number(text, lang) == expected
    if category == "digits":
        return parse_digits(text, lang) == expected
    if category == "birth_dates":
        return parse_birth_date(text, lang, now.date()) == expected
    if category == "when":
        return _check_when(text, lang, now, expected)
    if category == "times":
        return parse_time(text, lang) == _as_time(expected)
    if category == "yes_no":
        return parse_yes_no(text, lang) is expected
    if category == "spelling":
        return parse_spelled_name(text, lang) == expected
    if category in ("intents", "non_emergencies"):
        result = understand(text, lang, now)
        return not result.is_emergency and _intent_name(result.intent) == expected
    raise ValueError(f"unknown corpus category {category!r}")


def _case_text(case: Any) -> str:
    return case if isinstance(case, str) else str(case[0])


@dataclass
class CategoryScore:
    """Passed and total phrasings of one language and category, and the failures."""

    lang: str
    category: str
    passed: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.passed / self.total if self.total else 1.0


def load_corpus(path: Path) -> dict[str, Any]:
    """The YAML corpus as a dict: language, now, cases (category -> list of cases)."""
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def evaluate(paths: list[Path] | None = None) -> list[CategoryScore]:
    """Score every case of the corpora; one CategoryScore per (language, category)."""
    scores: list[CategoryScore] = []
    for path in paths or DEFAULT_CORPORA:
        corpus = load_corpus(path)
        lang = corpus["language"]
        now = _as_datetime(corpus["now"])
        assert now is not None
        for category, cases in corpus["cases"].items():
            score = CategoryScore(lang, category)
            for case in cases:
                score.total += 1
                if _check(category, case, lang, now):
                    score.passed += 1
                else:
                    score.failures.append(_case_text(case))
            scores.append(score)
    return scores


def format_table(scores: list[CategoryScore]) -> str:
    """The per-category table, with a total per language and overall."""
    lines = [f"{'lang':<5}{'category':<18}{'passed':>8}{'total':>7}{'accuracy':>10}"]
    for score in scores:
        lines.append(f"{score.lang:<5}{score.category:<18}{score.passed:>8}{score.total:>7}"
                     f"{score.accuracy:>10.1%}")
    for lang in [*sorted({s.lang for s in scores}), "all"]:
        chosen = [s for s in scores if lang in ("all", s.lang)]
        passed = sum(s.passed for s in chosen)
        total = sum(s.total for s in chosen)
        lines.append(f"{lang:<5}{'TOTAL':<18}{passed:>8}{total:>7}"
                     f"{(passed / total if total else 1):>10.1%}")
    return "\n".join(lines)


def time_understand(paths: list[Path] | None = None, rounds: int = 5) -> str:
    """Per-utterance time of `understand` over the corpus phrasings, as one line."""
    import time as clock

    samples: list[float] = []
    for path in paths or DEFAULT_CORPORA:
        corpus = load_corpus(path)
        now = _as_datetime(corpus["now"])
        texts = [_case_text(case) for cases in corpus["cases"].values() for case in cases]
        for _ in range(rounds):
            for text in texts:
                start = clock.perf_counter()
                understand(text, corpus["language"], now)
                samples.append(clock.perf_counter() - start)
    samples.sort()
    p50, p95 = samples[len(samples) // 2], samples[int(len(samples) * 0.95)]
    return (f"understand(): {len(samples)} calls, p50 {p50 * 1e3:.3f} ms, "
            f"p95 {p95 * 1e3:.3f} ms, max {samples[-1] * 1e3:.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", type=Path)
    parser.add_argument("--failures", action="store_true", help="list failed phrasings")
    parser.add_argument("--timing", action="store_true",
                        help="time understand() on every phrasing (p50, p95, max)")
    args = parser.parse_args(argv)
    scores = evaluate(args.corpora or None)
    print(format_table(scores))
    if args.timing:
        print(time_understand(args.corpora or None))
    if args.failures:
        for score in scores:
            for text in score.failures:
                print(f"FAIL {score.lang} {score.category}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
