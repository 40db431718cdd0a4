"""Whether a worker takes an incoming call, and if not, what it answers."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from telephony.worker_config import PJSUA_MAX_CALLS, WorkerConfig


@dataclass(frozen=True)
class Refusal:
    """The final answer to an INVITE the worker does not take."""

    status_code: int
    reason: str
    retry_after: int = 0  # seconds, sent as Retry-After when not 0


def refusal(cfg: WorkerConfig, *, dialled: str, source: str, draining: bool,
            calls_taken: int, lines_in_use: int) -> Refusal | None:
    """None to take the call; else why not, in this order: draining (503), a source outside
    the allowed networks (403), a number this worker does not answer (404), full (486).

    ``calls_taken`` counts the calls already answered or ringing (not this one);
    ``lines_in_use`` every pjsua2 call of the process, this one and outbound ones included.
    """
    if draining:
        return Refusal(503, "Shutting Down", cfg.retry_after)
    host = source.rsplit(":", 1)[0].strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return Refusal(403, "Forbidden")
    if not any(address in network for network in cfg.allowed_networks):
        return Refusal(403, "Forbidden")
    if cfg.accept_users and dialled not in cfg.accept_users:
        return Refusal(404, "Not Found")
    if calls_taken >= cfg.max_calls or lines_in_use > PJSUA_MAX_CALLS:
        return Refusal(486, "Busy Here", cfg.retry_after)
    return None
