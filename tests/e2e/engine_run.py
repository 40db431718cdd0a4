"""Helpers to run Telesec as a user would: a prepared data directory, `telesec serve`,
staff accounts created with `telesec users add` and logged in through the API with TOTP.

Shared by the acceptance test (tests/e2e) and the fault tests (tests/faults).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp

from tests.e2e.conftest import _flow_open_all_day, _telesec
from tests.engine.test_serve import sip_options
from tests.ports import free_port, free_rtp_range
from tests.telephony.peers import REPO


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any TELESEC_* variable, plus ``settings``; the
    repository on PYTHONPATH, so that workers can run the test handlers of tests/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    env["TELESEC_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(settings)
    return env


def prepare_demo(env: dict[str, str], data_dir: Path, *, secretaries: str | None = None,
                 secretary_line: str = "none") -> Path:
    """`telesec init`, demo seed, the practice's ``secretary_line`` (by default none: the
    demo's line, a fixed loopback port, is rung only by tests that set it), French prompts
    and the demo practice's own flow (open all day; ``secretaries`` as the address
    `transfer: secretaries` rings). Returns the flow.

    The prompts are synthesised meanwhile (espeak-ng, the longest step; it needs only the
    data directory), so the CLI's start-ups and the synthesis overlap."""
    data_dir.mkdir(parents=True, exist_ok=True)
    synth = subprocess.Popen([sys.executable, "-m", "telesec.cli", "prompts", "synth",
                              "--lang", "fr"], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _telesec(env, "init")
        _telesec(env, "demo", "seed")
        _telesec(env, "practice", "set", "demo", f"secretary_line={secretary_line}")
    finally:
        output, _ = synth.communicate(timeout=300)
    assert synth.returncode == 0, f"telesec prompts synth: {output}"
    _flow_open_all_day(data_dir)
    flow = data_dir / "flows" / "demo.yaml"
    if secretaries is not None:
        text = flow.read_text()
        assert text.count("  secretaries: secretaries\n") == 1
        flow.write_text(text.replace("  secretaries: secretaries\n",
                                     f'  secretaries: "{secretaries}"\n'))
    _telesec(env, "flows", "check", str(flow))
    return flow


@dataclass
class Served:
    """A running `telesec serve`; its whole output (engine, workers, Kamailio) in ``log_path``."""

    process: subprocess.Popen
    log_path: Path
    api_port: int
    sip_port: int
    worker_base_port: int
    scheme: str = "http"  # https with TELESEC_API__HTTPS (a self-signed certificate)

    @property
    def api(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.api_port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode


def start_serve(env: dict[str, str], run_dir: Path, *, workers: int = 1, max_calls: int = 3,
                ready_timeout: float = 120.0, extra_args: tuple[str, ...] = ()) -> Served:
    """`telesec serve` on free loopback ports; returns once the API (unless ``--no-api``
    is among ``extra_args``) and the SIP front answer."""
    api_port, sip_port, worker_base = free_port(), free_port(), free_port(span=2)
    with_api = "--no-api" not in extra_args
    relay_first, relay_last = free_rtp_range()  # the front's rtpengine: not the default
    env = {
        **env,
        "TELESEC_SIP__MEDIA__PORT_MIN": str(relay_first),
        "TELESEC_SIP__MEDIA__PORT_MAX": str(relay_last),
        "TELESEC_API__PORT": str(api_port),
        "TELESEC_SIP__LISTEN_PORT": str(sip_port),
        "TELESEC_SIP__WORKER_BASE_PORT": str(worker_base),
        "TELESEC_SIP__WORKERS": str(workers),
        "TELESEC_SIP__CALLS_PER_WORKER": str(max_calls),
    }
    log_path = run_dir / "serve.log"
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "telesec.cli", "serve", *extra_args], env=env, cwd=run_dir,
            stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
    scheme = "https" if env.get("TELESEC_API__HTTPS", "").lower() == "true" else "http"
    served = Served(process, log_path, api_port, sip_port, worker_base, scheme)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, served.logs()[-3000:]
        try:
            healthy = not with_api or httpx.get(f"{served.api}/health", timeout=1,
                                                verify=False).status_code == 200
        except httpx.HTTPError:
            healthy = False
        status = sip_options(sip_port, timeout=0.5) if healthy else None
        if status and " 200 " in status:
            return served
        time.sleep(0.5)
    served.stop()
    raise AssertionError(f"telesec serve did not come up: {served.logs()[-3000:]}")


@dataclass
class StaffLogin:
    login: str
    password: str
    totp: pyotp.TOTP


def add_staff(env: dict[str, str], login: str, *args: str) -> StaffLogin:
    """`telesec users add LOGIN ARGS...`: the one-time password and the TOTP enrolment."""
    out = _telesec(env, "users", "add", login, *args)
    password = re.search(r"one-time password: (\S+)", out)
    uri = re.search(r"(otpauth://\S+)", out)
    assert password and uri, out
    return StaffLogin(login, password.group(1), pyotp.parse_uri(uri.group(1)))


def log_in(client: httpx.Client, staff: StaffLogin) -> httpx.Client:
    """Log ``client`` in with password + TOTP (the first-login password change done)."""
    answer = client.post("/auth/login", json={
        "login": staff.login, "password": staff.password, "totp_code": staff.totp.now()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    client.headers["Authorization"] = f"Bearer {body['token']}"
    if body["must_change_password"]:
        new_password = staff.password + "-changed-at-first-login"
        changed = client.post("/auth/password", json={
            "current_password": staff.password, "new_password": new_password})
        assert changed.status_code == 200, changed.text
        staff.password = new_password
    return client


def api_session(base_url: str, staff: StaffLogin) -> httpx.Client:
    """An HTTP client of a running API, logged in as ``staff``."""
    return log_in(httpx.Client(base_url=base_url, timeout=30), staff)


def telesec_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """A `telesec` command as a user runs it (exit code and output left to the caller)."""
    return subprocess.run([sys.executable, "-m", "telesec.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
