"""One call on the SIP side: the pjsua2 ``Call`` subclass and its SIP-thread bookkeeping.

``SipCall`` callbacks only record what happened and enqueue it; ``CallLeg`` acts on it
from the SIP thread's loop (answer, attach the audio port, hang up, transfer). The IVR
never sees these objects: it holds a :class:`telephony.session.CallSession`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

import pjsua2 as pj

from telephony.media import CallAudioPort, CallerAudioTap
from telephony.session import BridgeResult, CallEvent, CallInfo, CallSession, TransferResult
from telephony.sip_messages import call_param
from telephony.transfer import BridgedTransfer

log = logging.getLogger(__name__)

#: media transports that mean SRTP (keys by SDES or DTLS)
_SECURE_PROTOS = frozenset(
    (pj.PJMEDIA_TP_PROTO_RTP_SAVP, pj.PJMEDIA_TP_PROTO_RTP_SAVPF,
     pj.PJMEDIA_TP_PROTO_DTLS_SRTP, pj.PJMEDIA_TP_PROTO_DTLS_SRTPF)
)


_call_keys = itertools.count(1)


class SipCall(pj.Call):
    """pjsua2 call whose callbacks only snapshot state and enqueue it for the SIP loop.

    ``registry`` (key -> SipCall) holds the only lasting reference. Events carry the key,
    never the object: pjsua2's ``Call::~Call`` clears the user data and hangs up *by call
    id*, so a Call object deleted after its id was reused would decline (603) or break the
    new call. Hence the one thing a callback does besides enqueueing: on DISCONNECTED it
    drops the registry's reference, and pjsua2 deletes the object before the id is freed.
    """

    def __init__(
        self,
        account: pj.Account,
        call_id: int,
        post: Callable[..., None],
        registry: dict[int, SipCall],
    ) -> None:
        super().__init__(account, call_id)
        self.key = next(_call_keys)
        self._post = post
        self._registry = registry
        self.leg: CallLeg | None = None
        self.account = account
        #: a bridged transfer's answerer may REFER: target URI -> the new call, or None
        self.on_refer: Callable[[str], SipCall | None] | None = None
        registry[self.key] = self

    # Each callback runs on the SIP thread inside libHandleEvents; they must not raise.
    def onCallState(self, prm) -> None:
        try:
            info = self.getInfo()
            state, code, reason = info.state, info.lastStatusCode, info.lastReason
        except pj.Error:
            state, code, reason = pj.PJSIP_INV_STATE_DISCONNECTED, 0, ""
        self._post("state", self.key, state, code, reason)
        if state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.leg = None
            self._registry.pop(self.key, None)

    def onCallMediaState(self, prm) -> None:
        self._post("media", self.key)

    def onDtmfDigit(self, prm) -> None:
        leg = self.leg
        if leg is not None and leg.session is not None:
            leg.session.dtmf(prm.digit)  # a thread-safe enqueue

    def onCallTransferRequest(self, prm) -> None:
        """A REFER on this call: only a bridged transfer's answerer may pass the caller on
        (``on_refer`` gives the new call, placed by pjsua2); anything else is declined."""
        try:
            hook = self.on_refer
            new_call = hook(prm.dstUri) if hook is not None else None
        except Exception:  # a callback must not raise
            log.exception("transfer request not handled")
            new_call = None
        if new_call is None:
            prm.statusCode = 603
        else:
            prm.newCall = new_call

    def onCallTransferStatus(self, prm) -> None:
        prm.cont = True
        self._post("xfer", self.key, prm.statusCode, prm.finalNotify)


class CallLegHost(Protocol):
    """What a call leg asks of the SIP loop that holds it (``telephony.endpoint.SipEndpoint``)."""

    def sip_call(self, key: int) -> SipCall | None:
        """The pjsua2 call of ``key``, or None once pjsua2 is done with it."""

    @property
    def sample_rate(self) -> int:
        """The conference bridge's rate."""

    def post(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on the SIP thread."""

    def audio_port(self, tap: CallerAudioTap) -> CallAudioPort:
        """A bridge port carrying the call's audio to and from ``tap``."""

    def start_handler(self, session: CallSession) -> None:
        """Run the call handler on ``session`` in a thread of its own."""

    def start_bridge(self, patient: CallLeg, targets: list[str], ring_seconds: float,
                     future: Future[BridgeResult]) -> None:
        """Dial ``targets`` and bridge the first to answer to ``patient``."""


class CallLeg:
    """SIP-thread state of one call; also the session's :class:`CallControl`."""

    def __init__(self, endpoint: CallLegHost, call: SipCall, info: CallInfo) -> None:
        self.endpoint = endpoint
        self.key = call.key
        self.info = info
        self.session: CallSession | None = None
        self.port: CallAudioPort | None = None
        self.audio_slot = -1
        self.audio_index = -1
        self.confirmed = False
        self.disconnected = False
        self.end_reason = ""
        self.rx_packets = -1
        self.rx_changed_at = time.monotonic()
        self.transfer_future: Future[TransferResult] | None = None
        self.bridge: BridgedTransfer | None = None
        call.leg = self

    @property
    def call(self) -> SipCall | None:
        """The pjsua2 call, or None once pjsua2 is done with it (SIP thread only)."""
        return self.endpoint.sip_call(self.key)

    # -- CallControl (any thread) --------------------------------------------------------
    def request_hangup(self) -> None:
        self.endpoint.post(self.hangup, "engine hung up")

    def request_transfer(self, target_uri: str) -> Future[TransferResult]:
        future: Future[TransferResult] = Future()
        self.endpoint.post(self.start_transfer, target_uri, future)
        return future

    def request_bridge(self, targets: list[str], ring_seconds: float) -> Future[BridgeResult]:
        future: Future[BridgeResult] = Future()
        self.endpoint.post(self.endpoint.start_bridge, self, targets, ring_seconds, future)
        return future

    # -- SIP thread ----------------------------------------------------------------------
    def answer(self, ringing: bool = False) -> None:
        """Answer now (200), or just ring (180) when ``ringing``; then ``answer()`` again."""
        call = self.call
        if self.disconnected or call is None:
            return
        if ringing:
            call.answer(call_param(180))
            return
        self.session = CallSession(self.info, self, sample_rate=self.endpoint.sample_rate)
        call.answer(call_param(200))

    def reject(self, status_code: int, reason: str = "", retry_after: int = 0) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        self.end_reason = f"refused {status_code}"
        call = self.call
        if call is not None:
            with contextlib.suppress(pj.Error):
                call.hangup(call_param(status_code, reason, headers))

    def hangup(self, reason: str) -> None:
        call = self.call
        if self.disconnected or call is None:
            return
        self.end_reason = self.end_reason or reason
        with contextlib.suppress(pj.Error):
            call.hangup(call_param())

    def on_media(self) -> None:
        """Connect our audio port to the call's audio (again after a re-INVITE).

        Also notes what the negotiation says: SRTP or not, caller holding us or not.
        """
        call = self.call
        if self.disconnected or self.session is None or call is None:
            return
        info = call.getInfo()
        audio = [(i, m) for i, m in enumerate(info.media) if m.type == pj.PJMEDIA_TYPE_AUDIO]
        if not audio:
            return
        index, media = audio[0]
        self._note_hold(
            media.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD
            or media.dir in (pj.PJMEDIA_DIR_NONE, pj.PJMEDIA_DIR_DECODING)
        )
        if media.status not in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
            self.audio_slot = -1  # no stream now (inactive): reconnect when it comes back
            return
        with contextlib.suppress(pj.Error):
            self.session.media_encrypted = call.getStreamInfo(index).proto in _SECURE_PROTOS
        audio_media = call.getAudioMedia(index)
        slot = audio_media.getPortId()
        if self.port is None:
            self.port = self.endpoint.audio_port(self.session.tap)
        if slot != self.audio_slot:
            audio_media.startTransmit(self.port)
            self.port.startTransmit(audio_media)
            self.audio_slot, self.audio_index = slot, index
        if self.bridge is not None:
            self.bridge.on_patient_media()

    def _note_hold(self, held: bool) -> None:
        session = self.session
        if session is None or session.on_hold == held:
            return
        session.on_hold = held
        self.rx_changed_at = time.monotonic()  # the no-RTP clock restarts either way
        session.post_event(CallEvent("hold" if held else "resume"))
        log.info("call %s: %s", self.info.call_id, "held by the caller" if held else "resumed")

    def on_state(self, state: int, status_code: int, reason: str) -> None:
        if state == pj.PJSIP_INV_STATE_CONFIRMED and not self.confirmed:
            self.confirmed = True
            self.rx_changed_at = time.monotonic()
            if self.session is not None:
                self.endpoint.start_handler(self.session)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            why = self.end_reason or ("caller hung up" if self.confirmed else "caller cancelled")
            self.end_reason = why
            if self.transfer_future is not None and not self.transfer_future.done():
                self.transfer_future.set_result(TransferResult(False, status_code, why))
            if self.bridge is not None:
                self.bridge.on_patient_ended()
            if self.session is not None:
                self.session.mark_ended(why)

    def release(self) -> CallAudioPort | None:
        """Drop the call (SIP thread, after DISCONNECTED); returns its audio port, which
        goes back to the endpoint's pool (ports are never deleted while media flows)."""
        port, self.port = self.port, None
        return port

    def check_rtp(self, now: float, timeout: float) -> None:
        """Hang up when no RTP arrived for ``timeout`` seconds (called periodically)."""
        call = self.call
        if not self.confirmed or self.disconnected or self.audio_index < 0 or call is None:
            return
        if self.end_reason:  # already hanging up
            return
        if self.session is not None and self.session.on_hold:
            self.rx_changed_at = now  # on hold the caller may send nothing: not a dead call
            return
        try:
            packets = call.getStreamStat(self.audio_index).rtcp.rxStat.pkt
        except pj.Error:
            return
        if packets != self.rx_packets:
            self.rx_packets, self.rx_changed_at = packets, now
        elif now - self.rx_changed_at > timeout:
            log.info("call %s: no RTP for %.0f s, hanging up", self.info.call_id, timeout)
            if self.session is not None:
                self.session.post_event(CallEvent("error", "no RTP"))
            self.hangup("no RTP")

    # -- blind transfer ------------------------------------------------------------------
    def start_transfer(self, target_uri: str, future: Future[TransferResult]) -> None:
        call = self.call
        if self.disconnected or call is None:
            future.set_result(TransferResult(False, 0, "call ended"))
            return
        if self.transfer_future is not None and not self.transfer_future.done():
            future.set_result(TransferResult(False, 0, "a transfer is already running"))
            return
        try:
            call.xfer(target_uri, call_param())
        except pj.Error as exc:
            future.set_result(TransferResult(False, 0, f"REFER refused locally ({exc.status})"))
            return
        self.transfer_future = future

    def on_transfer_status(self, status_code: int, final: bool) -> None:
        future = self.transfer_future
        if self.session is not None:
            self.session.post_event(CallEvent("transfer", str(status_code)))
        if future is None or future.done():
            return
        if final or status_code >= 300:
            ok = 200 <= status_code < 300
            future.set_result(TransferResult(ok, status_code, "transferred" if ok else "failed"))
            if ok:
                self.end_reason = "transferred"
                self.hangup("transferred")
