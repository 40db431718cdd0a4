"""Fixtures for the vault tests: a keyring, a vault over the ``db`` fixture."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from storage.db import Database
from storage.keyring import Keyring
from storage.vault import Vault


@pytest.fixture
def keyring(installed_keyring: Keyring) -> Keyring:
    """The process keyring: the one the database's audit trail was started with."""
    return installed_keyring


@pytest.fixture
def vault(db: Database, keyring: Keyring, tmp_path: Path) -> Vault:
    return Vault(db, keyring, tmp_path / "vault", chunk_size=1024)


def pattern(n: int, seed: int = 7) -> bytes:
    """Deterministic, non-repeating-looking plaintext of ``n`` bytes."""
    out = bytearray()
    block = seed.to_bytes(4, "big")
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
