"""`GET .../media/{mediaId}` and `POST .../retry`: members only, safe headers, the states said by their status."""

from __future__ import annotations

import base64
from uuid import UUID, uuid4

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.media.conftest import HTML, JPEG, PNG, SVG
from tests.rows import add_conversation
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import Media, MediaStatus, Message
from ventanilla.media.storage import MediaStorage
from ventanilla.whatsapp.transport import MediaRef

Client = AsyncTestClient[Litestar]
SAFE = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private",
}


def _url(point: UUID, media: UUID, suffix: str = "") -> str:
    return f"/api/service-points/{point}/media/{media}{suffix}"


async def _media(
    session: AsyncSession,
    app: Litestar,
    point: UUID,
    data: bytes | None,
    *,
    status: MediaStatus = MediaStatus.READY,
    mime_type: str | None = None,
    file_name: str | None = None,
) -> UUID:
    """A customer's file of `point`, stored as the downloader stores it (READY: under MEDIA_DIR, sniffed type)."""
    conversation = await add_conversation(session, point, phone=f"+5939{uuid4().int % 10**9:09d}")
    message = await session.scalar(select(Message.id).where(Message.conversation_id == conversation))
    storage: MediaStorage = app.state.media
    stored = storage.put(data) if data is not None and status is MediaStatus.READY else None
    media = Media(
        service_point_id=point,
        message_id=message,
        status=status,
        mime_type=mime_type or (stored.mime_type if stored else None),
        file_name=file_name,
        size=stored.size if stored else None,
        sha256=stored.sha256 if stored else None,
        source=b"handle" if status is not MediaStatus.READY else None,
        error="WhatsApp ya no tiene el archivo" if status is MediaStatus.FAILED else None,
    )
    session.add(media)
    await session.commit()
    return media.id


async def test_members_get_the_file_inline_with_safe_headers(
    client: Client, app: Litestar, world: World, session: AsyncSession
) -> None:
    media = await _media(session, app, world.point_a, PNG, file_name="foto del paquete ñ.png")
    for actor in (world.agent_a, world.supervisor_a, world.admin):
        response = await client.get(_url(world.point_a, media), headers=actor.headers)
        assert response.status_code == 200, response.text
        assert response.content == PNG
        assert response.headers["content-type"] == "image/png"
        assert response.headers["content-disposition"] == (
            "inline; filename=\"foto del paquete n.png\"; filename*=UTF-8''foto%20del%20paquete%20%C3%B1.png"
        )
        assert {k: response.headers[k] for k in SAFE} == SAFE
    for actor in (world.agent_b, world.outsider):  # another point's member: as if the point did not exist
        response = await client.get(_url(world.point_a, media), headers=actor.headers)
        assert (response.status_code, response.json()["detail"]) == (404, "service point not found")
    response = await client.get(_url(world.point_a, media))
    assert response.status_code == 401


async def test_another_points_or_an_unknown_id_is_not_found(
    client: Client, app: Litestar, world: World, session: AsyncSession
) -> None:
    media_b = await _media(session, app, world.point_b, JPEG)
    for url in (_url(world.point_a, media_b), _url(world.point_a, uuid4())):
        for actor in (world.admin, world.agent_a):
            response = await client.get(url, headers=actor.headers)
            assert (response.status_code, response.json()["detail"]) == (404, "media not found")
            response = await client.post(url + "/retry", headers=actor.headers)
            assert (response.status_code, response.json()["detail"]) == (404, "media not found")


async def test_pages_and_svg_come_back_as_downloads(
    client: Client, app: Litestar, world: World, session: AsyncSession
) -> None:
    sniffed = await _media(session, app, world.point_a, HTML, file_name="../../factura.html")
    claimed_html = await _media(session, app, world.point_a, HTML, mime_type="text/html")  # whatever the row says
    claimed_svg = await _media(session, app, world.point_a, SVG, mime_type="image/svg+xml", file_name='a";b.svg')
    names = {sniffed: "factura.html", claimed_html: "archivo", claimed_svg: "a_b.svg"}
    for media, name in names.items():
        response = await client.get(_url(world.point_a, media), headers=world.agent_a.headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"] == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
        assert {k: response.headers[k] for k in SAFE} == SAFE


async def test_pending_failed_and_expired_say_so(
    client: Client, app: Litestar, world: World, session: AsyncSession
) -> None:
    pending = await _media(session, app, world.point_a, None, status=MediaStatus.PENDING)
    failed = await _media(session, app, world.point_a, None, status=MediaStatus.FAILED)
    expired = await _media(session, app, world.point_a, None, status=MediaStatus.EXPIRED)
    answers = {}
    for media in (pending, failed, expired):
        response = await client.get(_url(world.point_a, media), headers=world.agent_a.headers)
        answers[media] = (response.status_code, response.json()["detail"])
    assert answers[pending][0] == 409 and "PENDING" in answers[pending][1]
    assert answers[failed][0] == 409 and "FAILED" in answers[failed][1]
    assert answers[expired] == (410, "the file is no longer stored (media expired)")
    for media in (pending, expired):
        response = await client.post(_url(world.point_a, media, "/retry"), headers=world.agent_a.headers)
        assert response.status_code == 409 and "only a FAILED download" in response.json()["detail"]


async def test_retrying_a_failed_download_fetches_it_again(
    client: Client, app: Litestar, world: World, session: AsyncSession
) -> None:
    failed = await _media(session, app, world.point_a, None, status=MediaStatus.FAILED)
    sessions = app.state.sessions.manager  # the downloader fetches through the session manager
    fetched: list[bytes] = []

    async def download(point_id: UUID, media: MediaRef, max_bytes: int) -> bytes:
        assert point_id == world.point_a
        fetched.append(media.handle)
        return JPEG

    sessions.download = download  # the network edge: the point's socket answers with the file
    sessions.connected_points = lambda: [world.point_a]
    response = await client.post(_url(world.point_a, failed, "/retry"), headers=world.agent_b.headers)
    assert response.status_code == 404
    response = await client.post(_url(world.point_a, failed, "/retry"), headers=world.agent_a.headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING"

    async def served() -> bool:
        return (await client.get(_url(world.point_a, failed), headers=world.agent_a.headers)).status_code == 200

    await eventually(served, what="the retried file served")
    assert fetched == [b"handle"]
    row = await session.scalar(select(Media).where(Media.id == failed).execution_options(populate_existing=True))
    assert row is not None and (row.status, row.attempts, row.error, row.mime_type) == (
        MediaStatus.READY,
        1,
        None,
        "image/jpeg",
    )
    response = await client.post(_url(world.point_a, failed, "/retry"), headers=world.agent_a.headers)
    assert response.status_code == 409


async def test_a_customers_photo_is_fetched_as_it_arrives_and_its_bot_turn_follows(
    client: Client, app: Litestar, linked: World, session: AsyncSession
) -> None:
    """Through the simulator's phone and the app's own receive: stored PENDING, the downloader woken at once (its
    sweep is 30 s here), READY with the sniffed type, served; then the bot answers the photo."""
    world = linked
    media = {"mimeType": "image/jpeg", "fileName": "IMG-001.jpg", "dataBase64": base64.b64encode(PNG).decode()}
    body = {"from": "+593991112299", "media": media}
    url = f"/api/service-points/{world.point_a}/simulator/inbound"
    response = await client.post(url, json=body, headers=world.admin.headers)
    assert response.status_code == 202, response.text
    provider_id = response.json()["messageId"]

    async def ready() -> bool:
        row = await session.scalar(select(Media).execution_options(populate_existing=True))
        return row is not None and row.status is MediaStatus.READY

    await eventually(ready, timeout=3, what="the photo READY")
    row = await session.scalar(select(Media).execution_options(populate_existing=True))
    assert row is not None and (row.mime_type, row.file_name, row.source) == ("image/png", "IMG-001.jpg", None)
    response = await client.get(_url(world.point_a, row.id), headers=world.agent_a.headers)
    assert response.content == PNG and response.headers["content-type"] == "image/png"

    async def handled() -> bool:
        message = await session.scalar(
            select(Message).where(Message.provider_message_id == provider_id).execution_options(populate_existing=True)
        )
        return message is not None and message.handled_at is not None

    await eventually(handled, timeout=10, what="the photo's bot turn")
