"""What a new (or reset) user needs once, and the QR code their authenticator app scans.

Shown to the user once (in the terminal by ``telesec users``, in the console by the
API), never stored in clear.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import qrcode
from qrcode.constants import ERROR_CORRECT_M


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A one-time password (None after an MFA reset), the TOTP secret and its otpauth URI,
    and the recovery codes."""

    login: str
    password: str | None
    totp_secret: str
    otpauth_uri: str
    recovery_codes: list[str]


def _qr(uri: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(uri)
    qr.make(fit=True)
    return qr


def enrolment_qr_svg(uri: str) -> str:
    """The enrolment URI as a QR code: an SVG document, one unit per module."""
    matrix = _qr(uri).get_matrix()  # with its quiet zone
    size = len(matrix)
    dark = "".join(f"M{x} {y}h1v1h-1z" for y, row in enumerate(matrix)
                   for x, on in enumerate(row) if on)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
            f'shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/>'
            f'<path d="{dark}" fill="#000"/></svg>')


def enrolment_qr_data_uri(uri: str) -> str:
    """:func:`enrolment_qr_svg` as a ``data:`` URI, for an ``<img>`` in the console."""
    svg = base64.b64encode(enrolment_qr_svg(uri).encode()).decode()
    return f"data:image/svg+xml;base64,{svg}"


def enrolment_qr_text(uri: str) -> str:
    """The enrolment URI as a QR code drawn with block characters, for a terminal."""
    out = io.StringIO()
    _qr(uri).print_ascii(out=out, invert=True)
    return out.getvalue()
