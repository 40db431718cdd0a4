"""Start real peers on loopback for the telephony tests: a worker process and sipp runs."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIPP_DIR = Path(__file__).resolve().parent / "sipp"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (the worker listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port < 60000:
            return port
    raise RuntimeError("no free port")


RTP_SPAN = 200  # ports a worker or a sipp run may use above its RTP base
_rtp_ranges: deque[int] = deque(maxlen=30)  # bases lately handed out by this process


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_rtp_base() -> int:
    """An even port with the ``RTP_SPAN`` ports above it free (a worker's or sipp's RTP).

    Taken below the kernel's ephemeral range, so that no socket bound to port 0 (ours or
    another program's) lands in it later; never overlapping a range lately handed out by
    this process (its peers may still be up); checked free now. sipp fails outright when
    its audio or video port is taken.
    """
    high = min(_ephemeral_low(), 32768) - RTP_SPAN
    for _ in range(200):
        base = random.randrange(10000, high, 2)
        if any(abs(base - other) < RTP_SPAN for other in _rtp_ranges):
            continue
        if all(_udp_free(port) for port in range(base, base + RTP_SPAN)):
            _rtp_ranges.append(base)
            return base
    raise RuntimeError("no free RTP port range below the ephemeral ports")


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


def _port_with_next_free() -> int:
    """A port p with p and p+1 free on UDP and TCP (baresip also listens for TLS on p+1)."""
    for _ in range(50):
        port = free_port()
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as probe:
                    probe.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair")


def baresip_call(
    tmp: Path, dial_uri: str, *, seconds: int = 6, account_params: str = ""
) -> subprocess.CompletedProcess:
    """baresip (a second, independent softphone) dials ``dial_uri`` and quits after ``seconds``.

    ``account_params`` go on its account line, e.g. ``;mediaenc=srtp-mand``.
    """
    confdir = tmp / f"baresip-{len(list(tmp.iterdir()))}"
    confdir.mkdir()
    port, rtp = _port_with_next_free(), free_rtp_base()
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
