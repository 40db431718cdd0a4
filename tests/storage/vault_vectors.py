"""The test vectors of docs/vault-format.md: how they were made, and how tests read them.

Run ``python -m tests.storage.vault_vectors`` to print the vectors section.
"""

from __future__ import annotations

import re
from pathlib import Path

from storage.vault import format as fmt

DOC = Path(__file__).resolve().parents[2] / "docs" / "vault-format.md"
DEK = bytes(range(32))
OTHER_DEK = bytes(range(1, 33))
PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
OBJECT_ID = bytes(range(0x10, 0x20))
CHUNK = 16
PLAINTEXTS = {
    "empty object": b"",
    "one full chunk": b"Telesec vault 01",
    "three chunks": b"Bonjour, cabinet medical. Un message....",
}


def _good() -> list[dict[str, str]]:
    vectors = []
    for name, plaintext in PLAINTEXTS.items():
        blob = fmt.encrypt(DEK, OBJECT_ID, plaintext, CHUNK, PREFIX)
        vectors.append({"vector": name, "dek": DEK.hex(), "nonce_prefix": PREFIX.hex(),
                        "object_id": OBJECT_ID.hex(), "chunk_size": str(CHUNK),
                        "plaintext": plaintext.hex(), "file": blob.hex()})
    return vectors


def _refused() -> list[dict[str, str]]:
    blob = fmt.encrypt(DEK, OBJECT_ID, PLAINTEXTS["three chunks"], CHUNK, PREFIX)
    h, s = fmt.HEADER_LEN, CHUNK + fmt.TAG_LEN
    c0, c1, c2 = blob[h : h + s], blob[h + s : h + 2 * s], blob[h + 2 * s :]
    flipped = bytearray(blob)
    flipped[16] ^= 0x20  # chunk size 16 -> 48: still valid, so only the MAC refuses it
    tag_flipped = bytearray(blob)
    tag_flipped[-1] ^= 0x80
    cases = {
        "final chunk dropped": (DEK, blob[: h + 2 * s]),
        "chunks 0 and 1 swapped": (DEK, blob[:h] + c1 + c0 + c2),
        "chunk size bit flipped in the header": (DEK, bytes(flipped)),
        "wrong data key": (OTHER_DEK, blob),
        "last bit of the final tag flipped": (DEK, bytes(tag_flipped)),
    }
    return [{"refused": name, "dek": dek.hex(), "object_id": OBJECT_ID.hex(), "file": data.hex()}
            for name, (dek, data) in cases.items()]


def render() -> str:
    out = []
    for vector in _good() + _refused():
        out.append("```")
        for key, value in vector.items():
            lines = [value[i : i + 64] for i in range(0, len(value), 64)] or [""]
            out.append(f"{key}: {lines[0]}".rstrip())
            out.extend(f"  {line}" for line in lines[1:])
        out.append("```")
        out.append("")
    return "\n".join(out)


def parse(text: str | None = None) -> list[dict[str, str]]:
    """Read every vector block of the format document."""
    text = DOC.read_text() if text is None else text
    section = text.split("## Test vectors", 1)[1]
    vectors = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.S):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith("  ") and key:
                fields[key] += line.strip()
            else:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        vectors.append(fields)
    return vectors


if __name__ == "__main__":
    print(render())
