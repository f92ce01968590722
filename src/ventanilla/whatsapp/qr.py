"""QR images of a pending link code: PNG, SVG, and a data URL for JSON clients."""

from __future__ import annotations

import base64
import io

import qrcode
from qrcode.image.pure import PyPNGImage
from qrcode.image.svg import SvgPathImage


def _qr(code: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(code)
    qr.make(fit=True)
    return qr


def png(code: str) -> bytes:
    buffer = io.BytesIO()
    _qr(code).make_image(image_factory=PyPNGImage).save(buffer)
    return buffer.getvalue()


def svg(code: str) -> str:
    return _qr(code).make_image(image_factory=SvgPathImage).to_string(encoding="unicode")


def data_url(code: str) -> str:
    return "data:image/png;base64," + base64.b64encode(png(code)).decode("ascii")
