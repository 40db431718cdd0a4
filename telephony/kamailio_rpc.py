"""Talk to a running front: Kamailio's JSON-RPC over its Unix datagram socket.

Used to read the SIP accounts' registration state (``uac.reg_dump``) and to reload the
tables the front keeps in memory (practice numbers, phones' credentials) without a
restart. The socket lives in the front's private run directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.errors import TelesecError

#: uac.reg_dump flags (Kamailio uac module): the registration's state bits
REG_DISABLED = 1
REG_ONGOING = 2
REG_SUCCEEDED = 4
REG_AUTHENTICATING = 8
REG_INITIALISED = 16


def call(rpc_socket: Path, method: str, *params: Any, timeout: float = 3.0) -> Any:
    """Call ``method`` on the front listening on ``rpc_socket``; its ``result``."""
    request = {"jsonrpc": "2.0", "method": method, "params": list(params),
               "id": uuid.uuid4().hex[:8]}
    reply_path = Path(tempfile.gettempdir()) / f"telesec-rpc-{uuid.uuid4().hex[:12]}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(str(reply_path))
            os.chmod(reply_path, 0o600)
            sock.settimeout(timeout)
            sock.sendto(json.dumps(request).encode(), str(rpc_socket))
            data = sock.recv(1 << 20)
        except FileNotFoundError:
            raise TelesecError(f"no front is running here ({rpc_socket} is missing); "
                               "start `telesec serve` or `telesec front` first") from None
        except (TimeoutError, ConnectionRefusedError):
            raise TelesecError(f"the front did not answer on {rpc_socket}; is it running?"
                               ) from None
        finally:
            with contextlib.suppress(OSError):
                reply_path.unlink()
    answer = json.loads(data.decode(errors="replace"))
    if "error" in answer:
        raise TelesecError(f"the front refused {method}: {answer['error'].get('message', '?')}")
    return answer.get("result")


@dataclass(frozen=True)
class TrunkState:
    """One SIP account's registration as the front reports it (no secrets)."""

    uuid: str
    aor: str  # user@domain of the account
    registered: bool
    state: str  # registered | registering | failed | disabled | idle
    expires: int  # seconds asked for
    since: int  # UNIX time of the last successful registration (0: never)


def _state(flags: int) -> str:
    if flags & REG_DISABLED:
        return "disabled"
    if flags & REG_SUCCEEDED:
        return "registered"
    if flags & (REG_ONGOING | REG_AUTHENTICATING):
        return "registering"
    if flags & REG_INITIALISED:
        return "failed"
    return "idle"


def trunk_states(rpc_socket: Path) -> dict[str, TrunkState]:
    """Registration state of every SIP account of the front, by Contact user (uuid)."""
    records = call(rpc_socket, "uac.reg_dump") or []
    if isinstance(records, dict):
        records = [records]
    states = {}
    for record in records:
        flags = int(record.get("flags", 0))
        state = _state(flags)
        states[str(record.get("l_uuid", ""))] = TrunkState(
            uuid=str(record.get("l_uuid", "")),
            aor=f"{record.get('r_username', '')}@{record.get('r_domain', '')}",
            registered=state == "registered",
            state=state,
            expires=int(record.get("expires", 0)),
            since=int(record.get("timer_expires", 0)) - int(record.get("expires", 0))
            if state == "registered" else 0,
        )
    return states


def reload_table(rpc_socket: Path, table: str) -> None:
    """Reload one of the front's tables from its file (``numbers`` for the practice numbers)."""
    call(rpc_socket, "htable.reload", table)
