"""One user-agent worker process: ``python -m telephony.worker --port N --handler mod:factory``.

Prints ``READY port=<n>`` on stdout once it listens (nothing else ever goes to stdout:
pjsip's own output is sent to stderr). SIGTERM or SIGINT drains: new INVITEs get 503 with
Retry-After, live calls go on until ``--drain-seconds``, then all are hung up and the
endpoint is shut down; exit code 0. Exit code 2: bad arguments or the port is taken.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import ipaddress
import logging
import os
import signal
import sys
import threading
import time

from telephony.endpoint import HandlerFactory, SipEndpoint, WorkerConfig

log = logging.getLogger("telephony.worker")


def load_handler(spec: str) -> HandlerFactory:
    """Import ``module:callable``."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--handler {spec!r}: write it as module:factory")
    factory = getattr(importlib.import_module(module_name), attribute)
    if not callable(factory):
        raise ValueError(f"--handler {spec!r} is not callable")
    return factory


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m telephony.worker", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="SIP port (UDP and TCP)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--handler", default="telephony.demo_handler:menu",
                        help="module:factory called as factory(session) in a thread per call")
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
    parser.add_argument("--pjsip-log-level", type=int, default=1)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> WorkerConfig:
    networks = [ipaddress.ip_network(n, strict=False) for n in args.allow_net] or [
        ipaddress.ip_network("127.0.0.0/8")
    ]
    return WorkerConfig(
        port=args.port,
        host=args.host,
        tcp=not args.no_tcp,
        accept_users=frozenset(args.accept),
        allowed_networks=networks,
        max_calls=args.max_calls,
        rtp_port=args.rtp_port,
        rtp_timeout=args.rtp_timeout,
        pjsip_log_level=args.pjsip_log_level,
        ring_seconds=args.ring_seconds,
    )


def _stdout_for_ready_line_only() -> int:
    """Point fd 1 at stderr (pjsip prints there) and return a private fd for READY."""
    sys.stdout.flush()
    ready_fd = os.dup(1)
    os.dup2(2, 1)
    return ready_fd


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = build_config(args)
        handler = load_handler(args.handler)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"telephony.worker: {exc}", file=sys.stderr)
        return 2
    faulthandler.enable()  # a crash in C prints every thread's Python stack to stderr
    ready_fd = _stdout_for_ready_line_only()
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    endpoint = SipEndpoint(config, handler)
    try:
        endpoint.start()
    except Exception as exc:
        print(f"telephony.worker: cannot listen on {config.host}:{config.port} ({exc}); "
              "choose a free port", file=sys.stderr)
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
