"""Per-patient keys that can be destroyed one by one: a puncturable key tree.

Each patient's identity is sealed under its own key. The keys are not stored anywhere:
they are the leaves of a binary tree of HMAC-SHA256 derivations (a GGM tree) over the
32-bit patient id, and the keyring keeps only the smallest set of tree nodes that
covers every id still alive. At first that set is the root alone.

Destroying the key of patient ``p`` (erasure) *punctures* the tree: the covering node
above ``p`` is replaced by the siblings of the path down to ``p``, at most 32 nodes, and
forgotten. Every other patient's key is still derived from the nodes kept; ``p``'s key
can no longer be computed from anything in the keyring. Copies of the database made
before the erasure (SQLite WAL, backups, PostgreSQL dead tuples, replicas) hold values
sealed under that key and nothing that derives it: they no longer open, and nothing in
the database had to be rewritten to get there.

Why a tree and not a random key per patient wrapped by the KEK: every copy of the
database would then also hold the wrapped key, and the KEK that opens it is still in
the keyring. The tree keeps the per-patient secret outside the database, in the
keyring, in ``O(depth)`` bytes per erasure instead of one key per patient.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading

DEPTH = 32
MAX_PATIENT_ID = 2**DEPTH - 1
_LEFT, _RIGHT = b"\x00", b"\x01"
_LEAF_INFO = b"telesec-patient-identity-key-v1"
_CACHE_DEPTH = 24  # cached inner nodes cover 256 ids: a leaf is then 8 HMACs away
_CACHE_LIMIT = 200_000


class PatientKeyDestroyed(LookupError):
    """This patient's key was destroyed (the patient was erased)."""


def _child(key: bytes, bit: int) -> bytes:
    return hmac.digest(key, _RIGHT if bit else _LEFT, "sha256")


class PatientKeyTree:
    """The covering nodes of one tree: ``{(depth, prefix): key}``. Thread-safe."""

    def __init__(self, nodes: dict[tuple[int, int], bytes]) -> None:
        self._nodes = dict(nodes)
        self._lock = threading.Lock()
        self._inner: dict[int, bytes] = {}  # prefix at _CACHE_DEPTH -> key
        self._leaves: dict[int, bytes] = {}

    @classmethod
    def new(cls) -> PatientKeyTree:
        return cls({(0, 0): secrets.token_bytes(32)})

    # ---- serialisation (in the keyring file) -----------------------------------------
    @classmethod
    def from_json(cls, data: dict[str, str]) -> PatientKeyTree:
        nodes = {}
        for label, text in data.items():
            depth_text, prefix_text = label.split(":")
            depth, prefix = int(depth_text), int(prefix_text)
            if not 0 <= depth <= DEPTH or not 0 <= prefix < 2**depth:
                raise ValueError(f"bad tree node {label!r}")
            key = base64.b64decode(text, validate=True)
            if len(key) != 32:
                raise ValueError(f"bad tree node {label!r}")
            nodes[(depth, prefix)] = key
        return cls(nodes)

    def to_json(self) -> dict[str, str]:
        with self._lock:
            return {f"{d}:{p}": base64.b64encode(k).decode("ascii")
                    for (d, p), k in sorted(self._nodes.items())}

    def __len__(self) -> int:
        return len(self._nodes)

    # ---- keys --------------------------------------------------------------------------
    def key(self, patient_id: int) -> bytes:
        """The 32-byte identity key of ``patient_id``; :class:`PatientKeyDestroyed` if erased."""
        _check(patient_id)
        with self._lock:
            leaf = self._leaves.get(patient_id)
            if leaf is None:
                leaf = self._derive(patient_id)
                if len(self._leaves) >= _CACHE_LIMIT:
                    self._leaves.clear()
                self._leaves[patient_id] = leaf
            return leaf

    def destroy(self, patient_id: int) -> bool:
        """Puncture the tree at ``patient_id``; False if its key was already destroyed."""
        _check(patient_id)
        with self._lock:
            found = self._cover(patient_id)
            if found is None:
                return False
            depth, key = found
            del self._nodes[(depth, patient_id >> (DEPTH - depth))]
            for level in range(depth, DEPTH):
                bit = (patient_id >> (DEPTH - level - 1)) & 1
                prefix = patient_id >> (DEPTH - level - 1)
                self._nodes[(level + 1, prefix ^ 1)] = _child(key, bit ^ 1)
                key = _child(key, bit)
            self._inner.clear()  # cached nodes on the path would still derive the key
            self._leaves.pop(patient_id, None)
            return True

    def destroyed(self, patient_id: int) -> bool:
        _check(patient_id)
        with self._lock:
            return self._cover(patient_id) is None

    # ---- internals ---------------------------------------------------------------------
    def _cover(self, patient_id: int) -> tuple[int, bytes] | None:
        for depth in range(DEPTH + 1):
            key = self._nodes.get((depth, patient_id >> (DEPTH - depth)))
            if key is not None:
                return depth, key
        return None

    def _derive(self, patient_id: int) -> bytes:
        bucket = patient_id >> (DEPTH - _CACHE_DEPTH)
        start = self._inner.get(bucket)
        if start is not None:
            depth, key = _CACHE_DEPTH, start
        else:
            found = self._cover(patient_id)
            if found is None:
                raise PatientKeyDestroyed(f"the identity key of patient {patient_id} was destroyed")
            depth, key = found
            if depth < _CACHE_DEPTH:
                for level in range(depth, _CACHE_DEPTH):
                    key = _child(key, (patient_id >> (DEPTH - level - 1)) & 1)
                depth = _CACHE_DEPTH
                self._inner[bucket] = key
        for level in range(depth, DEPTH):
            key = _child(key, (patient_id >> (DEPTH - level - 1)) & 1)
        return hmac.digest(key, _LEAF_INFO, "sha256")


def _check(patient_id: int) -> None:
    if not 0 <= patient_id <= MAX_PATIENT_ID:
        raise ValueError(f"patient id {patient_id} is outside 0..{MAX_PATIENT_ID}")
