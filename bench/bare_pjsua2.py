"""A bare pjsua2 answering program: the baseline of bench/ratios.py.

    python bench/bare_pjsua2.py --port 5070 [--rtp-port 40000] [--host 127.0.0.1]
                                [--narrowband] [--bridged]

One ``pjsua2.Endpoint`` with the null audio device and a UDP transport. Every INVITE is
answered with 200 and its audio is connected to nothing (``--bridged``: to the null sound
device's port, both ways, so that the bridge decodes, mixes and encodes every call as a
worker's does); a BYE ends the call (pjsua answers it). Nothing else: no handler thread, no
audio port of its own, no recording, no database.

The endpoint is set up like a Telesec worker's (``telephony.pjsua_config``: media clock 16 kHz,
or 8 kHz and G.711 only with ``--narrowband``,
40 ms bridge frames, no VAD, no echo canceller, one media thread, PCMA/PCMU/G722 only, the
SIP thread polling ``libHandleEvents`` from Python, 20 ms with calls, 100 ms idle), so
that the difference with a worker is the engine's own work, not a configuration choice.
The worker's threading rules hold (docs/call-interface.md, "Threads inside a worker"): the
endpoint is created, polled and destroyed on one SIP thread; callbacks only enqueue.

Prints ``READY port=<n>`` on stdout once it listens (pjsip's own log goes to stderr), and
``answered=<n>`` on stderr when it stops. SIGTERM or SIGINT: hang up every call, wait for
them to end, shut down cleanly, exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections import deque

import pjsua2 as pj

CODECS = ("PCMA/8000/1", "PCMU/8000/1", "G722/16000/1")  # as telephony.pjsua_config
MAX_CALLS = 4  # the PyPI wheel's PJSUA_MAX_CALLS


class BareCall(pj.Call):
    """A call that only reports its end."""

    def __init__(self, account: pj.Account, call_id: int, events: deque) -> None:
        super().__init__(account, call_id)
        self.key = call_id
        self._events = events

    def onCallState(self, prm) -> None:
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._events.append(("gone", self.key))

    def onCallMediaState(self, prm) -> None:
        self._events.append(("media", self.key))


class BareAccount(pj.Account):
    """An account that turns each INVITE into a call waiting to be answered."""

    def __init__(self, events: deque) -> None:
        super().__init__()
        self._events = events

    def onIncomingCall(self, prm) -> None:
        self._events.append(("incoming", BareCall(self, prm.callId, self._events)))


class BareAnswerer:
    """The SIP thread: creates the endpoint, answers calls, destroys the endpoint."""

    def __init__(self, host: str, port: int, rtp_port: int, *, narrowband: bool = False,
                 bridged: bool = False) -> None:
        self.host, self.port, self.rtp_port = host, port, rtp_port
        self.rate = 8000 if narrowband else 16000
        self.bridged = bridged
        self.answered = 0
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._events: deque = deque()
        self._calls: dict[int, BareCall] = {}  # the only references to pjsua2 calls
        self._ep: pj.Endpoint | None = None
        self._account: BareAccount | None = None
        self.thread = threading.Thread(target=self._run, name="sip", daemon=True)

    def _run(self) -> None:
        try:
            self._create()
        except BaseException as exc:
            self.error = exc
            self.ready.set()
            self._destroy()
            return
        self.ready.set()
        try:
            while not self.stop.is_set():
                # as telephony.endpoint: 20 ms with calls up, 100 ms idle
                self._ep.libHandleEvents(20 if self._calls else 100)
                self._process()
        finally:
            self._shutdown()

    def _create(self) -> None:
        ep = pj.Endpoint()
        self._ep = ep
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        cfg.logConfig.msgLogging = 0
        med = cfg.medConfig
        med.clockRate = self.rate
        med.quality = 4  # as telephony.pjsua_config (RESAMPLE_QUALITY)
        med.sndClockRate = self.rate
        med.channelCount = 1
        med.audioFramePtime = 40  # as telephony.audio.FRAME_MS
        med.ecTailLen = 0
        med.noVad = True
        med.threadCnt = 1
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        for codec in ep.codecEnum2():
            ep.codecSetPriority(codec.codecId, 0)
        for rank, codec_id in enumerate(CODECS if self.rate == 16000 else CODECS[:2]):
            ep.codecSetPriority(codec_id, 200 - rank)
        udp = pj.TransportConfig()
        udp.boundAddress = self.host
        udp.port = self.port
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, udp)
        ep.libStart()
        acc_cfg = pj.AccountConfig()
        acc_cfg.idUri = f"sip:bare@{self.host}:{self.port}"
        acc_cfg.mediaConfig.transportConfig.boundAddress = self.host
        acc_cfg.mediaConfig.transportConfig.port = self.rtp_port
        acc_cfg.mediaConfig.transportConfig.portRange = 200
        self._account = BareAccount(self._events)
        self._account.create(acc_cfg, True)

    def _process(self) -> None:
        while self._events:
            kind, item = self._events.popleft()
            if kind == "incoming":
                self._answer(item)
            elif kind == "media":
                self._connect(item)
            else:
                self._calls.pop(item, None)

    def _connect(self, key: int) -> None:
        """--bridged: the call's audio to and from the null sound device's bridge port."""
        call = self._calls.get(key)
        if not self.bridged or call is None:
            return
        try:
            audio = call.getAudioMedia(-1)
            devices = self._ep.audDevManager()
            audio.startTransmit(devices.getPlaybackDevMedia())
            devices.getCaptureDevMedia().startTransmit(audio)
        except pj.Error:
            pass  # no active audio (yet): a later media event connects it

    def _answer(self, call: BareCall) -> None:
        self._calls[call.key] = call
        answer = pj.CallOpParam()
        answer.statusCode = 200
        try:
            call.answer(answer)
            self.answered += 1
        except pj.Error:
            pass  # the caller gave up meanwhile: its DISCONNECTED event removes it

    def _shutdown(self) -> None:
        ep = self._ep
        if ep is None:
            return
        if self._calls:
            with contextlib.suppress(pj.Error):
                ep.hangupAllCalls()
            deadline = time.monotonic() + 5.0
            while self._calls and time.monotonic() < deadline:
                ep.libHandleEvents(20)
                self._process()
        self._calls.clear()  # no Call object may outlive libDestroy
        self._events.clear()
        with contextlib.suppress(pj.Error):
            ep.audDevManager().setNoDev()
        self._destroy()

    def _destroy(self) -> None:
        if self._account is not None:
            with contextlib.suppress(pj.Error):
                self._account.shutdown()
            self._account = None
        if self._ep is not None:
            with contextlib.suppress(pj.Error):
                self._ep.libDestroy()
            self._ep = None


def _stop_with_parent() -> None:
    """SIGTERM when the parent dies (Linux), so that a killed benchmark leaves no orphan."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="SIP port (UDP)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rtp-port", type=int, default=0, help="first RTP port (0: any)")
    parser.add_argument("--narrowband", action="store_true",
                        help="bridge at 8 kHz, G.711 only (as telephony.worker --narrowband)")
    parser.add_argument("--bridged", action="store_true",
                        help="connect each call's audio to the bridge (decoded and encoded)")
    args = parser.parse_args(argv)
    answerer = BareAnswerer(args.host, args.port, args.rtp_port,
                            narrowband=args.narrowband, bridged=args.bridged)
    signal.signal(signal.SIGTERM, lambda *_: answerer.stop.set())
    signal.signal(signal.SIGINT, lambda *_: answerer.stop.set())
    _stop_with_parent()
    ready_fd = os.dup(1)  # pjsip prints its log on stdout: send that to stderr
    os.dup2(2, 1)
    answerer.thread.start()
    answerer.ready.wait(15)
    if answerer.error is not None or not answerer.ready.is_set():
        print(f"bare_pjsua2: cannot listen on {args.host}:{args.port} ({answerer.error}); "
              "choose a free port", file=sys.stderr)
        return 2
    os.write(ready_fd, f"READY port={args.port}\n".encode())
    os.close(ready_fd)
    while not answerer.stop.wait(0.5):
        if not answerer.thread.is_alive():
            return 1
    answerer.thread.join(15)
    print(f"answered={answerer.answered}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
