"""Attacks on a running API, as scripts from outside: each must fail.

- forged client addresses (rotating X-Forwarded-For) against the per-address limit;
- an oversized login body; the /docs page with its third-party scripts;
- after a GDPR erasure through the API, nothing of the patient's identity is left in
  the data directory (database, WAL, vault, keyring...) nor in the server's log.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.security.conftest import Served

# the planted patient: every form a name, birth date or number could be written in
NEEDLES = [b"zephyrine", "zéphyrine".encode(), b"quillardoux", b"1951-08-23", b"19510823",
           b"23/08/1951", b"23.08.1951", b"0611223344", b"611223344"]


def test_rotating_x_forwarded_for_does_not_escape_the_address_limit(served: Served) -> None:
    def attempt(n: int) -> int:  # no code: refused (422) once past the limits, cheaply
        return httpx.post(f"{served.base}/auth/login", timeout=60,
                          headers={"X-Forwarded-For": f"198.51.100.{n}"},
                          json={"login": f"guess{n}", "password": "wrong password"}
                          ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(attempt, range(30)))
    assert set(codes) == {422, 429} and codes.count(429) >= 5, codes  # 20 per address


def test_an_oversized_login_and_the_docs_page_are_refused(served: Served) -> None:
    huge = httpx.post(f"{served.base}/auth/login", timeout=60,
                      content=b'{"login": "' + b"a" * (8 * 1024 * 1024) + b'"}',
                      headers={"content-type": "application/json"})
    assert huge.status_code == 413
    for path in ("/docs", "/redoc"):
        assert httpx.get(served.base + path, timeout=30).status_code == 404
    assert "default-src 'self'" in httpx.get(
        f"{served.base}/openapi.json", timeout=30).headers["content-security-policy"]


def _files(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_an_erased_patient_leaves_nothing_on_disk(served: Served) -> None:
    sam, ada = served.login("sam"), served.login("ada")
    made = httpx.post(f"{served.base}/practices/demo/patients", headers=sam, timeout=60,
                      json={"first_name": "Zéphyrine", "last_name": "Quillardoux",
                            "birth_date": "1951-08-23", "phone": "06 11 22 33 44"})
    assert made.status_code == 201, made.text
    patient = made.json()["id"]
    found = httpx.get(f"{served.base}/practices/demo/patients", headers=sam, timeout=60,
                      params={"birth_date": "1951-08-23"})
    assert patient in [p["id"] for p in found.json()]
    erased = httpx.post(f"{served.base}/gdpr/patients/{patient}/erase", headers=ada,
                        timeout=60, json={"reason": "patient's request"})
    assert erased.status_code == 200, erased.text
    files = _files(served.data_dir, served.anchor.parent)
    names = {p.name for p in files}
    assert {"telesec.db", "telesec.db-wal", "keyring.json"} <= names, names  # WAL included
    leaks = [(p.name, needle) for p in [*files, served.log]
             for needle in NEEDLES if needle in p.read_bytes().lower()]
    assert leaks == []
    after = httpx.get(f"{served.base}/patients/{patient}", headers=sam, timeout=60)
    assert after.status_code == 404
