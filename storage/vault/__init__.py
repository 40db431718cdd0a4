"""The encrypted vault (docs/vault-format.md): recordings, voicemail, transcripts, exports."""

from storage.vault.format import VaultIntegrityError
from storage.vault.reader import VaultReader
from storage.vault.store import RecoveryReport, Vault, VaultError
from storage.vault.writer import VaultWriter

__all__ = [
    "RecoveryReport",
    "Vault",
    "VaultError",
    "VaultIntegrityError",
    "VaultReader",
    "VaultWriter",
]
