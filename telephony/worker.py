"""One user-agent worker process: ``python -m telephony.worker --port N --handler mod:factory``.

Prints ``READY port=<n>`` on stdout once it listens (nothing else ever goes to stdout). Logs
go to stderr as ``LEVEL logger: message`` lines for the supervisor to relay
(``foundation.logs``), pjsip's own through the ``pjsip`` logger (``telephony.pjsip_log``).
SIGTERM or SIGINT drains: new INVITEs get 503 with Retry-After, live calls go on until
``--drain-seconds``, then all are hung up and the endpoint is shut down; exit code 0. Exit
code 2: bad arguments, no handler, or the port is taken (one line saying so).
"""

from __future__ import annotations

import argparse
import ctypes
import faulthandler
import gc
import importlib
import ipaddress
import logging
import os
import signal
import sys
import threading
import time

from foundation.logs import LEVELS, configure_child, level_number
from telephony.endpoint import HandlerFactory, SipEndpoint
from telephony.pjsip_log import pjsip_level
from telephony.worker_config import SRTP_MODES, Registration, TlsSettings, WorkerConfig

log = logging.getLogger("telephony.worker")  # not __name__: it runs as __main__


def load_handler(spec: str) -> HandlerFactory:
    """Import ``module:callable``."""
    if not spec:
        raise ValueError("--handler module:factory is required: the call handler every "
                         "answered call runs (telesec serve uses telesec.call_handler:answer)")
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--handler {spec!r}: write it as module:factory")
    module = importlib.import_module(module_name)
    factory = getattr(module, attribute)
    if not callable(factory):
        raise ValueError(f"--handler {spec!r} is not callable")
    return factory


def prepare_handler(spec: str) -> None:
    """Run the handler module's optional ``prepare()`` before the worker says READY, so
    that heavy set-up (database, vault, prompts) never stalls the audio of live calls."""
    prepare = getattr(importlib.import_module(spec.partition(":")[0]), "prepare", None)
    if callable(prepare):
        prepare()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m telephony.worker", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="SIP port (UDP and TCP)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--handler", default="",
                        help="module:factory called as factory(session) in a thread per call "
                             "(required; telesec serve runs telesec.call_handler:answer)")
    parser.add_argument("--accept", action="append", default=[], metavar="USER",
                        help="dialled user/number to accept (repeat); none: accept any")
    parser.add_argument("--allow-net", action="append", default=[], metavar="CIDR",
                        help="source network allowed to call (repeat); default 127.0.0.0/8")
    parser.add_argument("--max-calls", type=int, default=4, choices=range(1, 5))
    parser.add_argument("--rtp-port", type=int, default=0, help="first RTP port (0: derived)")
    parser.add_argument("--rtp-timeout", type=float, default=30.0,
                        help="hang up after this many seconds without RTP")
    parser.add_argument("--drain-seconds", type=float, default=10.0,
                        help="on SIGTERM, how long live calls may go on")
    parser.add_argument("--ring-seconds", type=float, default=0.0,
                        help="send 180 Ringing and answer after this many seconds")
    parser.add_argument("--no-tcp", action="store_true", help="UDP only")
    tls = parser.add_argument_group("SIP over TLS and SRTP")
    tls.add_argument("--tls-port", type=int, default=0, help="also listen for SIP over TLS")
    tls.add_argument("--tls-cert", default="", help="PEM certificate (chain) for TLS")
    tls.add_argument("--tls-key", default="", help="PEM private key for TLS")
    tls.add_argument("--tls-ca", default="", help="PEM CA list: verify peers' certificates")
    tls.add_argument("--tls-verify-client", action="store_true",
                     help="require a client certificate signed by --tls-ca")
    tls.add_argument("--srtp", choices=sorted(SRTP_MODES), default="off",
                     help="SRTP (SDES): off, optional, or mandatory (plain RTP refused, 488)")
    tls.add_argument("--srtp-secure-signaling", type=int, choices=(0, 1, 2), default=None,
                     help="SRTP keys only over: 0 any transport, 1 TLS, 2 sips end to end "
                          "(default: 1 with --srtp mandatory, 0 with optional)")
    reg = parser.add_argument_group("registered mode")
    reg.add_argument("--register", default="", metavar="AOR",
                     help="register this address of record, e.g. sip:1000@trunk.example")
    reg.add_argument("--registrar", default="",
                     help="registrar URI (default: sip:<host of the AOR>)")
    reg.add_argument("--auth-user", default="", help="digest user (default: the AOR's user)")
    reg.add_argument("--auth-realm", default="*", help="digest realm (default: any)")
    reg.add_argument("--auth-password-env", default="", metavar="VAR",
                     help="environment variable holding the digest password")
    reg.add_argument("--register-expiry", type=int, default=300,
                     help="registration lifetime asked for, seconds (refreshed before it ends)")
    parser.add_argument("--outbound-proxy", default="", metavar="URI",
                        help="the front (sip:host:port): outgoing legs go through it")
    parser.add_argument("--user-agent", default="Telesec", help="User-Agent header")
    parser.add_argument("--trust-net", action="append", default=[], metavar="CIDR",
                        help="direct mode: source network whose P-Asserted-Identity is "
                             "believed (a trunk's; repeat)")
    band = parser.add_mutually_exclusive_group()
    band.add_argument("--wideband", action="store_true",
                      help="the bridge at 16 kHz (default: 8 kHz, the rate of G.711 calls)")
    band.add_argument("--narrowband", action="store_true",
                      help="the bridge at 8 kHz (the default)")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LEVELS,
                        help="DEBUG, INFO, WARNING or ERROR (telesec serve passes log_level)")
    parser.add_argument("--pjsip-log-level", type=int, default=None, choices=range(0, 7),
                        help="pjsip's own level, 0-6 (default: follows --log-level)")
    return parser.parse_args(argv)


def build_tls(args: argparse.Namespace) -> TlsSettings | None:
    if not args.tls_port:
        return None
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if not path:
            raise ValueError(f"--tls-port needs {flag}")
        if not os.access(path, os.R_OK):
            raise ValueError(f"{flag} {path}: file not readable")
    if args.tls_ca and not os.access(args.tls_ca, os.R_OK):
        raise ValueError(f"--tls-ca {args.tls_ca}: file not readable")
    if args.tls_verify_client and not args.tls_ca:
        raise ValueError("--tls-verify-client needs --tls-ca")
    return TlsSettings(args.tls_port, os.path.abspath(args.tls_cert),
                       os.path.abspath(args.tls_key),
                       os.path.abspath(args.tls_ca) if args.tls_ca else "",
                       args.tls_verify_client)


def build_registration(args: argparse.Namespace) -> Registration | None:
    """The registered-mode settings; the password comes from the environment only."""
    if not args.register:
        if args.auth_password_env or args.auth_user:
            raise ValueError("--auth-user/--auth-password-env need --register AOR")
        return None
    aor = args.register
    if not aor.lower().startswith(("sip:", "sips:")) or "@" not in aor:
        raise ValueError(f"--register {aor!r}: write it as sip:user@host")
    scheme, _, rest = aor.partition(":")
    user, _, host = rest.partition("@")
    if not args.auth_password_env:
        raise ValueError("--register needs --auth-password-env VAR (the password is never "
                         "given on the command line)")
    password = os.environ.get(args.auth_password_env)
    if not password:
        raise ValueError(f"--auth-password-env {args.auth_password_env}: that environment "
                         "variable is not set")
    if args.register_expiry < 10:
        raise ValueError("--register-expiry must be at least 10 seconds")
    return Registration(
        aor=aor,
        registrar=args.registrar or f"{scheme}:{host}",
        auth_user=args.auth_user or user,
        password=password,
        realm=args.auth_realm,
        expiry=args.register_expiry,
    )


def build_config(args: argparse.Namespace) -> WorkerConfig:
    networks = [ipaddress.ip_network(n, strict=False) for n in args.allow_net] or [
        ipaddress.ip_network("127.0.0.0/8")
    ]
    registration = build_registration(args)
    accept = set(args.accept)
    if accept and registration is not None:  # calls to the AOR come with its user part
        accept.add(registration.aor.split(":", 1)[1].split("@", 1)[0])
    return WorkerConfig(
        port=args.port,
        host=args.host,
        tcp=not args.no_tcp,
        accept_users=frozenset(accept),
        allowed_networks=networks,
        max_calls=args.max_calls,
        rtp_port=args.rtp_port,
        rtp_timeout=args.rtp_timeout,
        pjsip_log_level=(args.pjsip_log_level if args.pjsip_log_level is not None
                         else pjsip_level(level_number(args.log_level))),
        ring_seconds=args.ring_seconds,
        tls=build_tls(args),
        srtp=args.srtp,
        srtp_secure_signaling=(
            args.srtp_secure_signaling if args.srtp_secure_signaling is not None
            else int(args.srtp == "mandatory")
        ),
        registration=registration,
        outbound_proxy=args.outbound_proxy,
        user_agent=args.user_agent,
        trusted_networks=[ipaddress.ip_network(n, strict=False) for n in args.trust_net],
        wideband=args.wideband,
    )


def _stdout_for_ready_line_only() -> int:
    """Point fd 1 at stderr (what a library prints lands in the log) and return a private
    fd for READY."""
    sys.stdout.flush()
    ready_fd = os.dup(1)
    os.dup2(2, 1)
    return ready_fd


def _drain_when_parent_dies() -> None:
    """Ask Linux to send us SIGTERM if the supervisor dies, even by SIGKILL, so that a
    killed supervisor leaves no orphan worker holding its port (we drain, then exit).
    Linux ties this to the *thread* that started us: the supervisor starts workers from
    its long-lived threads only (``start()`` and the pool monitor)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handler_package = args.handler.partition(":")[0].split(".")[0]
    configure_child(args.log_level, own=[handler_package] if handler_package else [])
    try:
        config = build_config(args)
        handler = load_handler(args.handler)
    except (ValueError, ImportError, AttributeError) as exc:
        log.error("%s", exc)
        return 2
    faulthandler.enable()  # a crash in C prints every thread's Python stack to stderr
    if os.environ.get("TELESEC_GC_STRESS") == "1":  # tests only: collect at every chance
        gc.set_threshold(1, 1, 1)
    prepare_handler(args.handler)
    ready_fd = _stdout_for_ready_line_only()
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _drain_when_parent_dies()
    endpoint = SipEndpoint(config, handler)
    try:
        endpoint.start()
    except Exception as exc:
        ports = f"{config.port}" + (f" and TLS port {config.tls.port}" if config.tls else "")
        log.error("cannot start on %s port %s (%s); choose free ports and check the TLS "
                  "certificate and key", config.host, ports, exc)
        endpoint.stop()
        return 2
    os.write(ready_fd, f"READY port={config.port}\n".encode())
    os.close(ready_fd)
    log.info("worker listening on %s:%d", config.host, config.port)
    while not stop.wait(0.5):
        if not endpoint.running:
            log.error("SIP thread ended unexpectedly")
            return 1
    endpoint.drain()
    deadline = time.monotonic() + args.drain_seconds
    log.info("draining: %d live call(s)", endpoint.live_calls())
    while endpoint.live_calls() and time.monotonic() < deadline:
        time.sleep(0.1)
    endpoint.stop(timeout=15.0)
    log.info("worker stopped (%d answered, %d refused)",
             endpoint.calls_answered, endpoint.calls_refused)
    return 0


def main() -> None:
    code = run()
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)  # handler threads are daemons; do not wait for them


if __name__ == "__main__":
    main()
