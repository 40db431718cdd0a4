"""docker/compose.yaml and docker/Dockerfile describe the layout the other tests run.

Docker cannot run here, so the compose file is checked against the code instead: its
front service's command goes through the same parsing and the same generated Kamailio
configuration as ``telesec front`` in the tests (and Kamailio accepts that
configuration), and every engine node's environment loads as settings that match the
front's view of it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from foundation.errors import TelesecError
from foundation.settings import Settings
from telephony.front import EngineNode, front_layout, load_nodes_file, parse_node
from telephony.kamailio import check_config, find_kamailio
from telephony.kamailio_config import render_config, write_front_files
from telephony.pool_settings import PoolTuning

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage (every service starts from it)."""
    final = (DOCKER / "Dockerfile").read_text().split("AS runtime", 1)[1]
    block = re.search(r"^ENV ((?:.*\\\n)*.*)$", final, re.MULTILINE)
    assert block is not None
    return dict(re.findall(r"(\w+)=(\S+)", block.group(1)))


def _settings(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {**_image_env(), **environment}.items():
        value = re.sub(r"\$\{[^}]+\}", "secret", str(value))  # compose interpolation
        monkeypatch.setenv(name, value)
    return Settings()


def _front_nodes(command: list[str]) -> tuple[list, int]:
    assert command[0] == "front"
    nodes = [parse_node(command[i + 1]) for i, arg in enumerate(command) if arg == "--node"]
    probe = int(command[command.index("--probe-interval") + 1])
    return nodes, probe


def test_compose_front_and_nodes_agree_and_kamailio_accepts_the_front_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("TELESEC_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    services = _compose()["services"]
    front = services["front"]
    nodes, probe = _front_nodes(front["command"])
    front_ip = front["networks"]["telesec"]["ipv4_address"]
    front_settings = _settings(front["environment"], monkeypatch)
    assert front_settings.sip.listen_host == front_ip

    engines = {name: svc for name, svc in services.items() if name.startswith("engine-")}
    assert len(engines) == len(nodes) == 2
    for node, (name, service) in zip(nodes, sorted(engines.items()), strict=True):
        assert service["command"] == ["serve", "--no-front"], name
        with monkeypatch.context() as scoped:
            settings = _settings(service["environment"], scoped)
        sip = settings.sip
        assert sip.front == "external"
        assert sip.node_host == node.host == service["networks"]["telesec"]["ipv4_address"]
        assert (sip.worker_base_port, sip.workers) == (node.base_port, node.workers)
        assert sip.front_networks == [f"{front_ip}/32"]  # workers take SIP from the front only
        assert str(settings.vault_path) == "/srv/telesec/vault"
        assert {"vault:/srv/telesec/vault", "keys:/srv/telesec/keys"} <= set(service["volumes"])
        assert settings.effective_database_url.startswith("postgresql+psycopg://")

    # the same layout and generated configuration as `telesec front` in the other tests,
    # with the listen address moved to loopback (this machine has no 172.28.0.10)
    tuning = PoolTuning(probe_interval_s=probe)
    layout = front_layout(front_settings, nodes, tuning=tuning, run_dir=tmp_path / "run")
    assert [b.host for b in layout.backends[:2]] == [nodes[0].host, nodes[1].host]  # alternate
    assert f"listen=udp:{front_ip}:5060" in render_config(layout)
    local = front_layout(front_settings.model_copy(
        update={"sip": front_settings.sip.model_copy(update={"listen_host": "127.0.0.1"})}),
        nodes, tuning=tuning, run_dir=tmp_path / "run")
    binary = find_kamailio()
    assert binary is not None
    check_config(binary, write_front_files(local))


def test_dockerfile_is_multi_stage_non_root_without_compilers_with_a_healthcheck() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.MULTILINE)
    # the console's browser code (npm), the wheels, then the slim runtime
    assert [name for _, name in stages] == ["console", "build", "runtime"]
    assert "slim" in stages[-1][0]
    final = text.split("AS runtime", 1)[1]
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang|make|-dev)\b", final)
    for package in ("kamailio", "kamailio-websocket-modules", "kamailio-autheph-modules",
                    "espeak-ng", "sox"):
        assert re.search(rf"apt-get install .*\b{package}\b", final)
    user = re.findall(r"^USER (\S+)", final, re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}
    assert "/health" in final and final.count("HEALTHCHECK") == 1
    assert 'ENTRYPOINT ["telesec"]' in final and 'CMD ["serve"]' in final


def test_front_refuses_malformed_or_overlapping_nodes_in_one_line(tmp_path: Path) -> None:
    for text in ("10.0.0.11", "10.0.0.11:port:2", "10.0.0.11:5100:0", "10.0.0.11:80:2"):
        with pytest.raises(TelesecError) as error:
            parse_node(text)
        assert "\n" not in str(error.value)
    assert parse_node("[fd00::11]:5100:3") == EngineNode("fd00::11", 5100, 3)
    settings = Settings(data_dir=tmp_path)
    overlapping = [parse_node("127.0.0.2:5100:4"), parse_node("127.0.0.2:5103:2")]
    with pytest.raises(TelesecError, match="listed twice"):
        front_layout(settings, overlapping, tuning=PoolTuning())
    nodes_file = tmp_path / "nodes.toml"
    nodes_file.write_text('[[node]]\nhost = "127.0.0.2"\nbase_port = 5100\nworkers = 2\n')
    assert load_nodes_file(nodes_file) == [EngineNode("127.0.0.2", 5100, 2)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    done = subprocess.run([sys.executable, "-m", "telesec.cli", "front"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--node" in done.stderr
