"""Vault throughput against raw AES-GCM, and the CPU cost of recording one call.

    python bench/vault.py            # full run (a few seconds)
    python bench/vault.py --quick    # CI smoke

Figures: write and read MB/s of the vault (the format codec in memory, and the real
writer/reader on files with a SQLite database), raw AES-256-GCM over the same 64 KiB
buffers, their ratio, and the CPU time of recording a call (16 kHz, 16-bit, stereo =
64 000 B/s, fed in 20 ms frames of 1280 bytes) in percent of one core.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage import identity
from storage.db import Database
from storage.keyring import Keyring
from storage.migrate import upgrade
from storage.vault import Vault
from storage.vault import format as fmt

CHUNK = fmt.DEFAULT_CHUNK_SIZE
FRAME = 1280  # 20 ms of 16 kHz 16-bit stereo
AUDIO_RATE = 64_000  # bytes per second


def _mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def raw_gcm(data: bytes) -> tuple[float, float]:
    """Seconds to encrypt then decrypt ``data`` in 64 KiB chunks with bare AES-GCM."""
    aead = AESGCM(os.urandom(32))
    nonce = os.urandom(12)
    pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    start = time.perf_counter()
    sealed = [aead.encrypt(nonce, p, None) for p in pieces]
    mid = time.perf_counter()
    for s in sealed:
        aead.decrypt(nonce, s, None)
    return mid - start, time.perf_counter() - mid


def codec(data: bytes) -> tuple[float, float]:
    """Seconds for the vault codec (in memory) to encrypt, then decrypt, ``data``."""
    dek, oid = fmt.new_dek(), os.urandom(16)
    start = time.perf_counter()
    blob = fmt.encrypt(dek, oid, data)
    mid = time.perf_counter()
    fmt.decrypt(dek, blob, oid)
    return mid - start, time.perf_counter() - mid


def on_disk(vault: Vault, data: bytes) -> tuple[float, float]:
    """Seconds for the real writer (64 KiB appends, fsync at close) and reader."""
    start = time.perf_counter()
    writer = vault.create("export")
    for i in range(0, len(data), CHUNK):
        writer.append(data[i : i + CHUNK])
    writer.close()
    mid = time.perf_counter()
    with vault.open(writer.object_id) as reader:
        for _ in reader:
            pass
    return mid - start, time.perf_counter() - mid


def call_cpu(vault: Vault, seconds_of_audio: int) -> tuple[float, float]:
    """CPU seconds to record ``seconds_of_audio`` of a call; and for create+close alone."""
    frame = os.urandom(FRAME)
    frames = seconds_of_audio * AUDIO_RATE // FRAME
    cpu0 = time.process_time()
    writer = vault.create("recording")
    for _ in range(frames):
        writer.append(frame)
    writer.close()
    total = time.process_time() - cpu0
    cpu0 = time.process_time()
    empty = vault.create("recording")
    empty.close()
    return total, time.process_time() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    args = parser.parse_args()
    size = (8 if args.quick else 256) * 2**20
    call_seconds = 30 if args.quick else 600
    data = os.urandom(size)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.db'}"
        keyring = Keyring.create(root / "keyring.json")
        identity.install(keyring)
        upgrade(url)  # keys the new audit trail with the installed keyring
        db = Database(url)
        vault = Vault(db, keyring, root / "vault")

        raw_w, raw_r = min(raw_gcm(data) for _ in range(3))
        cod_w, cod_r = min(codec(data) for _ in range(3))
        disk_w, disk_r = min(on_disk(vault, data) for _ in range(2))
        cpu, fixed = call_cpu(vault, call_seconds)
        db.dispose()

    mb = size / 2**20
    print(f"buffer: {mb:.0f} MiB, chunks of {CHUNK // 1024} KiB")
    print(f"raw AES-256-GCM      write {_mbps(size, raw_w):8.0f} MB/s   "
          f"read {_mbps(size, raw_r):8.0f} MB/s")
    print(f"vault codec (memory) write {_mbps(size, cod_w):8.0f} MB/s   "
          f"read {_mbps(size, cod_r):8.0f} MB/s   "
          f"speed vs raw {raw_w / cod_w:.2f} / {raw_r / cod_r:.2f}")
    print(f"vault on disk        write {_mbps(size, disk_w):8.0f} MB/s   "
          f"read {_mbps(size, disk_r):8.0f} MB/s   "
          f"speed vs raw {raw_w / disk_w:.2f} / {raw_r / disk_r:.2f}")
    print(f"recording one call ({call_seconds} s of 16 kHz 16-bit stereo in 20 ms frames): "
          f"{cpu * 1000:.0f} ms CPU = {100 * cpu / call_seconds:.3f} % of one core; "
          f"create+close alone {fixed * 1000:.1f} ms CPU")


if __name__ == "__main__":
    main()
