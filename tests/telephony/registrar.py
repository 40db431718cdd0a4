"""Kamailio as a registrar with digest authentication (one fixed user), for the tests."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 5)
modparam("registrar", "max_expires", 3600)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "$env({password_env})", "0")) {{
            xlog("L_NOTICE", "TEST REGISTER challenged\\n");
            www_challenge("$td", "0");
            exit;
        }}
        if ($au != "{user}") {{ sl_send_reply("403", "Forbidden"); exit; }}
        if (!save("location")) {{ sl_reply_error(); exit; }}
        xlog("L_NOTICE", "TEST REGISTER authenticated user=$au expires=$hdr(Expires)\\n");
        exit;
    }}
    if (has_totag()) {{
        # sipp ignores Record-Route: its in-dialog requests come back to us by R-URI
        if (!loose_route() && uri == myself && !lookup("location")) {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
        t_relay();
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) t_relay(); exit; }}
    if (is_method("INVITE")) {{
        if (!lookup("location")) {{
            xlog("L_NOTICE", "TEST INVITE no contact\\n");
            sl_send_reply("404", "Not Found");
            exit;
        }}
        xlog("L_NOTICE", "TEST INVITE relayed to the registered contact\\n");
        record_route();
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


@dataclass
class Registrar:
    process: subprocess.Popen
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log()))

    def wait_for(self, pattern: str, times: int = 1, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.count(pattern) < times:
            time.sleep(0.1)
        return self.count(pattern)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_registrar(tmp: Path, port: int, user: str, password_env: str, env: dict) -> Registrar:
    """Run Kamailio in the foreground as the registrar of ``user`` on 127.0.0.1:``port``."""
    run_dir = tmp / "kamailio"
    run_dir.mkdir()
    config = run_dir / "kamailio.cfg"
    config.write_text(_CONFIG.format(port=port, user=user, password_env=password_env))
    log_path = run_dir / "kamailio.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["kamailio", "-DD", "-E", "-f", str(config), "-P", str(run_dir / "pid"),
             "-Y", str(run_dir), "-m", "32", "-M", "4"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    registrar = Registrar(process, port, log_path)
    if not _answers_sip(port, process, timeout=10.0):
        registrar.stop()
        raise AssertionError(f"kamailio did not start:\n{registrar.log()[-3000:]}")
    return registrar


def _answers_sip(port: int, process: subprocess.Popen, timeout: float) -> bool:
    """True once something on 127.0.0.1:``port`` answers an OPTIONS request."""
    probe = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-probe\r\n"
        "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
        "Call-ID: probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 2\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        while time.monotonic() < deadline and process.poll() is None:
            sock.sendto(probe, ("127.0.0.1", port))
            try:
                if sock.recv(4096).startswith(b"SIP/2.0"):
                    return True
            except OSError:
                pass
    return False
