"""Keys pressed by the caller (RFC 4733 or SIP INFO), buffered until the IVR collects them."""

from __future__ import annotations

import threading
import time
from collections import deque

VALID_DIGITS = frozenset("0123456789*#ABCD")
#: keys kept when nobody collects them (an endless DTMF stream must not grow memory)
MAX_BUFFERED_DIGITS = 64


class DigitBuffer:
    """Type-ahead buffer of keys; ``collect`` waits for enough keys, a terminator or a timeout."""

    def __init__(self) -> None:
        self._digits: deque[str] = deque(maxlen=MAX_BUFFERED_DIGITS)
        self._changed = threading.Condition()
        self._closed = False
        self.received = 0
        self.last_key_at = 0.0  # time.monotonic() of the last key received

    def push(self, digit: str) -> bool:
        """Add one key (SIP thread); returns False for anything that is not a DTMF key."""
        digit = digit.upper()
        if digit not in VALID_DIGITS:
            return False
        with self._changed:
            self._digits.append(digit)
            self.received += 1
            self.last_key_at = time.monotonic()
            self._changed.notify_all()
        return True

    def close(self) -> None:
        """Wake every waiter for good (the call ended)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def clear(self) -> None:
        with self._changed:
            self._digits.clear()

    def pending(self) -> int:
        return len(self._digits)

    def collect(
        self,
        max_digits: int,
        timeout: float,
        terminator: str | None = "#",
        inter_digit_timeout: float | None = None,
    ) -> tuple[str, bool]:
        """Take up to ``max_digits`` keys; returns (digits, terminated_by_terminator).

        ``timeout`` bounds the wait for the first key, ``inter_digit_timeout`` (default:
        ``timeout``) the wait for each next one. Returns early when the buffer is closed.
        """
        gap = timeout if inter_digit_timeout is None else inter_digit_timeout
        collected: list[str] = []
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(collected) < max_digits:
                if self._digits:
                    digit = self._digits.popleft()
                    if terminator and digit in terminator:
                        return "".join(collected), True
                    collected.append(digit)
                    deadline = time.monotonic() + gap
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    break
                self._changed.wait(remaining)
        return "".join(collected), False
