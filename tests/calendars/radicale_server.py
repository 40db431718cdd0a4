"""A real Radicale CalDAV server for the tests: htpasswd logins, a free loopback port.

``RadicaleServer.start(folder)`` runs ``python -m radicale`` (the PyPI package) on
127.0.0.1 with SHA-512 htpasswd entries, its collections in ``folder``; ``stop()`` and
``start()`` again keep the collections (a server that went down and came back).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import caldav
from passlib.hash import sha512_crypt

from tests.ports import free_port


@dataclass
class RadicaleServer:
    folder: Path
    users: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def collection_url(self, user: str, name: str) -> str:
        return f"{self.base_url}{user}/{name}/"

    def start(self) -> RadicaleServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        users = self.folder / "users"
        # 5000 rounds (the crypt default) keeps each login check cheap for the tests
        users.write_text("".join(f"{name}:{sha512_crypt.using(rounds=5000).hash(pw)}\n"
                                 for name, pw in self.users.items()))
        config = self.folder / "config"
        config.write_text(
            "[server]\n"
            f"hosts = 127.0.0.1:{self.port}\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {users}\n"
            "htpasswd_encryption = sha512\n"
            "delay = 0\n"
            "[storage]\n"
            f"filesystem_folder = {self.folder / 'collections'}\n"
            "[logging]\n"
            "level = warning\n"
            "mask_passwords = True\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=open(self.folder / "radicale.log", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Radicale did not start: "
                                       + (self.folder / "radicale.log").read_text()[-2000:]
                                       ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def client(self, user: str, timeout: int = 10) -> caldav.DAVClient:
        """A caldav client logged in as ``user`` (the doctor's phone, in the tests)."""
        return caldav.DAVClient(url=self.base_url, username=user, password=self.users[user],
                                timeout=timeout)

    def make_calendar(self, user: str, name: str) -> str:
        """Create a calendar collection of ``user``; returns its address."""
        with self.client(user) as client:
            client.principal().make_calendar(name=name, cal_id=name)
        return self.collection_url(user, name)
