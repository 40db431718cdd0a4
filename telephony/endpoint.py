"""The pjsua2 endpoint of one worker process, on its own SIP thread.

Threading rules (docs/call-interface.md): the endpoint is created, polled and
destroyed on one dedicated thread; every pjsua2 call happens there. Other threads post
commands with :meth:`SipEndpoint.post`. pjsua2 callbacks only record and enqueue; the loop
acts on them after ``libHandleEvents`` returns.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pjsua2 as pj

from telephony.admission import refusal
from telephony.media import CallAudioPort, CallerAudioTap
from telephony.pjsip_log import log_writer, quiet_until_configured
from telephony.pjsua_callbacks import AnsweringAccount, TelesecEndpoint
from telephony.pjsua_config import (
    account_config,
    endpoint_config,
    registered_account_config,
    set_codecs,
    tls_transport_config,
    transport_config,
)
from telephony.port_pool import AudioPortPool
from telephony.session import BridgeResult, CallInfo, CallSession
from telephony.sip_call import CallLeg, SipCall
from telephony.sip_messages import call_param
from telephony.transfer import BOX_PREFIX, BridgedTransfer, OutboundLeg
from telephony.worker_config import PJSUA_MAX_CALLS, RegistrationStatus, WorkerConfig

log = logging.getLogger(__name__)

HandlerFactory = Callable[[CallSession], None]
BUSY_POLL_MS = 20  # SIP thread poll while any call is up
IDLE_POLL_MS = 100  # with none: the INVITE wakes the poll anyway


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
        self._outbound: dict[int, OutboundLeg] = {}  # bridge targets dialled, by key
        self._bridges: list[BridgedTransfer] = []
        self.registration = RegistrationStatus() if config.registration else None
        self.tls_connections = 0
        self._ports = AudioPortPool(config.clock_rate)  # the calls' audio ports (SIP thread)
        self._to_answer: list[tuple[float, CallLeg]] = []  # (answer at, leg), while ringing
        self._handlers: set[threading.Thread] = set()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sip", daemon=True)
        self._ep: pj.Endpoint | None = None
        self._account: AnsweringAccount | None = None
        self._registered_account: AnsweringAccount | None = None

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
        """Calls in progress, in and out."""
        return len(self._legs) + len(self._outbound)

    def drain(self) -> None:
        """Refuse new calls (503 + Retry-After), unregister, and let live ones go on."""
        self.draining = True
        if self.config.registration is not None:
            self.post(self._unregister)

    def _unregister(self) -> None:
        account = self._registered_account
        if account is not None:
            with contextlib.suppress(pj.Error):
                account.setRegistration(False)

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
                self._ep.libHandleEvents(self._poll_ms())
                self._process()
                now = time.monotonic()
                if self._to_answer:
                    self._answer_due(now)
                if self._bridges:
                    self._tick_bridges(now)
                if now >= next_check:
                    next_check = now + 1.0
                    for leg in list(self._legs.values()):
                        leg.check_rtp(now, self.config.rtp_timeout)
        finally:
            self._shutdown()

    def _poll_ms(self) -> int:
        """How long one poll may block: short while calls are up, long when idle.

        With calls, pjsua2 callbacks posted from its media thread (a key pressed) wait for
        the poll to return, so it stays short: 20 ms, half a bridge frame (10 ms cost ~0.5 %
        of a core more per busy worker for no key-to-prompt gain). An idle worker is woken
        by the INVITE's own packet; polling it every 10 ms would cost ~1 % of a core.
        """
        if self._calls or self._to_answer or self._bridges or not self._commands.empty():
            return BUSY_POLL_MS
        return IDLE_POLL_MS

    def _create(self) -> None:
        cfg = self.config
        ep = TelesecEndpoint(self._enqueue)
        self._ep = ep
        quiet_until_configured(cfg.pjsip_log_level)
        ep.libCreate()
        ep_cfg = endpoint_config(cfg)
        ep_cfg.logConfig.writer = log_writer()  # pjsip's lines go to the `pjsip` logger
        ep.libInit(ep_cfg)
        ep.audDevManager().setNullDev()
        set_codecs(ep)
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport_config(cfg.host, cfg.port))
        if cfg.tcp:
            ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, transport_config(cfg.host, cfg.port))
        if cfg.tls is not None:
            ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tls_transport_config(cfg))
        ep.libStart()
        self._account = AnsweringAccount(self._enqueue, self._calls, config=cfg)
        self._account.create(account_config(cfg, f"sip:telesec@{cfg.host}:{cfg.port}"), True)
        if cfg.registration is not None:
            self._registered_account = AnsweringAccount(
                self._enqueue, self._calls, self.registration, config=cfg
            )
            self._registered_account.create(registered_account_config(cfg, cfg.registration))

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
                # The waiter gets the exception on its own thread: clear the finished
                # frames' locals here, so that no pjsua2 object (a Call in a local) lives
                # on in the traceback and is deleted later on another thread.
                traceback.clear_frames(exc.__traceback__)
                future.set_exception(exc)

    def sip_call(self, key: int) -> SipCall | None:
        return self._calls.get(key)

    @property
    def sample_rate(self) -> int:
        """The conference bridge's rate (the calls' prompts and recordings are at it)."""
        return self.config.clock_rate

    def _on_incoming(self, key: int, dialled: str, source: str, transport: str,
                     caller: str = "") -> None:
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
                caller=caller,
                dialled=dialled,
                source=source,
                transport=transport,
            ),
        )
        self._legs[key] = leg
        refused = refusal(
            self.config, dialled=dialled, source=source, draining=self.draining,
            calls_taken=sum(1 for leg in self._legs.values() if not leg.end_reason) - 1,
            lines_in_use=self.live_calls(),
        )
        if refused is not None:
            self.calls_refused += 1
            leg.reject(refused.status_code, refused.reason, refused.retry_after)
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

    def _on_state(self, key: int, state: int, status_code: int, reason: str) -> None:
        outbound = self._outbound.get(key)
        if outbound is not None:
            outbound.bridge.on_leg_state(outbound, state, status_code)
            if state == pj.PJSIP_INV_STATE_DISCONNECTED:
                del self._outbound[key]
            return
        leg = self._legs.get(key)
        if leg is None:
            return
        leg.on_state(state, status_code, reason)
        if leg.disconnected:
            del self._legs[key]
            self._retire(leg.release())

    def audio_port(self, tap: CallerAudioTap) -> CallAudioPort:
        """A bridge port for a call's audio, from the pool (SIP thread)."""
        return self._ports.acquire(tap, time.monotonic())

    def release_port(self, port: CallAudioPort) -> None:
        """Give a port from :meth:`audio_port` back to the pool (SIP thread)."""
        self._retire(port)

    def _retire(self, port: CallAudioPort | None) -> None:
        if port is not None:
            self._ports.release(port, time.monotonic())

    def _on_media(self, key: int) -> None:
        outbound = self._outbound.get(key)
        if outbound is not None:
            outbound.bridge.on_leg_media(outbound)
            return
        leg = self._legs.get(key)
        if leg is not None:
            leg.on_media()

    def _on_reg(self, _key: int, code: int, expires: int) -> None:
        status = self.registration
        if status is None:
            return
        status.last_code = code
        if 200 <= code < 300 and expires > 0:
            status.registered, status.expires = True, expires
            status.successes += 1
            log.info("registered (expires in %d s; %d registration(s) so far)",
                     expires, status.successes)
        elif 200 <= code < 300:
            status.registered = False
            log.info("unregistered")
        else:
            status.registered = False
            status.failures += 1
            log.warning("registration refused or failed: %d", code)

    def _on_tls(self, _key: int, cipher: str, _remote: str) -> None:
        self.tls_connections += 1
        log.info("TLS connection established (cipher %s)", cipher)

    # -- bridged transfer (SIP thread) -----------------------------------------------------
    def free_lines(self) -> int:
        """Calls this process may still place or take (pjsua2's compiled limit is 4)."""
        return PJSUA_MAX_CALLS - self.live_calls()

    def start_bridge(
        self, patient: CallLeg, targets: list[str], ring_seconds: float,
        future: Future[BridgeResult],
    ) -> None:
        BridgedTransfer(self, patient, targets, ring_seconds, future).start()

    def add_bridge(self, bridge: BridgedTransfer) -> None:
        self._bridges.append(bridge)

    def dial(self, target: str, bridge: BridgedTransfer) -> OutboundLeg:
        """Place a call to ``target`` for ``bridge``; raises pj.Error if it cannot start."""
        account = self._account
        assert account is not None
        call = SipCall(account, pj.PJSUA_INVALID_ID, self._enqueue, self._calls)
        # the caller's Call-ID: a console softphone finds the call's card with it
        prm = call_param(headers={CALL_HEADER: bridge.patient.info.call_id})
        uri = dial_uri(target, self.config.outbound_proxy)
        practice = bridge.patient.info.dialled
        if self.config.outbound_proxy and practice:
            # the front presents the practice's number to whoever is rung
            prm.txOption.localUri = f"sip:{practice}@{self.config.host}:{self.config.port}"
        try:
            call.makeCall(uri, prm)
        except pj.Error:
            self._calls.pop(call.key, None)
            raise
        leg = OutboundLeg(self, call.key, target, bridge)
        self._outbound[call.key] = leg
        call.on_refer = lambda uri, leg=leg: self._refer(leg, uri)
        return leg

    def _refer(self, leg: OutboundLeg, uri: str) -> SipCall | None:
        """The answerer of a bridged transfer passes the caller on (blind transfer by
        REFER): the new call pjsua2 places to ``uri``, tied to the same bridge; None
        refuses (603). Numbers are refused: a transfer goes to a colleague's desk or
        phone, or a doctor's box, never out through the trunk."""
        bridge = leg.bridge
        user = uri.strip("<>").split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]
        box = user[len(BOX_PREFIX):] if user.startswith(BOX_PREFIX) else ""
        if (bridge.winner is not leg or bridge.transfer is not None or not user
                or bridge.voicemail or (user.startswith(BOX_PREFIX) and not box)
                or user.lstrip("+").isdigit() or self.free_lines() <= 0):
            return None
        account = self._account
        assert account is not None
        call = SipCall(account, pj.PJSUA_INVALID_ID, self._enqueue, self._calls)
        new_leg = OutboundLeg(self, call.key, uri, bridge)
        self._outbound[call.key] = new_leg
        if box:
            # pjsua places a call for any accepted REFER: that one is dropped; the
            # caller goes back to the flow for the doctor's voicemail
            bridge.to_voicemail(new_leg, box)
            return call
        call.on_refer = lambda target, new_leg=new_leg: self._refer(new_leg, target)
        bridge.transfer_to(new_leg)
        log.info("call %s: transfer asked by the answerer", bridge.patient.info.call_id)
        return call

    def _tick_bridges(self, now: float) -> None:
        for bridge in self._bridges:
            bridge.tick(now)
        self._bridges = [b for b in self._bridges if b.active]

    def _on_xfer(self, key: int, status_code: int, final: bool) -> None:
        leg = self._legs.get(key)
        if leg is not None:
            leg.on_transfer_status(status_code, final)

    # -- shutdown (SIP thread) -------------------------------------------------------------------
    def _shutdown(self) -> None:
        ep = self._ep
        if ep is None:
            return
        if self._legs or self._outbound:
            log.info("hanging up %d live call(s)", self.live_calls())
            for leg in list(self._legs.values()):
                leg.end_reason = leg.end_reason or "engine shutdown"
            with contextlib.suppress(pj.Error):
                ep.hangupAllCalls()
            deadline = time.monotonic() + 5.0
            while (self._legs or self._outbound) and time.monotonic() < deadline:
                ep.libHandleEvents(20)
                self._process()
        for leg in list(self._legs.values()):
            if leg.session is not None:
                leg.session.mark_ended("engine shutdown")
            self._retire(leg.release())
        self._legs.clear()
        self._outbound.clear()
        self._bridges.clear()
        self._to_answer.clear()
        self._calls.clear()  # pjsua2 Call objects must be gone before libDestroy
        self._ports.detach_all()
        with contextlib.suppress(pj.Error):
            # stop the media clock (joins its thread): from here no port callback runs,
            # and libDestroy removes the pool's ports from the bridge while they exist
            ep.audDevManager().setNoDev()
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
        accounts = [self._registered_account, self._account]
        self._registered_account = self._account = None
        for account in accounts:
            if account is not None:
                with contextlib.suppress(pj.Error):
                    account.shutdown()  # a registered account unregisters first
        del accounts
        with contextlib.suppress(pj.Error):
            ep.libDestroy()
        self._ports.abandon()
        self._ep = None


#: Header of a bridged transfer's outgoing call naming the caller's call (its SIP Call-ID)
CALL_HEADER = "X-Telesec-Call"


def dial_uri(target: str, outbound_proxy: str) -> str:
    """The request URI to dial ``target`` with: behind a front, numbers (``tel:+33…``,
    ``+33…``) and bare names (``sip:alice``, a secretary's registered phone) are the
    front's to route; a full SIP address is dialled as it is."""
    if not outbound_proxy:
        return target
    front = outbound_proxy.split(":", 1)[1].split(";", 1)[0]
    lowered = target.lower()
    if lowered.startswith("tel:"):
        return f"sip:{target[4:].split(';', 1)[0]}@{front}"
    if not lowered.startswith(("sip:", "sips:")):
        return f"sip:{target}@{front}"
    if "@" not in target:
        return f"sip:{target.split(':', 1)[1]}@{front}"
    return target
