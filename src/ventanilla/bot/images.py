"""Customers' photos, decoded with bounds: the bytes come from strangers, and a photo is read to find a tracking
number, not to be shown in full resolution.

Pillow is imported here only when a photo must be decoded (it comes with the WhatsApp library and with the OCR
extra). Everything in this module blocks: run it in a thread.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_PIXELS = 50_000_000  # a 8,000 x 6,000 photo; beyond that it is a decompression bomb, not a parcel label
MODEL_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})  # what the chat model accepts
MODEL_MAX_BYTES = 4 * 1024 * 1024  # larger photos are scaled down before they are sent (cost, latency)
MODEL_MAX_SIDE = 2048
JPEG_QUALITY = 85


class UnreadableImage(Exception):
    """The file is not an image we can decode (or is too large to try); the message says why, without content."""


def open_bounded(path: Path, max_side: int) -> Image:
    """The photo upright (EXIF orientation), in RGB on white, its longest side at most `max_side` pixels."""
    try:
        from PIL import Image as PILImage
        from PIL import ImageOps
    except ImportError:
        raise UnreadableImage("Pillow is not installed") from None
    try:
        with PILImage.open(path) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise UnreadableImage(f"{opened.width}x{opened.height} pixels is too large")
            opened.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "P", "PA"):
                rgba = image.convert("RGBA")
                image = PILImage.new("RGB", rgba.size, "white")
                image.paste(rgba, mask=rgba.getchannel("A"))
            else:
                image = image.convert("RGB")
            image.thumbnail((max_side, max_side))
            return image
    except UnreadableImage:
        raise
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise UnreadableImage(type(exc).__name__) from None


def for_model(path: Path, mime_type: str | None) -> tuple[bytes, str]:
    """The bytes and type to send to the chat model: the file as it is when the model takes it and it is small,
    else a JPEG scaled down to MODEL_MAX_SIDE."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableImage(type(exc).__name__) from None
    if mime_type in MODEL_TYPES and len(data) <= MODEL_MAX_BYTES:
        _verify(data)  # a broken file would cost a model call that fails
        return data, mime_type
    image = open_bounded(path, MODEL_MAX_SIDE)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue(), "image/jpeg"


def _verify(data: bytes) -> None:
    """Raises UnreadableImage unless the bytes parse as an image of a sane size (without decoding the pixels)."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        return
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise UnreadableImage(f"{opened.width}x{opened.height} pixels is too large")
            opened.verify()
    except UnreadableImage:
        raise
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise UnreadableImage(type(exc).__name__) from None
