"""pjsua2's account and endpoint subclasses: their callbacks only record and enqueue.

They run on the SIP thread inside ``libHandleEvents`` and must not raise; the SIP loop
(``telephony.endpoint``) acts on the events once the poll returns.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import pjsua2 as pj

from telephony.caller_id import network_caller, trusted_source
from telephony.sip_call import SipCall
from telephony.sip_messages import request_uri_user, via_transport
from telephony.worker_config import RegistrationStatus, WorkerConfig

log = logging.getLogger(__name__)


class AnsweringAccount(pj.Account):
    """An account whose INVITEs each become a ``SipCall`` and an 'incoming' event."""

    def __init__(
        self,
        post: Callable[..., None],
        registry: dict[int, SipCall],
        registration: RegistrationStatus | None = None,
        config: WorkerConfig | None = None,
    ) -> None:
        super().__init__()
        self._post = post
        self._registry = registry
        self.registration = registration
        self._config = config

    def onIncomingCall(self, prm) -> None:
        try:
            call = SipCall(self, prm.callId, self._post, self._registry)
            message = prm.rdata.wholeMsg
            source = prm.rdata.srcAddress
            cfg = self._config
            # behind the front, the front has already dropped untrusted asserted identities
            trusted = cfg is not None and (
                bool(cfg.outbound_proxy) or trusted_source(source, cfg.trusted_networks))
            self._post(
                "incoming", call.key, request_uri_user(message), source,
                via_transport(message) or "UDP", network_caller(message, trust_asserted=trusted),
            )
        except Exception:
            log.error("incoming call could not be taken: %s", traceback.format_exc(limit=2))

    def onRegState(self, prm) -> None:
        if self.registration is not None:
            self._post("reg", 0, prm.code, prm.expiration)


class TelesecEndpoint(pj.Endpoint):
    """The pjsua2 endpoint; it only reports TLS connections (no message content)."""

    def __init__(self, post: Callable[..., None]) -> None:
        super().__init__()
        self._post = post

    def onTransportState(self, prm) -> None:
        try:
            info = prm.tlsInfo
            if prm.type.upper().startswith("TLS") and info.established:
                self._post("tls", 0, info.cipherName, info.remoteAddr)
        except Exception:
            pass
