"""The media of one service point: serving its files, retrying a failed download, accepting an agent's upload.

Every query filters by (point, id): another point's media is simply not found. Nothing here commits: the caller owns
the transaction (the controller, or the inbox's send that writes the message and its file together).

What may be shown inline is decided from the sniffed type (`storage.INLINE_TYPES`); everything else is served as
`application/octet-stream`, as an attachment. Uploads are checked the same way, by their bytes: images WhatsApp
shows as photos (JPEG, PNG, WebP) go as `image`; PDFs, office documents, plain text, audio, video and archives go
as `document`; executables, web pages, SVG and unknown binary data are refused.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import Media, MediaStatus, Message
from ventanilla.live.events import MessageUpdated, after_commit
from ventanilla.media.errors import (
    EmptyUploadError,
    MediaExpiredError,
    MediaNotFoundError,
    MediaNotReadyError,
    MediaNotRetryableError,
    UnsupportedUploadError,
    UploadTooLargeError,
)
from ventanilla.media.names import EXTENSIONS, clean_file_name, content_disposition, default_name, extension_of
from ventanilla.media.storage import INLINE_TYPES, OCTET_STREAM, MediaStorage, sniff

logger = logging.getLogger(__name__)

IMAGE_UPLOADS = frozenset({"image/jpeg", "image/png", "image/webp"})  # shown by WhatsApp as photos
DOCUMENT_UPLOADS = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/rtf",
        "application/zip",
        "image/gif",
        "image/heic",
        "image/tiff",
        "image/bmp",
        "text/plain",
        "text/csv",
        *(t for t in INLINE_TYPES if t.startswith(("audio/", "video/"))),
    }
)
# Names that run or render as a page when opened, whatever their bytes look like.
_DANGEROUS = """
    exe com bat cmd scr pif msi msp dll cpl jar apk aab app js jse mjs vbs vbe wsf wsh ps1 psm1 sh
    bash zsh hta html htm xhtml shtml mht mhtml svg svgz xml xsl lnk reg iso img dmg deb rpm py pl rb php
"""
DANGEROUS_EXTENSIONS = frozenset(_DANGEROUS.split())
# Other spellings of the extension a type's files commonly have (the first is `names.EXTENSIONS`).
_ALIASES = {
    "jpg": {"jpeg", "jpe", "jfif"},
    "txt": {"text", "log", "md"},
    "m4a": {"mp4a"},
    "mp4": {"m4v"},
    "mov": {"qt"},
    "ogg": {"oga", "opus"},
    "3gp": {"3gpp"},
    "tiff": {"tif"},
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old Office files (also .msi): accepted only named .doc/.xls/.ppt
_OLE_TYPES = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
}
_MARKUP = (b"<!doctype", b"<html", b"<svg", b"<?xml", b"<script", b"<body", b"<head", b"<iframe", b"<object")
_TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13}


@dataclass(frozen=True, slots=True)
class AcceptedUpload:
    """A file an agent may send: stored under MEDIA_DIR, with what the send and the media row need."""

    sha256: str
    size: int
    mime_type: str
    type: Literal["image", "document"]  # how WhatsApp delivers it
    file_name: str  # safe to show, store and put in a header; its extension matches the type


@dataclass(frozen=True, slots=True)
class ServedFile:
    path: Path
    media_type: str  # the sniffed type when the browser may show it, else application/octet-stream
    disposition: str  # the whole Content-Disposition value
    sha256: str


async def accept_upload(storage: MediaStorage, data: bytes, file_name: str | None, max_bytes: int) -> AcceptedUpload:
    """Check an agent's file (size, then type by its bytes), store it (in a thread) and say how to send it.

    Raises EmptyUploadError (400), UploadTooLargeError (413) or UnsupportedUploadError (415).
    """
    if not data:
        raise EmptyUploadError
    if len(data) > max_bytes:
        raise UploadTooLargeError(max_bytes)
    name = clean_file_name(file_name)
    extension = extension_of(name) if name else ""
    if extension in DANGEROUS_EXTENSIONS:
        raise UnsupportedUploadError(f"files named .{extension} are not sent (they run or open as a web page)")
    mime_type = _upload_type(data, extension)
    kind: Literal["image", "document"] = "image" if mime_type in IMAGE_UPLOADS else "document"
    stored = await asyncio.to_thread(storage.put, data)
    return AcceptedUpload(stored.sha256, stored.size, mime_type, kind, _named(name, mime_type))


def _upload_type(data: bytes, extension: str) -> str:
    sniffed = sniff(data)
    if sniffed in IMAGE_UPLOADS or sniffed in DOCUMENT_UPLOADS:
        return sniffed
    if sniffed != OCTET_STREAM:
        raise UnsupportedUploadError(f"files of type {sniffed} are not sent")
    if data.startswith(_OLE):
        if extension in _OLE_TYPES:
            return _OLE_TYPES[extension]
        raise UnsupportedUploadError("this kind of file is not sent (an Office file must be named .doc, .xls or .ppt)")
    head = data[:8192]
    if any(byte in _TEXT_CONTROLS for byte in head):
        raise UnsupportedUploadError("the file's type could not be recognised")
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n\f").lower()
    if start.startswith((b"<", b"#!")) or any(tag in head.lower() for tag in _MARKUP):
        raise UnsupportedUploadError("web pages, SVG, XML and scripts are not sent")
    return "text/csv" if extension == "csv" else "text/plain"


def _named(name: str | None, mime_type: str) -> str:
    """The cleaned name with the extension of what the file really is (a PDF named .jpg becomes .pdf)."""
    canonical = EXTENSIONS.get(mime_type)
    if name is None:
        return default_name(mime_type)
    if canonical is None:
        return name
    extension = extension_of(name)
    if extension == canonical or extension in _ALIASES.get(canonical, ()):
        return name
    stem = name[: -len(extension) - 1] if extension else name
    return clean_file_name(f"{stem}.{canonical}") or default_name(mime_type)


class MediaService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, service_point_id: UUID, media_id: UUID) -> Media:
        media = await self.session.scalar(
            select(Media).where(Media.id == media_id, Media.service_point_id == service_point_id)
        )
        if media is None:
            raise MediaNotFoundError
        return media

    async def file(self, service_point_id: UUID, media_id: UUID, storage: MediaStorage) -> ServedFile:
        """The file to serve, and how: inline only for the types a browser shows safely."""
        media = await self.get(service_point_id, media_id)
        if media.status in (MediaStatus.PENDING, MediaStatus.FAILED):
            raise MediaNotReadyError(media.status)
        if media.status is MediaStatus.EXPIRED or media.sha256 is None:
            raise MediaExpiredError
        if not await asyncio.to_thread(storage.exists, media.sha256):
            logger.error("media %s is READY but its file is missing from MEDIA_DIR", media.id)
            raise MediaExpiredError
        inline = media.mime_type in INLINE_TYPES
        media_type = media.mime_type if inline and media.mime_type else OCTET_STREAM
        name = clean_file_name(media.file_name) or default_name(media.mime_type)
        disposition = content_disposition("inline" if inline else "attachment", name)
        return ServedFile(storage.path(media.sha256), media_type, disposition, media.sha256)

    async def retry(self, service_point_id: UUID, media_id: UUID) -> UUID:
        """A FAILED download becomes PENDING, due now, with its attempts reset; returns its message id.

        The caller commits, then wakes the downloader."""
        now = datetime.now(UTC)
        row = (
            await self.session.execute(
                update(Media)
                .where(
                    Media.id == media_id,
                    Media.service_point_id == service_point_id,
                    Media.status == MediaStatus.FAILED,
                )
                .values(status=MediaStatus.PENDING, attempts=0, next_attempt_at=now, error=None, updated_at=now)
                .returning(Media.message_id)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if row is None:
            media = await self.get(service_point_id, media_id)
            raise MediaNotRetryableError(media.status)
        conversation_id = await self.session.scalar(select(Message.conversation_id).where(Message.id == row.message_id))
        if conversation_id is not None:
            after_commit(
                self.session,
                MessageUpdated(
                    service_point_id=service_point_id, conversation_id=conversation_id, message_id=row.message_id
                ),
            )
        return row.message_id
