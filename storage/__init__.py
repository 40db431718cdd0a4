"""Persistence and privacy: database, vault, keyring, identity, audit, retention."""
