"""An agent's file over HTTP: every bad form is a clear 4xx, a file waits in the outbox while the branch is unlinked
and leaves once it is back, and a file that disappeared from MEDIA_DIR fails with a reason instead of blocking."""

from __future__ import annotations

import hashlib
import io
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import fast_app, link, received
from tests.rows import add_conversation
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings
from ventanilla.media.storage import MediaStorage

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


async def _conversation(session: AsyncSession, point: UUID) -> str:
    conversation = await add_conversation(session, point)
    await session.commit()
    return str(conversation)


def _messages(point: UUID, conversation: str) -> str:
    return f"/api/service-points/{point}/conversations/{conversation}/messages"


async def test_every_bad_form_is_a_clear_4xx(client: Client, world: World, session: AsyncSession) -> None:
    url = _messages(world.point_a, await _conversation(session, world.point_a))
    headers = world.agent_a.headers
    cases = [
        ({"files": {"foto": ("a.png", _png(), "image/png")}}, 400, "file"),  # not under the field `file`
        ({"files": {"file": ("vacio.png", b"", "image/png")}}, 400, "file"),
        ({"files": {"file": ("a.png", _png(), "image/png")}, "data": {"content": "a\x00b"}}, 400, "content"),
        ({"files": {"file": ("a.png", _png(), "image/png")}, "data": {"content": "x" * 1025}}, 400, "content"),
        ({"files": {"file": ("pagina.html", b"<html><script>alert(1)</script></html>", "text/html")}}, 415, None),
        ({"files": {"file": ("dibujo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml")}}, 415, None),
        ({"files": {"file": ("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "application/octet-stream")}}, 415, None),
    ]
    for kwargs, status, key in cases:
        response = await client.post(url, headers=headers, **kwargs)
        assert response.status_code == status, (kwargs.get("data"), response.text)
        if key:
            assert response.json()["extra"][0]["key"] == key
    plain = await client.post(url, headers=headers | {"content-type": "text/plain"}, content=b"hola")
    assert plain.status_code == 415
    # a name with a path, a NUL and control characters is cleaned, never refused for its name nor used as a path
    odd = await client.post(url, headers=headers, files={"file": ("../../etc/pa\x00ss\n.png", _png(), "image/png")})
    assert odd.status_code == 201, odd.text
    name = odd.json()["media"]["fileName"]
    assert "/" not in name and "\x00" not in name and "\n" not in name and name.endswith(".png")


async def test_a_file_waits_while_unlinked_and_fails_with_a_reason_when_it_is_gone(
    client: Client, world: World, session: AsyncSession, settings: Settings
) -> None:
    url = _messages(world.point_a, await _conversation(session, world.point_a))
    photo = _png()
    kept = await client.post(url, headers=world.agent_a.headers, files={"file": ("a.png", photo, "image/png")})
    assert kept.status_code == 201 and kept.json()["deliveryStatus"] == "PENDING"
    pdf = b"%PDF-1.4\n%%EOF\n"
    gone = await client.post(url, headers=world.agent_a.headers, files={"file": ("b.pdf", pdf, "application/pdf")})
    assert gone.status_code == 201 and gone.json()["type"] == "document"
    storage = MediaStorage(settings.media_path)
    storage.delete(hashlib.sha256(pdf).hexdigest())  # lost from the disk while the point was unlinked

    await link(client, world, world.point_a)

    async def settled() -> bool:
        items = (await client.get(url, headers=world.agent_a.headers)).json()["items"]
        return {m["id"]: m["deliveryStatus"] for m in items if m["direction"] == "OUT"} == {
            kept.json()["id"]: "SENT",
            gone.json()["id"]: "FAILED",
        }

    await eventually(settled, timeout=10, what="the photo SENT and the lost PDF FAILED")
    items = {m["id"]: m for m in (await client.get(url, headers=world.agent_a.headers)).json()["items"]}
    assert items[gone.json()["id"]]["failureReason"] == "el archivo ya no está disponible"
    [on_phone] = await received(client, world, world.point_a)
    assert on_phone["media"]["size"] == len(photo)
