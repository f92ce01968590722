"""File names as they travel: chosen by a customer or an agent, so never trusted in a header or on a disk.

A name keeps only its last path component, loses control, quoting and path characters, and is cut to a length
every file system takes; `Content-Disposition` carries it twice (RFC 6266 with RFC 5987's `filename*`): an ASCII
fallback for old clients and the exact UTF-8 name for the rest.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal
from urllib.parse import quote

MAX_NAME_CHARS = 120
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "audio/x-wav": "wav",
    "video/mp4": "mp4",
    "video/3gpp": "3gp",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/rtf": "rtf",
    "application/zip": "zip",
    "text/plain": "txt",
    "text/csv": "csv",
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\"\\/:*?<>|;%`$]+")
_SPACES = re.compile(r"\s+")


def clean_file_name(name: str | None) -> str | None:
    """The name without directories, control or shell/quoting characters and leading dots; None if nothing is left."""
    if not name:
        return None
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _SPACES.sub(" ", _UNSAFE.sub("_", name)).strip(" ._")
    if not name:
        return None
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name


def extension_of(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


def default_name(mime_type: str | None, stem: str = "archivo") -> str:
    extension = EXTENSIONS.get(mime_type or "")
    return f"{stem}.{extension}" if extension else stem


def served_name(name: str | None, mime_type: str | None, stem: str = "archivo") -> str:
    """What a download is called: the cleaned original name, or `archivo.<extension of its type>`."""
    return clean_file_name(name) or default_name(mime_type, stem)


def content_disposition(kind: Literal["inline", "attachment"], name: str) -> str:
    """`inline; filename="factura_.pdf"; filename*=UTF-8''factura%C3%B1.pdf` for an already cleaned name."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9 ._()+\-]", "_", ascii_name).strip() or "archivo"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
