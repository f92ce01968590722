"""An agent's file: checked by its bytes, stored once, sent as an image or a document, or refused clearly."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.media.conftest import HTML, JPEG, PDF, PNG, SVG
from tests.rows import add_conversation
from ventanilla.media.errors import EmptyUploadError, UnsupportedUploadError, UploadTooLargeError
from ventanilla.media.names import clean_file_name
from ventanilla.media.services import accept_upload
from ventanilla.media.storage import MediaStorage

Client = AsyncTestClient[Litestar]
LIMIT = 1 << 20


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


@pytest.fixture
def storage(tmp_path: Path) -> MediaStorage:
    return MediaStorage(tmp_path / "media")


@pytest.mark.parametrize(
    ("data", "name", "mime_type", "kind", "safe_name"),
    [
        (PNG, "foto.png", "image/png", "image", "foto.png"),
        (JPEG, "IMG 2024.JPEG", "image/jpeg", "image", "IMG 2024.JPEG"),
        (PDF, "../../etc/factura.pdf", "application/pdf", "document", "factura.pdf"),
        (PDF, "factura.jpg", "application/pdf", "document", "factura.pdf"),  # named as what it really is
        (PDF, None, "application/pdf", "document", "archivo.pdf"),
        (
            _docx(),
            "contrato.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "document",
            "contrato.docx",
        ),
        ("guía; nº 5\n".encode(), "lista\x00\r\n.csv", "text/csv", "document", "lista_.csv"),
        (b"\xef\xbb\xbfhola, precio: 5\n", "nota", "text/plain", "document", "nota.txt"),
        ("Cañar, Azogues\r\n".encode("cp1252"), "datos.txt", "text/plain", "document", "datos.txt"),
    ],
)
async def test_allowed_files_are_stored_and_typed(
    storage: MediaStorage, data: bytes, name: str | None, mime_type: str, kind: str, safe_name: str
) -> None:
    accepted = await accept_upload(storage, data, name, LIMIT)
    assert (accepted.mime_type, accepted.type, accepted.file_name, accepted.size) == (
        mime_type,
        kind,
        safe_name,
        len(data),
    )
    path = storage.path(accepted.sha256)
    assert path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("data", "name", "why"),
    [
        (HTML, "oferta.txt", "web pages"),
        (SVG, "logo.png", "web pages"),
        (b"  <?xml version='1.0'?><root/>", "datos.txt", "web pages"),
        (b"#!/bin/sh\nrm -rf ~\n", "script.txt", "scripts"),
        (b"MZ\x90\x00\x03" + b"\x00" * 300, "factura.pdf", "application/x-msdownload"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 300, None, "application/x-executable"),
        (bytes(range(256)) * 4, "datos.bin", "could not be recognised"),
        (PNG, "foto.exe", ".exe"),
        (_docx(), "app.apk", ".apk"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "instalar.msi", ".msi"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "sin-nombre", ".doc, .xls or .ppt"),
    ],
)
async def test_executables_pages_and_unknown_binaries_are_refused(
    storage: MediaStorage, data: bytes, name: str | None, why: str
) -> None:
    with pytest.raises(UnsupportedUploadError) as refused:
        await accept_upload(storage, data, name, LIMIT)
    assert why in str(refused.value)
    assert not storage.directory.exists()  # nothing was stored


async def test_size_is_checked_first(storage: MediaStorage) -> None:
    with pytest.raises(UploadTooLargeError, match="1024 bytes"):
        await accept_upload(storage, PNG + b"\x00" * 1024, "foto.png", 1024)
    with pytest.raises(EmptyUploadError):
        await accept_upload(storage, b"", "vacio.pdf", 1024)


async def test_the_same_file_twice_is_stored_once(storage: MediaStorage) -> None:
    first = await accept_upload(storage, PDF, "a.pdf", LIMIT)
    second = await accept_upload(storage, PDF, "b.pdf", LIMIT)
    assert first.sha256 == second.sha256
    assert [p for p in storage.directory.rglob("*") if p.is_file()] == [storage.path(first.sha256)]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("C:\\Users\\ana\\Desktop\\foto.jpg", "foto.jpg"),
        ("..", None),
        ("   ", None),
        ('a"b<c>d|e?.pdf', "a_b_c_d_e_.pdf"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
        (".htaccess", "htaccess"),
    ],
)
def test_file_names_are_cleaned(raw: str, clean: str | None) -> None:
    assert clean_file_name(raw) == clean


async def test_a_refused_upload_is_a_clear_http_error(
    client: Client, app: Litestar, world: World, session: AsyncSession
) -> None:
    """Through the inbox's multipart send: the media errors are mapped in one place (http_errors)."""
    conversation = await add_conversation(session, world.point_a)
    url = f"/api/service-points/{world.point_a}/conversations/{conversation}/messages"
    response = await client.post(url, files={"file": ("oferta.txt", HTML, "text/plain")}, headers=world.agent_a.headers)
    assert response.status_code == 415, response.text
    body = response.json()
    assert "web pages" in body["detail"]
    assert body["extra"] == [{"key": "file", "message": body["detail"], "source": "body"}]
    response = await client.post(
        url, files={"file": ("vacio.pdf", b"", "application/pdf")}, headers=world.agent_a.headers
    )
    assert response.status_code == 400, response.text
