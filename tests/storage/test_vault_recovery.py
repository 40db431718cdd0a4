"""A writer killed with SIGKILL: recovery keeps every whole chunk, flagged truncated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from storage.keyring import Keyring
from storage.models import ObjectKind, ObjectStatus, VaultObject, utcnow
from storage.vault import Vault, VaultIntegrityError
from storage.vault.format import HEADER_LEN, TAG_LEN
from tests.storage.vault_helpers import files_under, pattern

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from storage.db import Database
    from storage.keyring import Keyring
    from storage.vault import Vault
    from tests.storage.vault_helpers import pattern

    url, keyring_path, root, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    vault = Vault(Database(url), Keyring.load(Path(keyring_path)), Path(root), chunk_size=1024)
    writer = vault.create("recording", call_id="killed")
    data = pattern(size)
    for start in range(0, size, 160):  # 160-byte frames, as a media thread would
        writer.append(data[start : start + 160])
    print(writer.object_id, flush=True)
    time.sleep(120)
""")


def _start_writer(vault: Vault, keyring: Keyring, size: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, vault.db.url, str(keyring.path), str(vault.root),
         str(size)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    object_id = proc.stdout.readline().strip()
    assert len(object_id) == 32, "the writer did not start"
    return proc, object_id


def test_sigkill_mid_object_leaves_a_readable_truncated_object(
    vault: Vault, keyring: Keyring
) -> None:
    proc, object_id = _start_writer(vault, keyring, 3500)
    try:
        report = vault.recover()
        assert report.live == [object_id]  # a live writer's file is left alone
        assert vault.get(object_id).status is ObjectStatus.WRITING
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    part = next(p for p in files_under(vault.root) if p.suffix == ".part")
    assert part.stat().st_size == HEADER_LEN + 3 * (1024 + TAG_LEN)  # 3 whole chunks

    report = vault.recover()
    assert report.truncated == [object_id]
    row = vault.get(object_id)
    assert row.status is ObjectStatus.TRUNCATED and row.size == 3 * 1024
    with vault.open(object_id) as reader:
        assert reader.truncated
        assert reader.read_all() == pattern(3500)[: 3 * 1024]
        reader.seek(2000)
        assert reader.read(100) == pattern(3500)[2000:2100]
    assert [p.suffix for p in files_under(vault.root)] == [".tsv"]
    assert vault.recover().truncated == []  # idempotent


def test_recovery_cuts_a_torn_chunk_and_completes_a_finished_one(
    sqlite_db: object, keyring: Keyring, tmp_path: Path
) -> None:
    vault = Vault(sqlite_db, keyring, tmp_path / "v", chunk_size=1024)  # type: ignore[arg-type]
    torn = vault.create(ObjectKind.RECORDING)
    torn.append(pattern(2500))
    part = vault.path(vault.relative_path(torn.object_id)).with_suffix(".part")
    with part.open("ab") as handle:
        handle.write(b"\x00" * 500)  # half a chunk: a torn write
    done = vault.create(ObjectKind.RECORDING)
    done.append(pattern(1500, seed=3))
    for pending in (torn, done):  # the writers die without closing
        os.close(pending._fd)
    done_part = vault.path(vault.relative_path(done.object_id)).with_suffix(".part")
    with done_part.open("ab") as handle:  # its final chunk reached the disk
        handle.write(done._enc.finish())
    report = vault.recover()
    assert report.truncated == [torn.object_id] and report.completed == [done.object_id]
    assert vault.read(torn.object_id) == pattern(2500)[:2048]
    assert vault.read(done.object_id) == pattern(1500, seed=3)


def test_orphans_are_removed(sqlite_db: object, keyring: Keyring, tmp_path: Path) -> None:
    vault = Vault(sqlite_db, keyring, tmp_path / "vault")  # type: ignore[arg-type]
    stray = vault.root / "ab" / ("ab" + "0" * 30 + ".part")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(os.urandom(300))
    writer = vault.create(ObjectKind.SPOOL)
    os.close(writer._fd)
    vault._part_path(vault.relative_path(writer.object_id)).unlink()
    report = vault.recover(now=utcnow() + timedelta(minutes=5))
    assert sorted(report.removed) == sorted([stray.stem, writer.object_id])
    with sqlite_db.session() as session:  # type: ignore[attr-defined]
        assert session.get(VaultObject, writer.object_id) is None
    assert files_under(vault.root) == []


def test_truncated_flag_cannot_be_forged(vault: Vault) -> None:
    writer = vault.create(ObjectKind.RECORDING)
    writer.append(pattern(3000))
    writer.close()
    with vault.db.session() as session:
        row = session.get(VaultObject, writer.object_id)
        assert row is not None
        row.status = ObjectStatus.TRUNCATED
    with pytest.raises(VaultIntegrityError):
        vault.read(writer.object_id)
