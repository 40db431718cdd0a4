"""Two engine nodes behind one front: a race for one slot; 200 calls spread over both."""

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

from .conftest import NODE_HOSTS, WORKERS_PER_NODE, Cluster, wait_until

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
