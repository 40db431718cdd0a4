"""How the long benchmarks start and stop: warnings-only logging, Ctrl-C or SIGTERM stops
everything they started (their ``run`` cleans up in ``finally``) and exits 130, a known
error is one line and exit 2."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable


def main_of(name: str, parse_args: Callable[[], argparse.Namespace],
            run: Callable[[argparse.Namespace], int],
            errors: tuple[type[BaseException], ...]) -> None:
    """Parse the arguments, run, and exit with run's code (130 interrupted, 2 on ``errors``)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args()

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    try:
        code = run(args)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; everything stopped", file=sys.stderr)
        code = 130
    except errors as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)
