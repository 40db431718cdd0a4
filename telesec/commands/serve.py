"""``telesec serve``: the whole engine in one process tree.

On the embedded default it prepares the data directory on first run (keyring, schema),
then runs: the periodic jobs (hold expiry, vault recovery, retention, audit checkpoints,
the notification outbox; the practitioners' calendars in a thread of their own),
the staff API with its console, and the SIP pool (Kamailio front + pjsua2 workers running
the IVR flows), until SIGTERM or Ctrl-C, when it drains live calls and stops.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path

import typer
import uvicorn

from calendars.sync import CalendarSync
from foundation.certificates import CertificatePair, console_certificate
from foundation.errors import TelesecError
from foundation.logs import configure as configure_logging
from foundation.logs import level_number
from foundation.settings import Settings, load_settings
from foundation.tcp_listeners import bind_tcp_listener
from ivr_flows.prompts import composer_for
from ivr_flows.prompts.compose import speech_sample
from notify.notifier import Notifier
from scheduling.service import Agenda
from speech.models import configured_model_paths
from speech.server import start_server_process
from speech.status import announce
from storage.vault.spool import VaultSpool
from telephony.supervisor import Supervisor
from telesec.commands.db import prepare_data_dir
from telesec.jobs import JobRunner, calendar_jobs, engine_jobs
from telesec.wiring import DatabaseDirectory, api_app, audit_anchors, open_database, open_vault

log = logging.getLogger(__name__)

CALL_HANDLER = "telesec.call_handler:answer"


def serve(
    sip: bool = typer.Option(True, help="Answer calls (Kamailio front and SIP workers)."),
    api: bool = typer.Option(True, help="Serve the staff API and web console."),
    jobs: bool = typer.Option(
        True, help="Run retention, hold expiry, audit checkpoints, notifications and "
        "calendar sync."),
    front: bool = typer.Option(
        True, help="Run this node's own Kamailio front; --no-front: the workers listen on "
        "sip.node_host behind a shared `telesec front` (docs/deploy.md)."),
    handler: str = typer.Option(CALL_HANDLER, hidden=True,
                                help="Call handler module:factory (tests and benchmarks)."),
) -> None:
    """Run Telesec: SIP engine, IVR, staff API and periodic jobs."""
    settings = load_settings()
    if not front:
        settings.sip = settings.sip.model_copy(update={"front": "external"})
    configure_logging(settings.log_level)
    prepare_data_dir(settings)
    tls = console_certificate(settings)  # checked (or made) before anything listens
    api_listener = bind_tcp_listener(settings.api.host, settings.api.port,
                                     "api.port") if api else None
    db = open_database(settings)
    vault = open_vault(settings, db)
    log.info("vault spool: %s", VaultSpool(vault).land().summary())  # lands before recovery
    log.info("vault recovery: %s", vault.recover().summary())

    notifier = Notifier.from_settings(settings)
    log.info(notifier.describe())
    runner = JobRunner(engine_jobs(Agenda(db), vault, notifier,
                                   anchors=audit_anchors(settings))) if jobs else None
    calendar_runner = JobRunner(calendar_jobs(
        CalendarSync(db, vault.keyring, settings.calendars),
        settings.calendars.publish_interval_seconds), name="calendar-jobs") if jobs else None
    for started in (runner, calendar_runner):
        if started:
            started.start()
    api_server = _start_api(settings, tls, api_listener) if api_listener else None
    speech_server = None
    try:
        if sip:
            preload = None
            if announce(settings, log).enabled:
                # One process holds the models for every worker (docs/speech.md).
                models = configured_model_paths(settings)
                speech_server, speech_env = start_server_process(
                    models,
                    settings.data_path / "run" / "speech" / "asr.sock",
                    settings.speech.max_concurrent_streams,
                    log_level=settings.log_level,
                    warm_audio=warm_up_speech(settings, list(models)),
                )
                preload = lambda: speech_env  # noqa: E731
            directory = DatabaseDirectory(settings, db, vault.keyring)
            Supervisor(settings, handler=handler, preload=preload,
                       directory=directory).run_forever()
        else:
            _wait_for_signal()
    finally:
        if speech_server is not None:
            speech_server.stop()
        if api_server is not None:
            api_server.should_exit = True
        for started in (runner, calendar_runner):
            if started:
                started.stop()
        db.dispose()
    log.info("stopped")


def warm_up_speech(settings: Settings, languages: list[str]) -> dict[str, list[Path]]:
    """The cached prompts the speech server warms its recognizers on, per language."""
    seconds = settings.speech.warm_up_seconds
    composer = composer_for(settings.data_path)
    files: dict[str, list[Path]] = {}
    for language in languages if seconds else []:
        try:
            files[language] = speech_sample(composer, language, seconds)
        except TelesecError as exc:  # no catalogue, no espeak-ng: calls work, only colder
            log.warning("speech recognizers not warmed for %s: %s", language, exc)
    return files


def api_server_config(settings: Settings, app: object,
                      tls: CertificatePair | None = None) -> uvicorn.Config:
    """How uvicorn serves the API (over HTTPS with ``tls``). Forwarded headers are the
    API's business, from the proxies of ``api.trusted_proxies`` only (api/proxies.py):
    uvicorn's own trust of them (from loopback by default) is off."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,  # uvicorn's loggers go through ours (foundation.logs), capped
        log_level=max(level_number(settings.log_level), logging.WARNING),
        access_log=False,  # URLs may name patients' objects; the API audits reads itself
        proxy_headers=False,
        server_header=False,
        ssl_certfile=str(tls.certificate) if tls else None,
        ssl_keyfile=str(tls.private_key) if tls else None,
    )


def _start_api(settings: Settings, tls: CertificatePair | None,
               listener: socket.socket) -> uvicorn.Server:
    server = uvicorn.Server(api_server_config(settings, api_app(settings), tls))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                              name="api", daemon=True)
    thread.start()
    log.info("staff API and console on %s://%s:%s/", "https" if tls else "http",
             settings.api.host, settings.api.port)
    return server


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
