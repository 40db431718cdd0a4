"""One engine node killed mid-run: the front's probing sends new calls to the survivor."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from .conftest import NODE_HOSTS, ROUTED, WORKERS_PER_NODE, Cluster, wait_until

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

CALLS = 150
ABORTED = re.compile(r"Aborting call .*?Call-Id '([^']+)'")


def test_a_killed_node_only_loses_its_own_calls_and_new_calls_go_to_the_survivor(
        cluster: Cluster) -> None:
    survivor, victim = cluster.nodes["a"], cluster.nodes["b"]
    # 5 calls a second held 1 s: about 6 up at once, which the survivor alone can hold
    # (2 workers x 4 lines); before the kill, half of them on each node
    run = cluster.sipp("failover", CALLS, rate=5, hold_ms=1000, limit=8)
    assert wait_until(lambda: len(cluster.final_hosts("failover")) >= 50, 40)

    victim.kill()  # supervisor and workers at once, as when a machine dies
    killed_at = time.monotonic()
    at_kill = cluster.front_text()

    def victim_marked_down() -> bool:
        flags = cluster.dispatcher_flags()
        down = [f for (host, _), f in flags.items() if host == victim.host and f[0] == "I"]
        return len(down) == WORKERS_PER_NODE

    assert wait_until(victim_marked_down, 15, step=0.05), cluster.dispatcher_flags()
    failover_s = time.monotonic() - killed_at
    after_failover = len(cluster.front_text())

    successful, failed = run.finish()
    errors = run.errors()
    front_log = cluster.front_text()
    routed = cluster.final_hosts("failover", front_log)
    failed_ids = set(ABORTED.findall(errors))

    # a worker of the survivor dying on its own is a worker bug, not a failover problem
    assert not survivor.worker_deaths(), survivor.worker_deaths()

    # only calls that were up on the dead node failed, at most its lines
    assert successful + failed == CALLS
    assert len(failed_ids) == failed, errors[-3000:]
    assert 0 < failed <= WORKERS_PER_NODE * 4, (failed, errors[-3000:])
    assert {routed[call] for call in failed_ids} == {victim.host}, failed_ids
    on_victim_before = {c for c, host in cluster.final_hosts("failover", at_kill).items()
                        if host == victim.host}
    assert failed_ids <= on_victim_before

    # the survivor's calls are untouched: every one was held until the caller hung up
    on_survivor = {c for c, host in routed.items() if host == survivor.host}

    def kept_calls() -> list[dict]:
        return [r for r in survivor.reports() if r["call_id"].startswith("failover-")]

    # each handler writes its line once the caller has hung up: a loaded machine lags
    wait_until(lambda: {r["call_id"] for r in kept_calls()} >= on_survivor, 30)
    kept = kept_calls()
    assert {r["call_id"] for r in kept} == on_survivor
    assert Counter(r["end_reason"] for r in kept) == {"caller hung up": len(kept)}
    assert not failed_ids & on_survivor

    # once the probes marked the node down, the front sends nothing more to it
    later = {host for _, host, _ in ROUTED.findall(front_log[after_failover:])}
    assert later == {survivor.host}, later
    # calls sent to the dead node before that went on to the survivor and were answered
    rerouted = [c for c, host in routed.items()
                if host == survivor.host and c in cluster.final_hosts("failover", at_kill)
                and cluster.final_hosts("failover", at_kill)[c] == victim.host]
    tried_dead = {c for c, host, _ in ROUTED.findall(front_log[len(at_kill):])
                  if c.startswith("failover-") and host == victim.host}
    print(f"\n{CALLS} calls, node {victim.name} killed after "
          f"{len(cluster.final_hosts('failover', at_kill))} had been routed: "
          f"{successful} answered and completed, {failed} failed (all up on the dead node); "
          f"dead node marked down by probing {failover_s:.2f} s after the kill; "
          f"{len(tried_dead)} call(s) sent to it meanwhile went on to the survivor; "
          f"survivor: {len(kept)} calls, none disturbed; spread {dict(Counter(routed.values()))}")
    assert set(NODE_HOSTS.values()) >= set(routed.values())
    assert not rerouted or all(c not in failed_ids for c in rerouted)
