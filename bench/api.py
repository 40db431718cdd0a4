"""Staff API benchmark: agenda search, escalation fan-out to 50 SSE listeners, voicemail
streaming, against a real uvicorn server on 127.0.0.1 (SQLite, demo practice).

    .venv/bin/python bench/api.py            # 10 s per phase
    .venv/bin/python bench/api.py --quick    # 3 s per phase, fewer escalations

Prints requests/s and p50/p99 latency per phase. The server runs in a child process
(one uvicorn worker); the clients are threads of this process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.services.sessions import Sessions
from scheduling.demo import seed_demo
from staff.accounts import Accounts
from storage import escalations, identity
from storage.db import Database
from storage.keyring import Keyring
from storage.migrate import upgrade
from storage.models import ObjectKind, StaffUser
from storage.vault import Vault

LISTENERS = 50


def _serve(data_dir: str, port: int, interval: float) -> None:
    """Child process: the API under uvicorn."""
    import uvicorn

    from foundation.settings import load_settings
    from telesec.wiring import api_app

    app = api_app(load_settings(data_dir=Path(data_dir)), feed_interval=interval)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    if not samples:
        return math.nan, math.nan
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def _load(seconds: float, workers: int, request: Callable[[httpx.Client], None],
          base: str) -> tuple[int, float, list[float]]:
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            mine = []
            while time.monotonic() < stop:
                started = time.perf_counter()
                request(client)
                mine.append(time.perf_counter() - started)
            with lock:
                latencies.extend(mine)

    began = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(worker)
    return len(latencies), time.monotonic() - began, latencies


def _prepare(data_dir: Path) -> tuple[Database, dict[str, str], str]:
    keyring = Keyring.create(data_dir / "keyring.json")
    identity.install(keyring)
    url = f"sqlite:///{data_dir / 'telesec.db'}"
    upgrade(url)
    db = Database(url)
    seed_demo(db)
    accounts = Accounts(db, keyring)
    accounts.add("sam", "secretary", actor="cli:bench", practices=["demo"])
    accounts.add("lambert", "doctor", actor="cli:bench", practices=["demo"],
                 practitioner="dr-lambert")
    from datetime import timedelta

    from sqlalchemy import select, update

    sessions = Sessions(db, timedelta(minutes=15), timedelta(hours=12))
    tokens = {}
    with db.session() as session:
        session.execute(update(StaffUser).values(must_change_password=False))
    with db.read_session() as session:
        for login in ("sam", "lambert"):
            user_id = session.scalar(select(StaffUser.id).where(StaffUser.login == login))
            tokens[login] = sessions.open(user_id).token
    vault = Vault(db, keyring, data_dir / "vault")
    pcm = b"".join(struct.pack("<h", int(6000 * math.sin(i / 5))) for i in range(16000 * 30))
    with db.read_session() as session:
        from storage.models import Practitioner

        doctor = session.scalar(select(Practitioner.id).where(Practitioner.slug == "dr-lambert"))
    message = vault.put(ObjectKind.VOICEMAIL, pcm, practice_id=1, practitioner_id=doctor,
                        call_id=uuid.uuid4().hex, media_type="audio/L16;rate=16000;channels=1")
    return db, tokens, message


def _fanout(base: str, token: str, db: Database, events: int) -> tuple[list[float], int]:
    """50 listeners; ``events`` escalations published from this process (another
    process than the server: the poller picks them up)."""
    published: dict[int, float] = {}
    delays: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(LISTENERS + 1)
    received = [0]

    def listen() -> None:
        with httpx.Client(base_url=base, timeout=60) as client, client.stream(
            "GET", "/escalations/stream", headers={"Authorization": f"Bearer {token}"},
            params={"max_events": events + 1, "max_seconds": 60},
        ) as answer:
            ready.wait()
            kind = None
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "waiting":
                    escalation = json.loads(line[6:])["id"]
                    now = time.perf_counter()
                    with lock:
                        if escalation in published:
                            delays.append(now - published[escalation])
                            received[0] += 1

    threads = [threading.Thread(target=listen) for _ in range(LISTENERS)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(0.5)
    for _ in range(events):
        started = time.perf_counter()
        escalation = escalations.publish(db, call_id=uuid.uuid4().hex, practice_id=1,
                                         intent="book", reason="bench")
        with lock:
            published[escalation] = started
        time.sleep(0.2)
    for thread in threads:
        thread.join(60)
    return delays, received[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per phase")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--feed-interval", type=float, default=0.25,
                        help="seconds between the server's escalation polls")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    events = 5 if args.quick else 20
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        db, tokens, message = _prepare(data_dir)
        port = _free_port()
        env = {**os.environ, "TELESEC_DATA_DIR": str(data_dir)}
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(data_dir), str(port),
             str(args.feed_interval)], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            sam = {"Authorization": f"Bearer {tokens['sam']}"}
            doctor = {"Authorization": f"Bearer {tokens['lambert']}"}

            def search(client: httpx.Client) -> None:
                answer = client.get("/practices/demo/slots", headers=sam,
                                    params={"visit_type": "consultation", "limit": 5})
                assert answer.status_code == 200, answer.text

            def play(client: httpx.Client) -> None:
                answer = client.get(f"/voicemail/{message}/audio", headers=doctor)
                assert answer.status_code == 200 and len(answer.content) > 900_000

            def play_range(client: httpx.Client) -> None:
                answer = client.get(f"/voicemail/{message}/audio",
                                    headers={**doctor, "Range": "bytes=300000-365535"})
                assert answer.status_code == 206

            print(f"staff API on 127.0.0.1 (1 uvicorn process, SQLite), {args.clients} "
                  f"clients, {seconds:.0f} s per phase")
            print(f"{'phase':38} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
            for name, request in (("agenda search (5 slots)", search),
                                  ("voicemail playback (30 s WAV, 960 kB)", play),
                                  ("voicemail range (64 kB)", play_range)):
                count, took, latencies = _load(seconds, args.clients, request, base)
                p50, p99 = _percentiles(latencies)
                print(f"{name:38} {count:9d} {count / took:8.1f} {p50:8.1f} {p99:8.1f}")
            delays, received = _fanout(base, tokens["sam"], db, events)
            p50, p99 = _percentiles(delays)
            print(f"{'escalation fan-out, 50 SSE listeners':38} {received:9d} "
                  f"{'':>8} {p50:8.1f} {p99:8.1f}   ({events} events x {LISTENERS}; "
                  f"published by another process, poll every {args.feed_interval} s)")
        finally:
            server.terminate()
            server.wait(10)
            db.dispose()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
