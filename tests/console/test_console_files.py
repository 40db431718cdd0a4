"""The console's files as the API serves them: redirect, headers, and the house rules
(own code only, no inline script, nothing kept in browser storage)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import CONSOLE_FILES
from storage.db import Database
from storage.keyring import Keyring
from tests.api.conftest import ApiWorld, build_world

SCRIPT_FILES = sorted(CONSOLE_FILES.glob("js/*.js"))


@pytest.fixture
def sqlite_world(sqlite_db: Database, installed_keyring: Keyring,
                 tmp_path: Path) -> Iterator[ApiWorld]:
    found = build_world(sqlite_db, installed_keyring, tmp_path)
    yield found
    found.client.close()
    found.app.state.context.feed.close()


def test_root_redirects_to_the_console_served_with_a_strict_policy(sqlite_world: ApiWorld) -> None:
    client = sqlite_world.client
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code in (302, 307) and answer.headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert "media-src 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert '<script type="module" src="js/main.js"></script>' in page.text
    script = client.get("/console/js/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"].split(";")[0] in ("text/javascript",
                                                            "application/javascript")
    assert client.get("/console/console.css").headers["content-type"].startswith("text/css")
    assert client.get("/console/js/nothing.js").status_code == 404
    assert "/console" not in str(client.get("/openapi.json").json()["paths"])


def test_every_module_the_console_imports_exists() -> None:
    assert SCRIPT_FILES
    for path in SCRIPT_FILES:
        for name in re.findall(r'from "\./([\w-]+\.js)"', path.read_text()):
            assert (CONSOLE_FILES / "js" / name).is_file(), f"{path.name} imports {name}"


def test_console_code_keeps_the_house_rules() -> None:
    html = (CONSOLE_FILES / "index.html").read_text()
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "inline script"
    assert " style=" not in html and "<style" not in html
    for path in [*SCRIPT_FILES, CONSOLE_FILES / "index.html", CONSOLE_FILES / "console.css"]:
        text = path.read_text()
        for forbidden in ("localStorage", "sessionStorage", "indexedDB", "innerHTML",
                          "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                          "new Function", "http://", "https://", "//cdn"):
            assert forbidden not in text, f"{path.name}: {forbidden}"
