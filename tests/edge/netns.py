"""Network namespaces for tests that need a NAT: made, used and removed by the test itself.

:class:`NatLab` builds three namespaces with private addresses that exist only inside
them: ``node`` (a practice's machine) behind ``router`` (nftables masquerade, forwarding
only replies: no port forwarded) and ``public`` (the provider and its callers). Names
are unique per run; :meth:`NatLab.destroy` kills what was started in them and deletes them
(deleting a namespace deletes its veth ends), also after a failure.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _in(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *args], check=check, capture_output=True,
                          text=True, timeout=20)


@dataclass
class NatLab:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    octet: int = field(default_factory=lambda: random.randrange(20, 250))
    processes: list[subprocess.Popen] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    @property
    def node(self) -> str:
        return f"tsn-{self.tag}"

    @property
    def router(self) -> str:
        return f"tsr-{self.tag}"

    @property
    def public(self) -> str:
        return f"tsp-{self.tag}"

    @property
    def node_address(self) -> str:
        return f"10.{self.octet}.1.2"

    @property
    def router_inside(self) -> str:
        return f"10.{self.octet}.1.1"

    @property
    def router_outside(self) -> str:  # the practice's one public address
        return f"10.{self.octet}.2.1"

    @property
    def public_address(self) -> str:
        return f"10.{self.octet}.2.2"

    def create(self) -> NatLab:
        for ns in (self.node, self.router, self.public):
            _ip("netns", "add", ns)
            self.created.append(ns)
            _in(ns, "ip", "link", "set", "lo", "up")
        lan_n, lan_r = f"n{self.tag}", f"rl{self.tag}"
        wan_r, wan_p = f"rw{self.tag}", f"p{self.tag}"
        _ip("link", "add", lan_n, "netns", self.node, "type", "veth", "peer", "name", lan_r,
            "netns", self.router)
        _ip("link", "add", wan_r, "netns", self.router, "type", "veth", "peer", "name", wan_p,
            "netns", self.public)
        for ns, link, address in ((self.node, lan_n, self.node_address),
                                  (self.router, lan_r, self.router_inside),
                                  (self.router, wan_r, self.router_outside),
                                  (self.public, wan_p, self.public_address)):
            _in(ns, "ip", "addr", "add", f"{address}/24", "dev", link)
            _in(ns, "ip", "link", "set", link, "up")
        _in(self.node, "ip", "route", "add", "default", "via", self.router_inside)
        _in(self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ruleset = f"""
table ip telesec_nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{wan_r}" masquerade
    }}
}}
table inet telesec_filter {{
    chain forward {{
        type filter hook forward priority filter; policy drop;
        iifname "{lan_r}" accept
        ct state established,related accept
    }}
}}
"""
        subprocess.run(["ip", "netns", "exec", self.router, "nft", "-f", "-"], input=ruleset,
                       text=True, check=True, capture_output=True, timeout=10)
        return self

    def ruleset(self) -> str:
        return _in(self.router, "nft", "list", "ruleset").stdout

    def popen(self, ns: str, args: list[str], **options) -> subprocess.Popen:
        """Start ``args`` inside ``ns``; it is killed by :meth:`destroy`."""
        process = subprocess.Popen(["ip", "netns", "exec", ns, *args],
                                   start_new_session=True, **options)
        self.processes.append(process)
        return process

    def run(self, ns: str, args: list[str], timeout: float = 60, **options
            ) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *args], timeout=timeout,
                              capture_output=True, text=True, **options)

    def destroy(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        # anything still inside a namespace (a grandchild in its own group) goes too
        for ns in self.created:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created.clear()
