"""Media files on disk, named by the SHA-256 of their bytes: the same file sent twice is stored once.

Files live under `MEDIA_DIR/<first two hex digits>/<sha256>`, readable by this user only (0600). A file is written to
a temporary name, fsync'd and renamed, so a crash never leaves a half file under a real name. The MIME type is
sniffed from the bytes (the sender's claim is not trusted); the types a browser could run as a page (HTML, SVG,
XML) are never reported as such.

Storing a file that is already there refreshes its modification time: retention (`delete_unless_fresh`) never
deletes a file that was just stored again, whose new row may not be committed yet.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import filetype

OCTET_STREAM = "application/octet-stream"
# What may be shown inline by the browser; everything else is served as a download.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "audio/x-wav",
        "video/mp4",
        "video/3gpp",
        "video/webm",
        "video/quicktime",
        "application/pdf",
    }
)


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    mime_type: str  # sniffed from the bytes


def sniff(data: bytes) -> str:
    """The MIME type the bytes really are (magic numbers), or application/octet-stream when unknown."""
    kind = filetype.guess(data[:8192])
    if kind is None:
        return OCTET_STREAM
    mime = str(kind.mime)
    if mime == "audio/x-m4a":
        return "audio/mp4"
    return mime


class MediaStorage:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.directory / sha256[:2] / sha256

    def put(self, data: bytes) -> StoredFile:
        """Store `data` (once: an identical file is already there) and say what it is. Blocking: run in a thread."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        try:
            os.utime(target)  # already there: fresh again, so retention keeps it until its new row is committed
        except FileNotFoundError:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary = target.with_name(f".{digest}.{secrets.token_hex(4)}.tmp")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        return StoredFile(digest, len(data), sniff(data))

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete_unless_fresh(self, sha256: str, fresh_seconds: float) -> bool:
        """Delete the file unless it was written or reused (`put`) in the last `fresh_seconds`: a row about to
        reference it may not be committed yet. True when it was deleted. Blocking: run in a thread."""
        path = self.path(sha256)
        try:
            if time.time() - path.stat().st_mtime < fresh_seconds:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True
