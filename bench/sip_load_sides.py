"""Sides of ``sip_load.py --baseline REV``: this tree and REV's, with and without the VAD.

Each side is one ``sip_load.py`` run of its own (a fresh pool), its code from its tree: the
baseline is REV exported by ``baseline_tree.export`` and run by this tree's venv (the
workers import the tree their script sits in: ``PYTHONPATH``). Sides alternate, in
reverse order every other round, and the figures of each level are gathered in one table
at the end, as each run printed them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
# forwarded to every side except these (and their values)
OWN_OPTIONS = {"--baseline": True, "--rounds": True, "--compare-vad": False, "--vad": False}
ROW = re.compile(r"^\s*(\d+)\s+\d+\s+\d+\s")  # a level's row: calls ok fail ...


@dataclass
class Side:
    label: str
    tree: Path
    vad: bool
    rows: list[tuple[int, str, str]] = field(default_factory=list)  # (round, row, threads)
    results: list[str] = field(default_factory=list)


def forwarded(argv: list[str]) -> list[str]:
    """The command line without the options that choose the sides."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in OWN_OPTIONS:
            skip = OWN_OPTIONS[name] and "=" not in arg
            continue
        out.append(arg)
    return out


def run_sides(args: argparse.Namespace, argv: list[str]) -> int:
    from baseline_tree import export

    baseline = export(args.baseline)
    try:
        return _run_all(args, argv, baseline)
    finally:
        shutil.rmtree(baseline, ignore_errors=True)


def _run_all(args: argparse.Namespace, argv: list[str], baseline: Path) -> int:
    vads = (False, True) if args.compare_vad else (args.vad,)
    sides = [Side(f"{'VAD' if vad else 'no VAD'}, {name}", tree, vad)
             for vad in vads for name, tree in ((args.baseline, baseline), ("this tree", REPO))]
    rest = forwarded(argv)
    worst = 0
    header = ""
    for round_no in range(1, args.rounds + 1):
        order = sides if round_no % 2 else list(reversed(sides))
        for side in order:
            command = [sys.executable, str(side.tree / "bench" / "sip_load.py"), *rest]
            if side.vad:
                command.append("--vad")
            print(f"== round {round_no}: {side.label} ({' '.join(command[1:])})", flush=True)
            code, found = _run(command, side, round_no)
            header, worst = found or header, max(worst, code)
    print("\n== all sides, as each run printed its levels")
    print(f"{'side':<22} {'round':>5} {header}")
    for side in sides:
        for round_no, row, threads in side.rows:
            print(f"{side.label:<22} {round_no:>5} {row}")
            if threads:
                print(f"{'':<28}   {threads}")
    for side in sides:
        for line in side.results:
            print(f"{side.label}: {line}")
    return worst


def _lines(stream: IO[str]) -> Iterator[str]:
    """The child's lines, echoed as they come."""
    for line in stream:
        print(f"   {line}", end="", flush=True)
        yield line.rstrip("\n")


def _run(command: list[str], side: Side, round_no: int) -> tuple[int, str]:
    header = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1) as child:
        assert child.stdout is not None
        try:
            lines = list(_lines(child.stdout))
        except BaseException:  # interrupted: the side stops its own pool on SIGTERM
            child.terminate()
            child.wait(60)
            raise
        for text in lines:
            if text.lstrip().startswith("calls "):
                header = text
            elif ROW.match(text):
                side.rows.append((round_no, text, ""))
            elif "CPU by thread" in text and side.rows and side.rows[-1][0] == round_no:
                row = side.rows[-1]
                side.rows[-1] = (row[0], row[1], text.strip())
            elif text.startswith("RESULT"):
                side.results.append(f"round {round_no}: {text}")
        code = child.wait()
    return code, header
