"""foundation.processes against real processes: a small tree in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from foundation.processes import (
    cpu_seconds,
    descendants,
    group_members,
    process_table,
    processes_where,
    pss_kb,
    signal_group,
    thread_cpu_seconds,
)

# a parent that starts a child, prints the child's pid, then burns a little CPU and waits
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
end = time.process_time() + 0.2
while time.process_time() < end:
    pass
time.sleep(60)
"""


def test_a_tree_is_walked_measured_and_signalled_as_a_group() -> None:
    mark = f"TREE_MARK={uuid.uuid4().hex}"
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True,
                              start_new_session=True,
                              env={**os.environ, mark.split("=")[0]: mark.split("=")[1]})
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert child in descendants(parent.pid)
        assert child in descendants(os.getpid())  # grandchildren too
        assert set(group_members(parent.pid)) == {parent.pid, child}
        assert {parent.pid, child} <= {entry.pid for entry in process_table()}
        marked = processes_where(lambda _command, environ: mark.encode() in environ)
        assert set(marked) == {parent.pid, child}
        assert marked[child].endswith("-c import time; time.sleep(60)")
        size = pss_kb(parent.pid)
        assert size is not None and size > 1000  # a Python interpreter: megabytes
        deadline = time.monotonic() + 10
        while cpu_seconds([parent.pid]) < 0.15 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cpu_seconds([parent.pid]) >= 0.15
        threads = thread_cpu_seconds(parent.pid)
        assert threads and sum(seconds for _, seconds in threads.values()) >= 0.15
        signal_group(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while group_members(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert group_members(parent.pid) == []
    finally:
        signal_group(parent.pid, signal.SIGKILL)
        parent.wait(10)


def test_a_process_that_is_gone_is_simply_absent() -> None:
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    gone = 2**22 + 12345  # above the default pid_max: no such process
    assert done.returncode == 0
    assert pss_kb(gone) is None
    assert cpu_seconds([gone]) == 0.0
    assert thread_cpu_seconds(gone) == {}
    assert descendants(gone) == []
    signal_group(gone, signal.SIGTERM)  # no error
