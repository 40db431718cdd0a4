"""Two engine nodes behind one front: a race for one slot; 200 calls spread over both; the
front relays their media and rings the console softphones registered on it."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduling.service import Agenda
from storage.db import Database
from storage.models import Appointment, Patient, Practice

from .conftest import NODE_HOSTS, REPO, WORKERS_PER_NODE, Cluster, wait_until

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

CALLS = 200


def _demo_practice_and_patients(db: Database) -> tuple[int, list[int]]:
    with db.session() as session:
        practice = session.scalar(select(Practice).where(Practice.slug == "demo"))
        assert practice is not None
        patients = [session.scalar(select(Patient.id).where(
            Patient.practice_id == practice.id, Patient.code == code))
            for code in ("100005", "100006")]  # two demo patients
        return practice.id, [p for p in patients if p is not None]


def test_two_callers_racing_for_one_slot_through_both_nodes_book_it_once(
        cluster: Cluster) -> None:
    db = Database(cluster.env["TELESEC_DATABASE_URL"])
    try:
        practice_id, (first, second) = _demo_practice_and_patients(db)
        agenda = Agenda(db)
        slots = agenda.find_slots(practice_id, "consultation", limit=1)
        assert isinstance(slots, list) and slots, slots
        slot = slots[0]
        # both calls are answered first (one on each node), then book at the same instant
        go_at = time.time() + 2.5
        cluster.race_file.write_text(json.dumps({
            "practice_id": slot.practice_id, "practitioner_id": slot.practitioner_id,
            "practitioner_name": slot.practitioner_name,
            "visit_type_code": slot.visit_type_code, "starts_at": slot.starts_at.isoformat(),
            "ends_at": slot.ends_at.isoformat(), "timezone": slot.timezone, "go_at": go_at,
        }))
        runs = [cluster.sipp(f"race{n}", 1, rate=1, hold_ms=4000, limit=1,
                             service=f"race-{patient}")
                for n, patient in enumerate((first, second))]
        results = [run.finish(timeout=60) for run in runs]
        assert results == [(1, 0), (1, 0)], [run.errors()[-2000:] for run in runs]

        def race_reports() -> list[dict]:
            return [r for node in cluster.nodes.values() for r in node.reports() if "race" in r]

        wait_until(lambda: len(race_reports()) == 2, 30)  # written as each handler returns
        reports = race_reports()
        assert len(reports) == 2, reports
        assert {r["node"] for r in reports} == set(NODE_HOSTS), reports  # one call per node
        outcomes = Counter(r["race"] for r in reports)
        assert outcomes == {"booked": 1, "slot_taken": 1}, outcomes
        with db.session() as session:
            booked = session.scalars(select(Appointment).where(
                Appointment.practitioner_id == slot.practitioner_id,
                Appointment.starts_at < slot.ends_at,
                Appointment.ends_at > slot.starts_at)).all()
            assert len(booked) == 1
            winner = next(r for r in reports if r["race"] == "booked")
            assert booked[0].patient_id == winner["patient_id"]
            assert booked[0].idempotency_key == winner["call_id"]
        assert slot.ends_at - slot.starts_at > timedelta(0)
        # both nodes appended to the one audit chain (holds, the booking): still intact
        assert "intact" in cluster.telesec("audit", "verify").lower()
    finally:
        db.dispose()


def test_two_hundred_calls_spread_over_both_nodes_without_a_failure(cluster: Cluster) -> None:
    # 8 calls a second held 1 s: about 8-10 up at once, for 2 nodes x 2 workers x 4 lines
    started = time.monotonic()
    run = cluster.sipp("spread", CALLS, rate=8, hold_ms=1000, limit=12)
    successful, failed = run.finish()
    took = time.monotonic() - started
    deaths = [line for node in cluster.nodes.values() for line in node.worker_deaths()]
    assert not deaths, deaths  # a worker crashing under load is a worker bug
    assert (successful, failed) == (CALLS, 0), run.errors()[-3000:]

    def reports_by_node() -> dict[str, list[dict]]:  # a report is written once the call has ended
        return {name: [r for r in node.reports() if r["call_id"].startswith("spread-")]
                for name, node in cluster.nodes.items()}

    wait_until(lambda: sum(map(len, reports_by_node().values())) >= CALLS, 30)
    by_node = reports_by_node()
    counts = {name: len(rows) for name, rows in by_node.items()}
    print(f"\n{CALLS} calls in {took:.1f} s through the front: {counts} per node")
    assert sum(counts.values()) == CALLS, counts
    # round-robin over the interleaved workers of both nodes: close to half each
    assert all(count >= CALLS // 2 - 20 for count in counts.values()), counts
    # every call was held until the caller hung up (no BYE from the engine, no refusal)
    reasons = Counter(r.get("end_reason") for rows in by_node.values() for r in rows)
    assert reasons == {"caller hung up": CALLS}, reasons

    # the front's own view agrees: each call's last hop was the node that reported it
    routed = cluster.final_hosts("spread")
    assert len(routed) == CALLS
    for name, rows in by_node.items():
        assert {routed[r["call_id"]] for r in rows} == {NODE_HOSTS[name]}
    per_worker = Counter(routed.values())
    assert len(per_worker) == len(NODE_HOSTS) and sum(per_worker.values()) == CALLS
    assert WORKERS_PER_NODE == 2


def test_the_shared_front_relays_the_nodes_media(cluster: Cluster) -> None:
    run = cluster.sipp("relayed", 1, rate=1, hold_ms=4000, limit=1)
    assert wait_until(lambda: cluster.final_hosts("relayed"), 10)
    [call_id] = cluster.final_hosts("relayed")
    relayed = wait_until(lambda: cluster.relay_holds(call_id), 5)
    assert run.finish() == (1, 0), run.errors()[-3000:]
    assert relayed, "the front's rtpengine did not hold the call's media"
    # the caller's BYE through the front released the relay session (not its timeout)
    assert wait_until(lambda: not cluster.relay_holds(call_id), 3), "relay kept after the BYE"
    assert "media relay up: RTP ports" in cluster.front_text()


def _reply(request: str, status: str) -> str:
    """A response to ``request`` (its Via, From, To with a tag, Call-ID and CSeq)."""
    heads = request.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    keep = [line for line in heads if line.split(":", 1)[0].lower()
            in ("via", "v", "from", "f", "call-id", "i", "cseq")]
    to = next(line for line in heads if line.split(":", 1)[0].lower() in ("to", "t"))
    return "\r\n".join([f"SIP/2.0 {status}", *keep, f"{to};tag=desk1",
                        "Content-Length: 0", "", ""])


async def _desk_declines(cluster: Cluster, token) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Register the desk on the shared front over its WebSocket, have a caller ask a node
    for it, and decline the INVITE the front forks to the page (486). Returns the INVITE
    and the caller's Call-ID."""
    import asyncio
    import uuid

    import websockets

    from tests.telephony_pool.test_webphone_front import REALM, _digest, _register

    url = f"ws://127.0.0.1:{cluster.ws_port}"
    async with websockets.connect(url, subprotocols=["sip"], open_timeout=10) as ws:
        call_id = uuid.uuid4().hex
        await ws.send(_register("desk-demo", call_id, 1))
        challenge = await asyncio.wait_for(ws.recv(), 10)
        header = next(line for line in challenge.split("\r\n")
                      if line.lower().startswith("www-authenticate"))
        await ws.send(_register("desk-demo", call_id, 2, _digest(
            header, token.username, token.password, f"sip:{REALM}")))
        registered = await asyncio.wait_for(ws.recv(), 10)
        assert registered.startswith("SIP/2.0 200"), registered.split("\r\n", 1)[0]
        run = cluster.sipp("desk", 1, rate=1, hold_ms=4000, limit=1, service="desk-demo")
        invite = await asyncio.wait_for(ws.recv(), 30)
        while not invite.startswith("INVITE "):  # keep-alives
            invite = await asyncio.wait_for(ws.recv(), 30)
        await ws.send(_reply(invite, "486 Busy Here"))
        ack = await asyncio.wait_for(ws.recv(), 10)
        assert ack.startswith("ACK "), ack.split("\r\n", 1)[0]
        assert run.finish(timeout=60) == (1, 0), run.errors()[-3000:]
    [caller_call] = cluster.final_hosts("desk")
    return invite, caller_call


def test_the_shared_front_rings_the_console_softphones(cluster: Cluster) -> None:
    """A page registers its desk on the shared front (token signed with the shared
    secret); a node rings the desk through the front; the page gets the call as WebRTC
    (ICE, DTLS-SRTP from the front's rtpengine) with the caller's Call-ID; it declines,
    and the front drops that leg's relay session at once."""
    from foundation.webphone_tokens import load_or_create_secret, mint
    from tests.telephony_pool.test_webphone_front import _run

    token = mint(load_or_create_secret(cluster.webphone_secret), login="alice",
                 practice_slug="demo", now=time.time(), ttl_s=600)
    invite, caller_call = _run(_desk_declines(cluster, token))
    body = invite.split("\r\n\r\n", 1)[1]
    assert "UDP/TLS/RTP/SAVPF" in body and "a=fingerprint:" in body, body
    assert "a=candidate:" in body, body
    port = int(body.split("m=audio ", 1)[1].split()[0])
    assert cluster.relay_ports[0] <= port <= cluster.relay_ports[1], port  # the front's relay
    assert f"X-Telesec-Call: {caller_call}" in invite
    leg = next(line.split(":", 1)[1].strip() for line in invite.split("\r\n")
               if line.lower().startswith(("call-id:", "i:")))
    assert wait_until(lambda: not cluster.relay_holds(leg), 3), "the declined leg kept its relay"
    reports = [r for node in cluster.nodes.values() for r in node.reports()
               if r.get("call_id") == caller_call]
    assert wait_until(lambda: any("desk" in r for node in cluster.nodes.values()
                                  for r in node.reports() if r.get("call_id") == caller_call),
                      10), reports
    [report] = [r for node in cluster.nodes.values() for r in node.reports()
                if r.get("call_id") == caller_call and "desk" in r]
    assert (report["desk"], report["bridged"]) == (486, False), report


def test_a_console_softphone_calls_back_through_the_shared_front(cluster: Cluster) -> None:
    """A page's call-back through the shared front leaves through the practice's line with
    the practice's number (the desks the front reads from the database)."""
    import subprocess

    from foundation.webphone_tokens import load_or_create_secret, mint
    from tests.telephony_pool.test_webphone_front import _call_back, _run

    scenario = cluster.root / "patient_called_back.xml"
    scenario.write_text((REPO / "tests" / "telephony_pool" / "sipp" / "patient_called_back.xml")
                        .read_text().replace("+33100000001", "+33199000000"))
    patient = subprocess.Popen(
        ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(cluster.patient_port),
         "-mp", str(cluster.patient_port + 4), "-m", "1", "-timeout", "30s", "-timeout_error",
         "-nostdin", "-trace_err", "-error_file", "patient.errors"],
        cwd=cluster.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        token = mint(load_or_create_secret(cluster.webphone_secret), login="alice",
                     practice_slug="demo", now=time.time(), ttl_s=600)
        status = _run(_call_back(f"ws://127.0.0.1:{cluster.ws_port}", "desk-demo",
                                 token.username, token.password))
        assert status == "SIP/2.0 486 Busy Here", status
        code = patient.wait(30)
        errors = cluster.root / "patient.errors"
        assert code == 0, errors.read_text()[-2000:] if errors.exists() else code
    finally:
        if patient.poll() is None:
            patient.kill()
            patient.wait()
