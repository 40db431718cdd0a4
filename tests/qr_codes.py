"""Read back the QR codes Telesec draws (SVG for the console, block characters for a
terminal) with a real decoder (zxing-cpp), so tests check what a phone would scan."""

from __future__ import annotations

import base64
import re

import zxingcpp

SCALE = 8  # pixels per module


def _decode(grid: list[list[bool]]) -> str:
    """Text of the QR code in ``grid`` (True = dark module), drawn in black on white."""
    height, width = len(grid), len(grid[0])
    pixels = bytearray(b"\xff" * (height * SCALE * width * SCALE))
    row_bytes = width * SCALE
    for y, row in enumerate(grid):
        for x, dark in enumerate(row):
            if dark:
                for line in range(y * SCALE, (y + 1) * SCALE):
                    start = line * row_bytes + x * SCALE
                    pixels[start:start + SCALE] = bytes(SCALE)
    image = memoryview(pixels).cast("B", (height * SCALE, row_bytes))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, f"{len(found)} QR codes found"
    return found[0].text


def decode_svg_data_uri(data_uri: str) -> str:
    """Decode the ``data:image/svg+xml;base64,...`` QR code of an enrolment."""
    prefix = "data:image/svg+xml;base64,"
    assert data_uri.startswith(prefix)
    svg = base64.b64decode(data_uri[len(prefix):]).decode()
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))  # type: ignore[union-attr]
    grid = [[False] * size for _ in range(size)]
    for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", svg):
        grid[int(y)][int(x)] = True
    return _decode(grid)


# block characters (light on a dark terminal): (upper module dark, lower module dark)
_BLOCKS = {"\u2588": (False, False), "\u2584": (True, False), "\u2580": (False, True),
           "\xa0": (True, True), " ": (True, True)}


def decode_terminal(text: str) -> str:
    """Decode a QR code drawn with block characters, two modules per character cell."""
    lines = [line for line in text.splitlines() if line and set(line) <= set(_BLOCKS)]
    grid: list[list[bool]] = []
    for line in lines:
        grid.append([_BLOCKS[c][0] for c in line])
        grid.append([_BLOCKS[c][1] for c in line])
    # the quiet zone is light: pad it out square, as drawn
    width = max(len(row) for row in grid)
    return _decode([row + [False] * (width - len(row)) for row in grid])
