"""Files customers send, made in the test: a rendered parcel label, a photo with no number, a voice note's bytes,
stored the way the downloader stores them (MediaStorage, named by SHA-256)."""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from ventanilla.bot.decision import Attachment
from ventanilla.db.models import MessageType
from ventanilla.media.storage import MediaStorage

# The OCR extra is installed by `make test` wherever its wheel exists (not for Python 3.13+): a missing install on a
# Python that has it must fail, not skip.
needs_ocr = pytest.mark.skipif(
    sys.version_info >= (3, 13) and importlib.util.find_spec("rapidocr_onnxruntime") is None,
    reason="rapidocr-onnxruntime is not published for this Python: the offline bot cannot read photos here",
)

# The first bytes of an Ogg Opus voice note (what WhatsApp records); the fake transcriber never decodes it.
VOICE_NOTE = b"OggS\x00\x02" + bytes(22) + b"\x01\x13OpusHead\x01\x01" + bytes(64)


def label_png(tracking_number: str, *, extra: Sequence[str] = ()) -> bytes:
    """A shipping label: company, a big and clear tracking number, destination, and whatever `extra` adds."""
    image = Image.new("RGB", (900, 420 + 50 * len(extra)), "white")
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.load_default(size=48), ImageFont.load_default(size=28)
    draw.rectangle((8, 8, image.width - 8, image.height - 8), outline="black", width=4)
    draw.text((40, 36), "ENVIOS DEL PACIFICO", font=small, fill="black")
    draw.text((40, 110), f"Guia: {tracking_number}", font=big, fill="black")
    draw.text((40, 220), "Destino: Guayaquil", font=small, fill="black")
    draw.text((40, 270), "Peso: 2 kg", font=small, fill="black")
    for n, line in enumerate(extra):
        draw.text((40, 330 + 50 * n), line, font=small, fill="black")
    return png(image)


def text_png(text: str) -> bytes:
    """A photo with words and no tracking number."""
    image = Image.new("RGB", (800, 300), (240, 240, 230))
    ImageDraw.Draw(image).text((40, 110), text, font=ImageFont.load_default(size=40), fill="black")
    return png(image)


def png(image: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


def claimed_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb's first bytes."""
    data = bytearray(png(Image.new("RGB", (1, 1))))
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def stored(directory: Path, data: bytes) -> tuple[Path, str]:
    """`data` stored as the downloader does it: its path and its sniffed MIME type."""
    storage = MediaStorage(directory)
    file = storage.put(data)
    return storage.path(file.sha256), file.mime_type


def photo(directory: Path, data: bytes, message_id: uuid.UUID | None = None) -> Attachment:
    path, mime_type = stored(directory, data)
    return Attachment(message_id or uuid.uuid4(), MessageType.IMAGE, mime_type, path)


def voice(directory: Path, data: bytes = VOICE_NOTE, message_id: uuid.UUID | None = None) -> Attachment:
    path, _ = stored(directory, data)
    return Attachment(message_id or uuid.uuid4(), MessageType.AUDIO, "audio/ogg", path, voice=True)


def card(message_type: MessageType, message_id: uuid.UUID | None = None) -> Attachment:
    """Something with no file the bot reads: a location, a contact, or a document/sticker it will not open."""
    return Attachment(message_id or uuid.uuid4(), message_type)
