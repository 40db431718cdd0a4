"""How the long benchmarks start and stop: warnings-only logging, Ctrl-C or SIGTERM stops
everything they started (their ``run`` cleans up in ``finally``, under :func:`signals_held`)
and exits 130, a known error is one line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator


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


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then interrupt (KeyboardInterrupt).

    For a run's cleanup: a signal arriving while it stops the pool would otherwise cut the
    stop short and leave its processes running (main thread only).
    """
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: held.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held:
        raise KeyboardInterrupt
