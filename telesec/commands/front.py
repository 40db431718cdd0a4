"""``telesec front``: one Kamailio front dispatching calls over several engine nodes.

The nodes run ``telesec serve --no-front``; see docs/deploy.md for the whole layout.
The front listens on ``sip.listen_host``:``sip.listen_port`` and takes calls from
``sip.allowed_networks``, like a single machine's front; with ``sip.webphone.enabled``
it also takes the console's softphones (WebSocket, WSS with ``api.https``, TURN with
``[sip.webphone.turn]``), whose tokens the nodes' APIs mint with the shared secret;
with ``database_url`` set it reads the practices' numbers for the softphones' call-backs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.errors import TelesecError
from foundation.logs import configure as configure_logging
from foundation.settings import load_settings
from telephony.front import EngineNode, SharedFront, load_nodes_file, parse_node
from telephony.pool_settings import PoolTuning
from telesec.wiring import open_database, practice_desks

_DEFAULTS = PoolTuning()


def front(
    node: list[str] = typer.Option(
        [], "--node", metavar="HOST:BASEPORT:COUNT",
        help="An engine node's workers: its sip.node_host, sip.worker_base_port and "
        "sip.workers (repeat for each node)."),
    nodes_file: Path | None = typer.Option(
        None, "--nodes",
        help="TOML file with one 'node' table per engine node (host, base_port, workers)."),
    probe_interval: int = typer.Option(
        _DEFAULTS.probe_interval_s, min=1, help="Seconds between OPTIONS probes of a worker."),
    answer_timeout_ms: int = typer.Option(
        _DEFAULTS.worker_answer_timeout_ms, min=100,
        help="A worker silent this long is skipped for the next one and marked down."),
    flood_requests: int = typer.Option(
        _DEFAULTS.flood_requests, min=1,
        help="Requests one source may send per --flood-window before being dropped "
        "(size it for a trunk carrying many calls)."),
    flood_window: int = typer.Option(_DEFAULTS.flood_window_s, min=1, help="Seconds."),
    retry_after: int = typer.Option(
        _DEFAULTS.retry_after_s, min=1, help="Retry-After of the 486/503 sent when full."),
) -> None:
    """Run the SIP front of several engine nodes (Kamailio dispatcher, probing, failover)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    nodes: list[EngineNode] = [parse_node(text) for text in node]
    if nodes_file is not None:
        nodes += load_nodes_file(nodes_file)
    if not nodes:
        raise TelesecError(
            "no engine node given; name each one with --node HOST:BASEPORT:COUNT or --nodes FILE"
        )
    tuning = PoolTuning(
        probe_interval_s=probe_interval,
        worker_answer_timeout_ms=answer_timeout_ms,
        flood_requests=flood_requests,
        flood_window_s=flood_window,
        retry_after_s=retry_after,
    )
    desks = None
    if settings.sip.webphone.enabled and settings.database_url:
        # the softphones' call-backs show their practice's number: read from the database
        db = open_database(settings)
        desks = lambda: practice_desks(db)  # noqa: E731
    SharedFront(settings, nodes, tuning=tuning, desks=desks).run_forever()
