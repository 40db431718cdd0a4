"""A benchmark's cleanup finishes even when Ctrl-C or SIGTERM arrives in the middle of it."""

from __future__ import annotations

import os
import signal

import pytest

from bench.interruptible import signals_held


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_cleanup_waits_for_its_end_then_interrupts(sig: int) -> None:
    steps = []
    before = signal.getsignal(signal.SIGINT)  # pytest-xdist's workers ignore it
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        with pytest.raises(KeyboardInterrupt), signals_held():
            steps.append("pool stopping")
            os.kill(os.getpid(), sig)  # the person presses Ctrl-C (again) here
            steps.append("pool stopped")
        assert steps == ["pool stopping", "pool stopped"]
        assert signal.getsignal(signal.SIGINT) is before
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_without_a_signal_the_cleanup_just_ends() -> None:
    before = signal.getsignal(signal.SIGINT)
    with signals_held():
        pass
    assert signal.getsignal(signal.SIGINT) is before
