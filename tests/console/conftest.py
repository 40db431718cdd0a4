"""Fixtures of the console tests: the API served by uvicorn on loopback, a headless Chromium.

The browser is Debian's ``/usr/bin/chromium`` driven by the ``playwright`` Python package
(never ``playwright install``). The server runs in a thread of this process, on a free
127.0.0.1 port, over the API test world (SQLite, keyring, vault, demo practice).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, expect

from storage.db import Database
from storage.keyring import Keyring
from tests.api.conftest import ApiWorld, build_world

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--autoplay-policy=no-user-gesture-required", "--lang=fr-FR",
]
VIEWPORT = {"width": 1280, "height": 860}
WAIT_MS = 15_000  # generous: CI machines are shared


expect.set_options(timeout=WAIT_MS)


@dataclass
class ConsoleSite:
    """The API world and the address where uvicorn serves it."""

    world: ApiWorld
    base_url: str
    shots: Path

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def shot(self, page: Page, name: str) -> Path:
        """A full-page screenshot of the screen on display (kept for people to look at)."""
        target = self.shots / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        return target


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


def _serve(world: ApiWorld) -> tuple[uvicorn.Server, threading.Thread, str]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(world.app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=1, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                              name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def site(sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path) -> Iterator[ConsoleSite]:
    """The staff API with the console, over the demo practice, served on loopback."""
    world = build_world(sqlite_db, installed_keyring, tmp_path)
    server, thread, base_url = _serve(world)
    shots = Path(os.environ.get("TELESEC_CONSOLE_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield ConsoleSite(world, base_url, shots)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        world.client.close()
        world.app.state.context.feed.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies); fails the test on a script error or CSP refusal."""
    context = browser.new_context(viewport=VIEWPORT, locale="fr-FR",
                                  timezone_id="Europe/Paris")
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on("console", lambda message: problems.append(message.text)
              if message.type == "error" and "Failed to load resource" not in message.text
              else None)
    yield opened
    context.close()
    assert not problems, problems


def log_in(page: Page, site: ConsoleSite, login: str, *, password: str | None = None,
           recovery_code: str | None = None) -> None:
    """Fill the console's login form with password and a fresh TOTP code (or recovery)."""
    enrolment = site.world.users[login]
    page.goto(site.url("/"))
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe", exact=True).fill(password or enrolment.password)
    if recovery_code:
        page.get_by_role("button", name="Utiliser un code de secours").click()
        page.get_by_label("Code de secours").fill(recovery_code)
    else:
        page.get_by_label("Code de l'application d'authentification").fill(
            pyotp.TOTP(enrolment.totp_secret).now())
    page.get_by_role("button", name="Se connecter").click()
