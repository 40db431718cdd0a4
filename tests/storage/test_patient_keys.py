"""The puncturable tree of per-patient keys: destroying one key leaves every other one."""

from __future__ import annotations

import hmac
import random

import pytest

from storage.patient_keys import DEPTH, PatientKeyDestroyed, PatientKeyTree


def test_keys_are_stable_distinct_and_survive_serialisation() -> None:
    tree = PatientKeyTree.new()
    keys = {pid: tree.key(pid) for pid in (0, 1, 2, 255, 256, 70_000, 2**32 - 1)}
    assert len(set(keys.values())) == len(keys)
    assert all(len(k) == 32 for k in keys.values())
    again = PatientKeyTree.from_json(tree.to_json())
    assert {pid: again.key(pid) for pid in keys} == keys
    assert PatientKeyTree.new().key(1) != keys[1]  # another tree, other keys
    with pytest.raises(ValueError):
        tree.key(2**32)


def test_destroyed_key_cannot_be_derived_from_what_is_kept() -> None:
    tree = PatientKeyTree.new()
    rng = random.Random(14)
    ids = sorted(rng.sample(range(1, 50_000), 300))
    before = {pid: tree.key(pid) for pid in ids}
    erased = set(ids[::7])
    for pid in erased:
        assert tree.destroy(pid) is True
        assert tree.destroy(pid) is False  # already destroyed
    assert len(tree) <= len(erased) * DEPTH
    kept = PatientKeyTree.from_json(tree.to_json())  # all the keyring will ever hold
    for pid in ids:
        if pid in erased:
            assert kept.destroyed(pid) and tree.destroyed(pid)
            with pytest.raises(PatientKeyDestroyed):
                kept.key(pid)
            with pytest.raises(PatientKeyDestroyed):
                tree.key(pid)  # its cached leaf and inner nodes were dropped too
        else:
            assert kept.key(pid) == before[pid]
    # no node kept lies on the path to an erased id: nothing derives its key any more
    nodes = [(int(d), int(p)) for d, p in (label.split(":") for label in tree.to_json())]
    for pid in erased:
        assert all(prefix != pid >> (DEPTH - depth) for depth, prefix in nodes)
        assert before[pid] not in {kept.key(n) for n in ids if n not in erased}


def test_a_leaf_is_the_hmac_walk_from_the_root() -> None:
    root = bytes(range(32))
    tree = PatientKeyTree({(0, 0): root})
    key = root
    pid = 0b1011
    for level in range(DEPTH):
        bit = (pid >> (DEPTH - level - 1)) & 1
        key = hmac.digest(key, bytes([bit]), "sha256")
    assert tree.key(pid) == hmac.digest(key, b"telesec-patient-identity-key-v1", "sha256")
