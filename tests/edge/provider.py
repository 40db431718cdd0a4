"""A stand-in for a practice's SIP provider: Kamailio as registrar and proxy.

It challenges REGISTER with 401 and the account's outgoing INVITEs with 407 (digest, one
account), routes calls to the account to where it registered from (behind NAT: the
address the REGISTER came from), and routes the account's calls out to numbers the test
gives it (``0612345678`` → a sipp "mobile"). It logs what the tests check: each REGISTER,
each keep-alive OPTIONS, the From / P-Asserted-Identity of the account's outgoing calls.
Test numbers only; nothing here runs in production.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=1
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
listen=udp:{host}:{port}
alias="{domain}"
alias="{host}:{port}"

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
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
loadmodule "nathelper.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 10)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "received_avp", "$avp(received)")
modparam("nathelper", "received_avp", "$avp(received)")
modparam("rr", "append_fromtag", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    force_rport();
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("{domain}", "$env(PROVIDER_PASSWORD)", "0")) {{
            xlog("L_NOTICE", "PROVIDER REGISTER challenged 401\\n");
            www_challenge("{domain}", "0");
            exit;
        }}
        if ($au != "{user}") {{ sl_send_reply("403", "Forbidden"); exit; }}
        fix_nated_register();
        if (!save("location")) {{ sl_reply_error(); exit; }}
        xlog("L_NOTICE",
             "PROVIDER REGISTER ok user=$au expires=$hdr(Expires) source=$si contact=$ct\\n");
        exit;
    }}
    if (is_method("OPTIONS") && !has_totag()) {{
        xlog("L_NOTICE", "PROVIDER OPTIONS from $si ua=$ua\\n");
        sl_send_reply("200", "OK");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            handle_ruri_alias();
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{ if (t_check_trans()) t_relay(); exit; }}
        sl_send_reply("404", "Not Here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) t_relay(); exit; }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    if ($fU == "{user}") {{
        # the account calls out: digest auth first (407), then to the number
        if (!pv_proxy_authenticate("{domain}", "$env(PROVIDER_PASSWORD)", "0")) {{
            xlog("L_NOTICE", "PROVIDER INVITE challenged 407\\n");
            proxy_challenge("{domain}", "0");
            exit;
        }}
        consume_credentials();
        xlog("L_NOTICE", "PROVIDER OUT to=$rU from=$fU pai=$ai source=$si\\n");
        {outbound_routes}
        sl_send_reply("404", "No Such Number");
        exit;
    }}
    # a caller dials the practice: to the account, wherever it registered from
    if ($rU == "{user}" || $rU == "{did}") {{
        $ru = "sip:{user}@{domain}";
        if (!lookup("location")) {{
            xlog("L_NOTICE", "PROVIDER IN not registered\\n");
            sl_send_reply("480", "Temporarily Unavailable");
            exit;
        }}
        xlog("L_NOTICE", "PROVIDER IN to the account source=$si\\n");
        record_route();
        t_on_reply("IN_REPLY");
        t_relay();
        exit;
    }}
    xlog("L_NOTICE", "PROVIDER IN unknown number $rU\\n");
    {unknown_route}
}}

onreply_route[IN_REPLY] {{
    if (nat_uac_test("1")) {{
        set_contact_alias();
    }}
    xlog("L_NOTICE", "PROVIDER IN reply $rs\\n");
}}
"""


@dataclass
class Provider:
    process: subprocess.Popen
    host: str
    port: int
    user: str
    domain: str
    log_path: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log()))

    def wait_for(self, pattern: str, times: int = 1, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.count(pattern) < times:
            time.sleep(0.1)
        return self.count(pattern)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def provider_config(host: str, port: int, user: str, domain: str, did: str,
                    routes: dict[str, str], unknown: str = "") -> str:
    """``routes``: number as the provider writes it -> host:port it is delivered to;
    ``unknown``: host:port where calls to other numbers go (a practice that is not ours)."""
    outbound = "\n        ".join(
        f'if ($rU == "{number}") {{ $du = "sip:{target}"; record_route(); t_relay(); exit; }}'
        for number, target in routes.items()
    )
    unknown_route = (f'$ru = "sip:" + $rU + "@{unknown}"; record_route(); t_relay(); exit;'
                     if unknown else 'sl_send_reply("404", "Not Found"); exit;')
    return _CONFIG.format(host=host, port=port, user=user, domain=domain, did=did,
                          outbound_routes=outbound, unknown_route=unknown_route)


def start_provider(run_dir: Path, *, host: str, port: int, user: str, password: str,
                   domain: str, did: str, routes: dict[str, str], unknown: str = "",
                   netns: str = "") -> Provider:
    """Run the stand-in provider in the foreground (inside ``netns`` if given)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_dir / "provider.cfg"
    config.write_text(provider_config(host, port, user, domain, did, routes, unknown))
    log_path = run_dir / "provider.log"
    prefix = ["ip", "netns", "exec", netns] if netns else []
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*prefix, "kamailio", "-DD", "-E", "-f", str(config), "-P",
             str(run_dir / "provider.pid"), "-Y", str(run_dir), "-m", "32", "-M", "4"],
            stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, PROVIDER_PASSWORD=password), start_new_session=True,
        )
    provider = Provider(process, host, port, user, domain, log_path)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the stand-in provider did not start:\n{provider.log()[-3000:]}")
        if "PROVIDER" in provider.log() or _listening(run_dir):
            return provider
        time.sleep(0.1)
    provider.stop()
    raise AssertionError(f"the stand-in provider did not start:\n{provider.log()[-3000:]}")


def _listening(run_dir: Path) -> bool:
    # kamailio writes its pid file once its children are forked and listening
    return (run_dir / "provider.pid").exists()


def free_loopback_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
