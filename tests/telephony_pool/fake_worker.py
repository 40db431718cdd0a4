"""Stand-in worker for pool tests: a sipp UAS (sipp/fake_worker.xml) behind the worker contract.

Run as ``python fake_worker.py --port N --media-port M --countfile PATH [--host H]``.
Like telephony/worker.py it prints ``READY port=<n>`` once it answers SIP on its port, holds
at most 4 calls (486 to the next) and exits on SIGTERM. sipp dies with this process
(PR_SET_PDEATHSIG), so killing the stand-in frees its port as killing a real worker would.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from telephony.kamailio import sip_ping

SCENARIO = Path(__file__).parent / "sipp" / "fake_worker.xml"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--handler", default="")
    parser.add_argument("--media-port", type=int, required=True)
    parser.add_argument("--countfile", required=True)
    args = parser.parse_args()
    sipp = subprocess.Popen(
        [
            "sipp", "-sf", str(SCENARIO),
            "-i", args.host, "-p", str(args.port), "-mp", str(args.media_port),
            "-set", "countfile", args.countfile,
            "-nostdin", "-trace_err",
            "-error_file", f"{args.countfile}.errors",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
        cwd=Path(args.countfile).parent,
    )

    def stop(*_: object) -> None:
        # A stand-in has no calls worth draining. No sipp.wait() here: the interrupted
        # main thread holds Popen's wait lock, waiting again from a handler deadlocks.
        sipp.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + 10
    while sip_ping(args.host, args.port, timeout=0.2) != 200:
        if sipp.poll() is not None or time.monotonic() > deadline:
            print(f"sipp did not start on port {args.port}", file=sys.stderr)
            return 1
    print(f"READY port={args.port}", flush=True)
    return sipp.wait()


if __name__ == "__main__":
    sys.exit(main())
