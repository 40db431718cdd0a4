"""Bridged transfer, on the SIP thread: dial secretaries, first to answer is bridged to the caller.

The engine calls one or several targets at once (each takes one of the worker's 4 lines);
the first to answer wins, the others are cancelled; the winner's audio and the caller's are
connected in the conference bridge (each hears the other). Nobody answering within the
ring time leaves the caller with the IVR. Everything here runs on the SIP thread; the
handler waits on the future given to :meth:`BridgedTransfer.start`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import Future
from typing import Any, Protocol

import pjsua2 as pj

from telephony.audio import hold_music
from telephony.media import AnswererTap, StopReason
from telephony.session import BridgeResult, CallEvent, CallInfo, CallSession
from telephony.sip_messages import call_param

log = logging.getLogger(__name__)

BOX_PREFIX = "box-"  # a REFER to box-<practitioner slug>: the caller leaves that doctor a message
LOST_AFTER_S = 4.0  # no audio from the answerer for this long: her leg is lost
# whose audio is watched: the console softphones (desk-<practice>, desk-<practice>~<login>),
# browsers that send RTP all the time; a desk phone may stop sending in silences
WATCHED_PREFIX = "desk-"
MEDIA_CHECK_S = 0.5


class BridgeLines(Protocol):
    """What a bridged transfer asks of the SIP loop (``telephony.endpoint.SipEndpoint``)."""

    def sip_call(self, key: int) -> Any:
        """The pjsua2 call of ``key``, or None once pjsua2 is done with it."""

    def free_lines(self) -> int:
        """Calls the process may still place."""

    def dial(self, target: str, bridge: BridgedTransfer) -> OutboundLeg:
        """Place a call to ``target`` for ``bridge``; raises pj.Error if it cannot start."""

    def add_bridge(self, bridge: BridgedTransfer) -> None:
        """Tick ``bridge`` from the SIP loop until it is over."""

    def audio_port(self, tap: Any) -> Any:
        """A bridge port from the process's pool, attached to ``tap``."""

    def release_port(self, port: Any) -> None:
        """Give a port from :meth:`audio_port` back."""


class BridgedCaller(Protocol):
    """The caller's leg as a bridged transfer sees it (``telephony.sip_call.CallLeg``)."""

    info: CallInfo
    session: CallSession | None
    bridge: BridgedTransfer | None
    disconnected: bool
    end_reason: str
    audio_index: int

    @property
    def call(self) -> Any:
        """The caller's pjsua2 call, or None once it is over."""


class OutboundLeg:
    """One call the engine placed to a bridge target (SIP-thread state)."""

    def __init__(self, endpoint: BridgeLines, key: int, target: str, bridge: BridgedTransfer):
        self.endpoint = endpoint
        self.key = key
        self.target = target
        self.bridge = bridge
        self.confirmed = False
        self.disconnected = False
        self.audio_index = -1
        self.holding = False  # the answerer put the caller on hold (a=sendonly/inactive)
        self.hung_up = False
        self.discard = False  # the call pjsua places for a REFER to a voicemail box
        self.rx_packets = -1  # RTP packets received from the answerer, last seen
        self.rx_seen_at = 0.0  # when that count last grew
        self.sends_on_hold = False  # her page still sends while holding (sendonly)

    def audio_arrives(self, now: float) -> bool:
        """Whether the answerer's audio still arrives (RTP within :data:`LOST_AFTER_S`
        once some came). A browser whose page was reloaded or closed says no BYE: its
        packets just stop. Only console softphones are watched; on hold, only a page
        that kept sending (sendonly, not inactive)."""
        call = self.call
        user = self.target.split(":", 1)[-1]
        if call is None or self.audio_index < 0 or not user.startswith(WATCHED_PREFIX):
            self.rx_seen_at = now
            return True
        try:
            packets = call.getStreamStat(self.audio_index).rtcp.rxStat.pkt
        except pj.Error:
            return True
        if packets <= 0 or packets != self.rx_packets:
            if self.holding and self.rx_packets > 0 and packets > self.rx_packets:
                self.sends_on_hold = True
            self.rx_packets, self.rx_seen_at = packets, now
        if self.holding and not self.sends_on_hold:
            self.rx_seen_at = now
            return True
        return now - self.rx_seen_at < LOST_AFTER_S

    @property
    def call(self):
        return self.endpoint.sip_call(self.key)

    def hangup(self) -> None:
        """CANCEL while it rings, BYE once answered (no-op once it ended)."""
        call = self.call
        if call is not None and not self.disconnected:
            with contextlib.suppress(pj.Error):
                call.hangup(call_param())

    def hangup_once(self) -> None:
        """:meth:`hangup`, once (for what the SIP loop's tick ends)."""
        if not self.hung_up:
            self.hung_up = True
            self.hangup()

    def on_media(self) -> None:
        call = self.call
        if call is None or self.disconnected:
            return
        with contextlib.suppress(pj.Error):
            info = call.getInfo()
            self.audio_index = _active_audio_index(info)
            holding = _held_by_remote(info)
            if holding != self.holding:  # counted afresh: packets before it say nothing
                self.sends_on_hold, self.rx_packets = False, -1
            self.holding = holding


def _held_by_remote(info) -> bool:
    return any(media.type == pj.PJMEDIA_TYPE_AUDIO
               and media.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD for media in info.media)


def _active_audio_index(info) -> int:
    for index, media in enumerate(info.media):
        if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in (
            pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD
        ):
            return index
    return -1


class BridgedTransfer:
    """The bridged transfer of one caller (SIP thread only)."""

    def __init__(
        self,
        endpoint: BridgeLines,
        patient: BridgedCaller,
        targets: list[str],
        ring_seconds: float,
        future: Future[BridgeResult],
    ) -> None:
        self.endpoint = endpoint
        self.patient = patient
        self.targets = targets
        self.ring_seconds = ring_seconds
        self.future = future
        self.ringing: list[OutboundLeg] = []
        self.winner: OutboundLeg | None = None
        self.transfer: OutboundLeg | None = None  # where the answerer passes the caller on
        self.transfer_deadline = 0.0
        self._answerer_port: Any = None  # hears the answerer for the recording
        self._hold_prompt: Any = None  # the music played while the answerer holds
        self.deadline = 0.0
        self.last_status = 0
        self._connected: tuple[int, int] | None = None  # (caller slot, target slot)
        self.lost = False  # the answerer's leg went silent and was hung up
        self.voicemail = ""  # the answerer passed the caller to this doctor's box
        self._next_media_check = 0.0
        self.discarded: list[OutboundLeg] = []

    @property
    def active(self) -> bool:
        """Still ringing someone or bridged to someone."""
        return (bool(self.ringing) or self.winner is not None or self.transfer is not None
                or bool(self.discarded))

    # -- start ------------------------------------------------------------------------
    def start(self) -> None:
        patient = self.patient
        if patient.disconnected or patient.call is None or patient.end_reason:
            self._finish(False, 0, "call ended")
            return
        if patient.bridge is not None and patient.bridge.active:
            self._finish(False, 0, "a bridged transfer is already running")
            return
        if not self.targets:
            self._finish(False, 0, "no target to dial")
            return
        lines = self.endpoint.free_lines()
        if lines <= 0:
            self._finish(False, 503, "no free line for the outbound call")
            return
        for target in self.targets[:lines]:
            try:
                self.ringing.append(self.endpoint.dial(target, self))
            except pj.Error as exc:
                log.warning("call %s: bridge target could not be dialled (%s)",
                            patient.info.call_id, exc.status)
        if not self.ringing:
            self._finish(False, self.last_status, "no target could be dialled")
            return
        patient.bridge = self
        self.deadline = time.monotonic() + self.ring_seconds
        self.endpoint.add_bridge(self)

    # -- events from the endpoint ------------------------------------------------------
    def transfer_to(self, leg: OutboundLeg) -> None:
        """The answerer asked (REFER) to pass the caller on to ``leg``, now ringing; the
        caller stays with her until it answers."""
        self.transfer = leg
        self.transfer_deadline = time.monotonic() + self.ring_seconds

    def to_voicemail(self, leg: OutboundLeg, practitioner: str) -> None:
        """The answerer passed the caller on (REFER) to ``practitioner``'s voicemail box:
        her leg ends and the caller goes back to the flow, which takes the message. ``leg``
        is the call pjsua places for the REFER anyway: it is hung up and ignored."""
        leg.discard = True
        self.discarded.append(leg)
        self.voicemail = practitioner
        log.info("call %s: passed to a voicemail box by the answerer",
                 self.patient.info.call_id)

    def on_leg_state(self, leg: OutboundLeg, state: int, status_code: int) -> None:
        if leg.discard:
            leg.disconnected = state == pj.PJSIP_INV_STATE_DISCONNECTED
            return
        if leg is self.transfer:
            self._on_transfer_state(leg, state)
            return
        if state == pj.PJSIP_INV_STATE_CONFIRMED and not leg.confirmed:
            leg.confirmed = True
            self._answered(leg)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED and not leg.disconnected:
            leg.disconnected = True
            if leg in self.ringing:
                self.ringing.remove(leg)
            self.last_status = status_code or self.last_status
            if leg is self.winner and self.transfer is not None:
                self._answerer_gone()  # the caller waits (music) for the transfer target
            elif leg is self.winner:
                self._target_left()
            elif self.winner is None and not self.ringing:
                self._finish(False, self.last_status, "no answer")

    def on_leg_media(self, leg: OutboundLeg) -> None:
        leg.on_media()
        if leg is self.winner:
            self.connect()
            self._music_on_hold(leg.holding)

    def on_patient_media(self) -> None:
        if self.winner is not None:
            self.connect()

    def on_patient_ended(self) -> None:
        self._release_answerer()
        self._finish(False, 0, "call ended")
        for leg in [*self.ringing, *(x for x in (self.winner, self.transfer) if x)]:
            leg.hangup()

    def tick(self, now: float) -> None:
        """Give up ringing at the deadline (called from the SIP loop)."""
        if self.winner is None and self.ringing and now >= self.deadline:
            for leg in self.ringing:
                leg.hangup()
            self._finish(False, 408, "no answer")
        for leg in self.discarded:
            leg.hangup_once()  # the call pjsua placed for a REFER to a voicemail box
        self.discarded = [leg for leg in self.discarded if not leg.disconnected]
        if self.transfer is not None and not self.transfer.confirmed \
                and now >= self.transfer_deadline:
            self.transfer.hangup()  # its DISCONNECTED gives the caller back
        winner = self.winner
        if winner is None or self.transfer is not None or winner.disconnected:
            return
        if self.voicemail:
            winner.hangup_once()  # her part is done; DISCONNECTED gives the caller to the flow
        elif now >= self._next_media_check:
            self._next_media_check = now + MEDIA_CHECK_S
            if not winner.audio_arrives(now):
                self.lost = True
                log.info("call %s: no audio from the answerer for %.0f s: her leg is lost",
                         self.patient.info.call_id, LOST_AFTER_S)
                winner.hangup_once()

    # -- internals ---------------------------------------------------------------------
    def _answered(self, leg: OutboundLeg) -> None:
        if self.winner is not None or self.future.done() or self.patient.disconnected:
            leg.hangup()  # answered too late: someone else won, or the caller is gone
            return
        self.winner = leg
        leg.rx_seen_at = time.monotonic()
        if leg in self.ringing:
            self.ringing.remove(leg)
        for other in self.ringing:
            other.hangup()  # CANCEL the others
        leg.on_media()
        self.connect()
        session = self.patient.session
        if session is not None:
            session.bridged_to = leg.target
            session.player.interrupt(StopReason.STOPPED, only_barge_in=False)  # hold audio
            session.post_event(CallEvent("bridge", "answered"))
        log.info("call %s: bridged", self.patient.info.call_id)
        self._finish(True, 200, "bridged", answered_by=leg.target)

    def connect(self) -> None:
        """Connect caller and target audio both ways (again after a re-INVITE)."""
        leg, patient = self.winner, self.patient
        if leg is None or leg.audio_index < 0 or patient.audio_index < 0:
            return
        target_call, patient_call = leg.call, patient.call
        if target_call is None or patient_call is None:
            return
        try:
            target_audio = target_call.getAudioMedia(leg.audio_index)
            patient_audio = patient_call.getAudioMedia(patient.audio_index)
            slots = (patient_audio.getPortId(), target_audio.getPortId())
            if slots == self._connected:
                return
            patient_audio.startTransmit(target_audio)
            target_audio.startTransmit(patient_audio)
            self._record_answerer(target_audio)
            self._connected = slots
        except pj.Error as exc:
            log.warning("call %s: bridge audio not connected (%s)",
                        patient.info.call_id, exc.status)

    def _record_answerer(self, target_audio: Any) -> None:
        """The answerer's voice goes to the call's recording too (the engine's side)."""
        session = self.patient.session
        if session is None:
            return
        if self._answerer_port is None:
            self._answerer_port = self.endpoint.audio_port(AnswererTap(session.tap))
        target_audio.startTransmit(self._answerer_port)

    def _music_on_hold(self, holding: bool) -> None:
        """The answerer put the caller on hold: the engine plays music until she resumes."""
        session = self.patient.session
        if session is None or holding == (self._hold_prompt is not None):
            return
        if holding:
            self._hold_prompt = session.player.start(hold_music(), barge_in=False, loop=True)
            log.info("call %s: on hold", self.patient.info.call_id)
        else:
            prompt, self._hold_prompt = self._hold_prompt, None
            session.player.interrupt(StopReason.STOPPED, only_barge_in=False, only=prompt)
            log.info("call %s: resumed", self.patient.info.call_id)

    def _release_answerer(self) -> None:
        port, self._answerer_port = self._answerer_port, None
        if port is not None:
            self.endpoint.release_port(port)

    def _on_transfer_state(self, leg: OutboundLeg, state: int) -> None:
        if state == pj.PJSIP_INV_STATE_CONFIRMED and not leg.confirmed:
            leg.confirmed = True
            if self.patient.disconnected:
                leg.hangup()
                return
            previous, self.winner, self.transfer = self.winner, leg, None
            leg.rx_seen_at = time.monotonic()
            self._connected = None
            if previous is not None:
                previous.hangup()  # she passed the caller on: her leg ends
            leg.on_media()
            self._music_on_hold(False)
            self.connect()
            session = self.patient.session
            if session is not None:
                session.bridged_to = leg.target
            log.info("call %s: transferred", self.patient.info.call_id)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED and not leg.disconnected:
            leg.disconnected = True
            self.transfer = None
            if self.winner is None:
                self._target_left()  # nobody took the caller: back to the flow

    def _answerer_gone(self) -> None:
        """The answerer hung up while her transfer rings: the caller hears hold music."""
        self.winner = None
        self._connected = None
        self._music_on_hold(True)

    def _target_left(self) -> None:
        self._release_answerer()
        self._music_on_hold(False)
        self.winner = None
        self._connected = None
        session = self.patient.session
        if session is not None and not session.ended:
            session.bridge_left = ("voicemail" if self.voicemail
                                   else "lost" if self.lost else "")
            session.voicemail_for = self.voicemail
            session.bridged_to = ""
            session.post_event(CallEvent("bridge", session.bridge_left or "ended"))

    def _finish(self, ok: bool, status_code: int, detail: str, answered_by: str = "") -> None:
        if not self.future.done():
            self.future.set_result(BridgeResult(ok, status_code, detail, answered_by))
