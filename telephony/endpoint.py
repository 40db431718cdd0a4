"""The pjsua2 endpoint of one worker process, on its own SIP thread.

Threading rules (docs/call-interface.md, DESIGN.md): the endpoint is created, polled and
destroyed on one dedicated thread; every pjsua2 call happens there. Other threads post
commands with :meth:`SipEndpoint.post`. pjsua2 callbacks only record and enqueue; the loop
acts on them after ``libHandleEvents`` returns.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pjsua2 as pj

from telephony.call import CallLeg, SipCall, request_uri_user, uri_user
from telephony.session import CallInfo, CallSession

log = logging.getLogger(__name__)

HandlerFactory = Callable[[CallSession], None]
#: codecs offered and accepted, best first; every other codec is disabled
CODECS = ("PCMA/8000/1", "PCMU/8000/1", "G722/16000/1")
#: how long a call's audio port stays referenced after the call ended
PORT_RETIRE_SECONDS = 2.0


@dataclass
class WorkerConfig:
    """Settings of one worker (see ``python -m telephony.worker --help``)."""

    port: int
    host: str = "127.0.0.1"
    tcp: bool = True
    accept_users: frozenset[str] = frozenset()  # empty: any user
    allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8")]
    )
    max_calls: int = 4
    rtp_port: int = 0  # 0: derived from the SIP port
    rtp_timeout: float = 30.0
    retry_after: int = 5
    ring_seconds: float = 0.0  # ring (180) this long before answering
    pjsip_log_level: int = 1

    @property
    def effective_rtp_port(self) -> int:
        return self.rtp_port or 20000 + (self.port % 2000) * 10


class AnsweringAccount(pj.Account):
    """Direct-mode account: every INVITE becomes a ``SipCall`` and an 'incoming' event."""

    def __init__(self, post: Callable[..., None], registry: dict[int, SipCall]) -> None:
        super().__init__()
        self._post = post
        self._registry = registry

    def onIncomingCall(self, prm) -> None:
        try:
            call = SipCall(self, prm.callId, self._post, self._registry)
            self._post(
                "incoming", call.key, request_uri_user(prm.rdata.wholeMsg), prm.rdata.srcAddress
            )
        except Exception:
            log.error("incoming call could not be taken: %s", traceback.format_exc(limit=2))


class SipEndpoint:
    """Runs the pjsua2 endpoint, answers calls and hands each to a handler thread."""

    def __init__(self, config: WorkerConfig, handler: HandlerFactory) -> None:
        self.config = config
        self.handler = handler
        self.draining = False
        self.calls_answered = 0
        self.calls_refused = 0
        self._events: deque[tuple[Any, ...]] = deque()
        self._commands: queue.SimpleQueue[tuple[Callable[..., Any], tuple, Future]] = (
            queue.SimpleQueue()
        )
        self._calls: dict[int, SipCall] = {}  # the only lasting references to pjsua2 calls
        self._legs: dict[int, CallLeg] = {}  # by SipCall.key
        self._retired_ports: list[tuple[float, Any]] = []  # (delete after, port)
        self._to_answer: list[tuple[float, CallLeg]] = []  # (answer at, leg), while ringing
        self._handlers: set[threading.Thread] = set()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sip", daemon=True)
        self._ep: pj.Endpoint | None = None
        self._account: AnsweringAccount | None = None

    # -- any thread ------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        """Start the SIP thread; returns once the transports listen (raises if they cannot)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("SIP endpoint did not start in time")
        if self._start_error is not None:
            raise self._start_error

    def post(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on the SIP thread; the future holds its result."""
        future: Future = Future()
        self._commands.put((fn, args, future))
        return future

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        """Run ``fn(*args)`` on the SIP thread and wait for its result."""
        return self.post(fn, *args).result(timeout)

    def live_calls(self) -> int:
        return len(self._legs)

    def drain(self) -> None:
        """Refuse new calls (503 + Retry-After) and let live ones go on."""
        self.draining = True

    def stop(self, timeout: float = 10.0) -> None:
        """Hang up every call, wait for them to end, and destroy the endpoint."""
        self._stop.set()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- callbacks' queue (SIP thread) ---------------------------------------------------------
    def _enqueue(self, *event: Any) -> None:
        self._events.append(event)

    def start_handler(self, session: CallSession) -> None:
        thread = threading.Thread(
            target=self._run_handler, args=(session,), name=f"call-{session.call_id[:8]}",
            daemon=True,
        )
        self._handlers.add(thread)
        thread.start()

    def _run_handler(self, session: CallSession) -> None:
        try:
            self.handler(session)
        except Exception as exc:
            if not session.ended or type(exc).__name__ != "CallEnded":
                where = "".join(traceback.format_tb(exc.__traceback__))
                log.error("call %s: handler failed with %s\n%s",
                          session.call_id, type(exc).__name__, where)
        finally:
            session.stop_recording()
            session.hangup()
            self._handlers.discard(threading.current_thread())

    # -- the SIP thread --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._create()
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            self._destroy()
            return
        self._ready.set()
        next_check = time.monotonic() + 1.0
        try:
            while not self._stop.is_set():
                self._ep.libHandleEvents(10)
                self._process()
                now = time.monotonic()
                if self._to_answer:
                    self._answer_due(now)
                if now >= next_check:
                    next_check = now + 1.0
                    for leg in list(self._legs.values()):
                        leg.check_rtp(now, self.config.rtp_timeout)
                    self._delete_retired_ports(now)
        finally:
            self._shutdown()

    def _create(self) -> None:
        cfg = self.config
        ep = pj.Endpoint()
        self._ep = ep
        ep.libCreate()
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = True
        ep_cfg.uaConfig.maxCalls = cfg.max_calls
        ep_cfg.uaConfig.userAgent = "Telesec"
        ep_cfg.logConfig.level = cfg.pjsip_log_level
        ep_cfg.logConfig.consoleLevel = cfg.pjsip_log_level
        ep_cfg.logConfig.msgLogging = 0  # SIP messages carry phone numbers: never log them
        med = ep_cfg.medConfig
        med.clockRate = 16000
        med.sndClockRate = 16000
        med.channelCount = 1
        med.audioFramePtime = 20
        med.ecTailLen = 0
        med.noVad = True
        med.threadCnt = 1
        ep.libInit(ep_cfg)
        ep.audDevManager().setNullDev()
        self._set_codecs(ep)
        udp = pj.TransportConfig()
        udp.boundAddress = cfg.host
        udp.port = cfg.port
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, udp)
        if cfg.tcp:
            tcp = pj.TransportConfig()
            tcp.boundAddress = cfg.host
            tcp.port = cfg.port
            ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tcp)
        ep.libStart()
        acc_cfg = pj.AccountConfig()
        acc_cfg.idUri = f"sip:telesec@{cfg.host}:{cfg.port}"
        acc_cfg.mediaConfig.transportConfig.boundAddress = cfg.host
        acc_cfg.mediaConfig.transportConfig.port = cfg.effective_rtp_port
        acc_cfg.mediaConfig.transportConfig.portRange = 200
        self._account = AnsweringAccount(self._enqueue, self._calls)
        self._account.create(acc_cfg, True)

    @staticmethod
    def _set_codecs(ep: pj.Endpoint) -> None:
        for codec in ep.codecEnum2():
            ep.codecSetPriority(codec.codecId, 0)
        for rank, codec_id in enumerate(CODECS):
            ep.codecSetPriority(codec_id, 200 - rank)

    def _process(self) -> None:
        while self._events:
            kind, key, *args = self._events.popleft()
            try:
                getattr(self, f"_on_{kind}")(key, *args)
            except pj.Error as exc:
                log.warning("SIP event %s failed: %s", kind, exc.status)
        while True:
            try:
                fn, args, future = self._commands.get_nowait()
            except queue.Empty:
                break
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

    def sip_call(self, key: int) -> SipCall | None:
        return self._calls.get(key)

    def _on_incoming(self, key: int, dialled: str, source: str) -> None:
        call = self._calls.get(key)
        if call is None:  # already gone (cancelled within the same poll)
            return
        try:
            info = call.getInfo()
        except pj.Error:
            return
        leg = CallLeg(
            self,
            call,
            CallInfo(
                call_id=info.callIdString,
                caller=uri_user(info.remoteUri),
                dialled=dialled,
                source=source,
            ),
        )
        self._legs[key] = leg
        refusal = self._refusal(dialled, source)
        if refusal is not None:
            self.calls_refused += 1
            leg.reject(*refusal)
            return
        self.calls_answered += 1
        if self.config.ring_seconds > 0:
            leg.answer(ringing=True)
            self._to_answer.append((time.monotonic() + self.config.ring_seconds, leg))
        else:
            leg.answer()

    def _answer_due(self, now: float) -> None:
        due = [leg for when, leg in self._to_answer if when <= now]
        self._to_answer = [(when, leg) for when, leg in self._to_answer if when > now]
        for leg in due:
            if not leg.disconnected:
                leg.answer()

    def _refusal(self, dialled: str, source: str) -> tuple[int, str, int] | None:
        cfg = self.config
        if self.draining:
            return 503, "Shutting Down", cfg.retry_after
        host = source.rsplit(":", 1)[0].strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return 403, "Forbidden", 0
        if not any(address in network for network in cfg.allowed_networks):
            return 403, "Forbidden", 0
        if cfg.accept_users and dialled not in cfg.accept_users:
            return 404, "Not Found", 0
        accepted = sum(1 for leg in self._legs.values() if not leg.end_reason) - 1
        if accepted >= cfg.max_calls:
            return 486, "Busy Here", cfg.retry_after
        return None

    def _on_state(self, key: int, state: int, status_code: int, reason: str) -> None:
        leg = self._legs.get(key)
        if leg is None:
            return
        leg.on_state(state, status_code, reason)
        if leg.disconnected:
            del self._legs[key]
            self._retire(leg.release())

    def _retire(self, port: Any) -> None:
        if port is not None:
            self._retired_ports.append((time.monotonic() + PORT_RETIRE_SECONDS, port))

    def _delete_retired_ports(self, now: float) -> None:
        while self._retired_ports and self._retired_ports[0][0] <= now:
            _when, port = self._retired_ports.pop(0)
            del port  # the C++ destructor removes it from the bridge, on this thread

    def _on_media(self, key: int) -> None:
        leg = self._legs.get(key)
        if leg is not None:
            leg.on_media()

    def _on_xfer(self, key: int, status_code: int, final: bool) -> None:
        leg = self._legs.get(key)
        if leg is not None:
            leg.on_transfer_status(status_code, final)

    # -- shutdown (SIP thread) -------------------------------------------------------------------
    def _shutdown(self) -> None:
        ep = self._ep
        if ep is None:
            return
        if self._legs:
            log.info("hanging up %d live call(s)", len(self._legs))
            for leg in list(self._legs.values()):
                leg.end_reason = leg.end_reason or "engine shutdown"
            with contextlib.suppress(pj.Error):
                ep.hangupAllCalls()
            deadline = time.monotonic() + 5.0
            while self._legs and time.monotonic() < deadline:
                ep.libHandleEvents(20)
                self._process()
        for leg in list(self._legs.values()):
            if leg.session is not None:
                leg.session.mark_ended("engine shutdown")
            self._retire(leg.release())
        self._legs.clear()
        self._to_answer.clear()
        self._calls.clear()  # pjsua2 Call objects must be gone before libDestroy
        if self._retired_ports:
            self._retired_ports.clear()
            for _ in range(10):  # let the bridge clock process the port removals
                ep.libHandleEvents(20)
        self._events.clear()
        # fail whatever was posted after the loop ended
        while True:
            try:
                _fn, _args, future = self._commands.get_nowait()
            except queue.Empty:
                break
            future.cancel()
        self._destroy()

    def _destroy(self) -> None:
        ep = self._ep
        if ep is None:
            return
        account, self._account = self._account, None
        if account is not None:
            with contextlib.suppress(pj.Error):
                account.shutdown()
            del account
        with contextlib.suppress(pj.Error):
            ep.libDestroy()
        self._ep = None
