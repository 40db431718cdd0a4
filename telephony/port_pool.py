"""The process's call audio ports: created on demand, reused, never deleted while media flows.

Why a pool rather than one port per call: pjmedia's clock thread calls a port's
``onFrameReceived`` / ``onFrameRequested`` on every tick for as long as the port is in
the conference bridge, even when nothing is connected to it (heart-beat frames), and in
PJSIP 2.15 ``~AudioMediaPort`` only *queues* the port's removal. Deleting the Python
wrapper of a port therefore always races the clock: the wrapper's ``__dict__`` is
torn down, then the C++ destructor runs with the GIL released, and the clock thread
re-enters the dying wrapper (seen as ``'CallAudioPort' object has no attribute 'tap'``,
then heap corruption found later by the garbage collector: the worker segfaulted under
load). So ports are never deleted while the clock runs: a call takes a port from here and
gives it back when it ends; the port then rests (detached, playing silence) for a while
before the next call may take it, so that no late frame of one caller reaches the next.
At shutdown the endpoint stops the media clock, destroys the library (which removes the
ports from the bridge while they still exist), then :meth:`AudioPortPool.abandon` lets the
wrappers go without their C++ destructor, which would call into the destroyed library.

SIP thread only.
"""

from __future__ import annotations

import itertools
from collections import deque

from telephony.media import CLOCK_THREAD, CallAudioPort, CallerAudioTap, engine_audio_format

#: how long a port given back rests before another call may take it
PORT_REST_SECONDS = 2.0


class AudioPortPool:
    """Owns every :class:`CallAudioPort` of the process (use it on the SIP thread only)."""

    def __init__(self, rate: int = 16000, rest_seconds: float = PORT_REST_SECONDS) -> None:
        self.rate = rate  # the bridge's: ports at its rate are never resampled
        self.rest_seconds = rest_seconds
        self._ports: list[CallAudioPort] = []  # every port ever created: the owning refs
        self._free: list[CallAudioPort] = []
        self._resting: deque[tuple[float, CallAudioPort]] = deque()  # (free again at, port)
        self._names = itertools.count(1)

    def __len__(self) -> int:
        return len(self._ports)

    @property
    def in_use(self) -> int:
        """Ports attached to a call now."""
        return len(self._ports) - len(self._free) - len(self._resting)

    def acquire(self, tap: CallerAudioTap, now: float) -> CallAudioPort:
        """A port in the bridge, attached to ``tap`` (created if none is free)."""
        while self._resting and self._resting[0][0] <= now:
            self._free.append(self._resting.popleft()[1])
        if self._free:
            port = self._free.pop()
        else:
            port = CallAudioPort(self.rate)
            port.createPort(f"call-port-{next(self._names)}", engine_audio_format(self.rate))
            self._ports.append(port)
        port.attach(tap)
        CLOCK_THREAD.wanted = True
        return port

    def release(self, port: CallAudioPort, now: float) -> None:
        """Give a port back at the end of its call: detached at once, free after a rest."""
        port.detach()
        self._resting.append((now + self.rest_seconds, port))
        CLOCK_THREAD.wanted = self.in_use > 0

    def detach_all(self) -> None:
        """Detach every port from its call (shutdown: no frame reaches a session after this)."""
        for port in self._ports:
            port.detach()
        CLOCK_THREAD.wanted = False

    def abandon(self) -> None:
        """After ``libDestroy``: drop the wrappers without running the C++ destructors.

        The destroyed conference bridge already removed the ports; ``~AudioMediaPort``
        would call ``pjsua_conf_remove_port`` on the destroyed library. The few C++ objects
        (at most one per call that was live at once, plus resting ones) go with the process.
        """
        for port in self._ports:
            port.detach()
            port.thisown = False
        self._ports.clear()
        self._free.clear()
        self._resting.clear()
