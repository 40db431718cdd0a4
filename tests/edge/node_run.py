"""Run a Telesec pool from a JSON file of settings (for a pool inside a network namespace).

``python -m tests.edge.node_run SETTINGS.json`` starts the supervisor (Kamailio front,
rtpengine, workers running ``tests.edge.handlers:edge_call``), prints ``UP`` once it
serves, and drains on SIGTERM.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

from foundation.settings import load_settings
from telephony.pool_settings import PoolTuning
from telephony.supervisor import Supervisor


class Numbers:
    def __init__(self, numbers: list[str]) -> None:
        self._numbers = set(numbers)

    def numbers(self) -> set[str]:
        return self._numbers

    def phones(self, realm: str) -> list[tuple[str, str]]:
        return []

    def desks(self) -> dict[str, str]:
        return {}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(**spec["settings"])
    pool = Supervisor(settings, "tests.edge.handlers:edge_call",
                      tuning=PoolTuning(probe_interval_s=2, drain_deadline_s=5),
                      run_dir=Path(spec["run_dir"]), directory=Numbers(spec["numbers"]))

    def announce() -> None:
        while pool.status().front_alive is False:
            threading.Event().wait(0.2)
        print("UP", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    pool.run_forever(deadline=5)


if __name__ == "__main__":
    main()
