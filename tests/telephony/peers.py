"""Start real peers on loopback for the telephony tests: a worker process and sipp runs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.ports import free_port, free_rtp_base

REPO = Path(__file__).resolve().parents[2]
SIPP_DIR = Path(__file__).resolve().parent / "sipp"


@dataclass
class Worker:
    process: subprocess.Popen
    port: int
    report: Path
    stderr_path: Path
    extra: dict = field(default_factory=dict)

    def records(self) -> list[dict]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines() if line]

    def wait_records(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = self.records()
            if len(records) >= count:
                return records
            time.sleep(0.05)
        return self.records()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))


def start_worker(tmp: Path, handler: str, *args: str, env: dict | None = None) -> Worker:
    """Start ``python -m telephony.worker`` and wait for its READY line."""
    port = free_port()
    report = tmp / f"report-{port}.jsonl"
    stderr_path = tmp / f"worker-{port}.err"
    full_env = dict(os.environ, TELESEC_DEMO_REPORT=str(report), **(env or {}))
    command = [
        sys.executable, "-m", "telephony.worker", "--port", str(port),
        "--rtp-port", str(free_rtp_base()), "--handler", handler, *args,
    ]
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO, env=full_env, text=True
        )
    line = process.stdout.readline().strip()
    if line != f"READY port={port}":
        process.kill()
        process.wait(5)
        raise AssertionError(f"worker did not start: {line!r}\n{stderr_path.read_text()}")
    return Worker(process, port, report, stderr_path)


def scenario(tmp: Path, name: str, **values: object) -> Path:
    """Copy a scenario from tests/telephony/sipp/ with its @NAME@ placeholders filled."""
    text = (SIPP_DIR / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    missing = re.findall(r"@[A-Z_]+@", text)
    assert not missing, f"{name}: fill {missing}"
    path = tmp / f"{name.removesuffix('.xml')}-{len(list(tmp.iterdir()))}.xml"
    path.write_text(text)
    return path


def sipp(
    worker_port: int,
    scenario_file: Path,
    *,
    calls: int = 1,
    concurrent: int = 1,
    rate: float = 10.0,
    timeout: float = 30.0,
    service: str = "1000",
    transport: str = "u1",
    background: bool = False,
) -> subprocess.Popen | subprocess.CompletedProcess:
    """Run sipp against the worker; returns the finished run (or the process if background)."""
    command = [
        "sipp", f"127.0.0.1:{worker_port}", "-sf", str(scenario_file),
        "-s", service, "-m", str(calls), "-l", str(concurrent), "-r", str(rate),
        "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_rtp_base()),
        "-t", transport, "-timeout", f"{int(timeout)}s", "-timeout_error", "-nostdin",
        "-trace_err", "-error_file", str(scenario_file.with_suffix(".errors.log")),
        "-max_recv_loops", "1000",
    ]
    if background:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, cwd=scenario_file.parent)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout + 15,
                          cwd=scenario_file.parent)


def sipp_errors(scenario_file: Path) -> str:
    path = scenario_file.with_suffix(".errors.log")
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def self_signed_cert(tmp: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A fresh self-signed certificate and key (PEM) for ``host``, valid for one day."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    key_path.chmod(0o600)
    return cert_path, key_path


BARESIP_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{port}
sip_trans_def udp
audio_player aubridge,nil
audio_source ausine,440
audio_alert aubridge,nil
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 1
rtp_ports {rtp}-{rtp_end}
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module aubridge.so
module srtp.so
module account.so
module menu.so
"""


def baresip_call(
    tmp: Path, dial_uri: str, *, seconds: int = 6, account_params: str = ""
) -> subprocess.CompletedProcess:
    """baresip (a second, independent softphone) dials ``dial_uri`` and quits after ``seconds``.

    ``account_params`` go on its account line, e.g. ``;mediaenc=srtp-mand``.
    """
    confdir = tmp / f"baresip-{len(list(tmp.iterdir()))}"
    confdir.mkdir()
    port, rtp = free_port(span=2), free_rtp_base()  # baresip listens for TLS on p+1
    (confdir / "config").write_text(BARESIP_CONFIG.format(port=port, rtp=rtp, rtp_end=rtp + 40))
    (confdir / "accounts").write_text(
        f"<sip:patient@127.0.0.1:{port}>;regint=0{account_params}\n"
    )
    (confdir / "contacts").write_text("")
    return subprocess.run(
        ["baresip", "-f", str(confdir), "-e", f"/dial {dial_uri}", "-t", str(seconds)],
        capture_output=True, text=True, timeout=seconds + 20,
    )


def sipp_uas(tmp: Path, scenario_file: Path, port: int, *, timeout: float = 30.0
             ) -> subprocess.Popen:
    """sipp answering one call on ``port`` with ``scenario_file`` (a UAS), in the background."""
    return subprocess.Popen(
        ["sipp", "-sf", str(scenario_file), "-p", str(port), "-i", "127.0.0.1",
         "-mp", str(free_rtp_base()), "-m", "1", "-timeout", f"{int(timeout)}s",
         "-timeout_error", "-nostdin", "-trace_err",
         "-error_file", str(scenario_file.with_suffix(".errors.log"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp,
    )


def wait_exit(process: subprocess.Popen, timeout: float) -> int:
    """The exit code of ``process``, killing it if it is still running after ``timeout``."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        return -9
