"""Fixtures of the storage tests (vault, keyring): see :mod:`tests.storage.vault_helpers`."""

from tests.storage.vault_helpers import keyring, vault

__all__ = ["keyring", "vault"]
