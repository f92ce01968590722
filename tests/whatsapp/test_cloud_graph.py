"""The Cloud API client against the fake Graph server: what it sends, what it reads back, and how it classifies
Meta's refusals (what may be retried, a rejected token, throttling that pauses everybody's sends). What the fake
never answers (HTML errors, redirects, foreign URLs, a dropped connection) comes from a small aiohttp server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.graph_api import FakeGraph, running_fake_graph
from ventanilla.whatsapp.cloud.graph import GraphClient, GraphError, RateLimiter, Template

PHONE_NUMBER_ID = "1065403522"
TOKEN = "EAAG-secret-token"
CUSTOMER = "+5215512345678"


class FakeClock:
    """Time that moves only when the limiter sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with running_fake_graph() as fake:
        fake.add_number(PHONE_NUMBER_ID, TOKEN)
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0)) as session:
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(per_second=10, burst=3, clock=clock, sleep=clock.sleep)


@pytest.fixture
def client(graph: FakeGraph, http: aiohttp.ClientSession, limiter: RateLimiter) -> GraphClient:
    return GraphClient(graph.url, PHONE_NUMBER_ID, TOKEN, http, limiter)


async def test_phone_number_is_read_as_e164(client: GraphClient) -> None:
    info = await client.phone_number()

    assert info.phone_number == "+525510000001"
    assert info.verified_name == "Sucursal"


async def test_send_text_posts_digits_with_the_bearer_and_returns_the_wamid(
    client: GraphClient, graph: FakeGraph
) -> None:
    wamid = await client.send_text(CUSTOMER, "Hola, ¿en qué te ayudo?", reply_to="wamid.quoted")

    [sent] = graph.sent
    assert wamid == sent.wamid and wamid.startswith("wamid.")
    assert sent.phone_number_id == PHONE_NUMBER_ID
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5215512345678",
        "type": "text",
        "text": {"body": "Hola, ¿en qué te ayudo?"},
        "context": {"message_id": "wamid.quoted"},
    }


async def test_send_media_keeps_caption_and_file_name_only_where_meta_takes_them(
    client: GraphClient, graph: FakeGraph
) -> None:
    await client.send_media(CUSTOMER, "document", "111", "Tu guía", "guia.pdf")
    await client.send_media(CUSTOMER, "image", "222", "", "foto.jpg")
    await client.send_media(CUSTOMER, "audio", "333", "ignored", None)

    document, image, audio = (sent.body for sent in graph.sent)
    assert document["document"] == {"id": "111", "caption": "Tu guía", "filename": "guia.pdf"}
    assert image["type"] == "image" and image["image"] == {"id": "222"}
    assert audio["audio"] == {"id": "333"}
    with pytest.raises(ValueError):
        await client.send_media(CUSTOMER, "location", "444", "", None)


async def test_send_template_with_and_without_parameters(client: GraphClient, graph: FakeGraph) -> None:
    await client.send_template(CUSTOMER, "guia_en_camino", "es_MX", ["ABC123", "mañana"])
    await client.send_template(CUSTOMER, "saludo", "es_MX", [])

    with_parameters, without = (sent.body["template"] for sent in graph.sent)
    assert with_parameters == {
        "name": "guia_en_camino",
        "language": {"code": "es_MX"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "ABC123"}, {"type": "text", "text": "mañana"}]}
        ],
    }
    assert without == {"name": "saludo", "language": {"code": "es_MX"}}


async def test_a_malformed_recipient_is_refused_before_any_request(client: GraphClient, graph: FakeGraph) -> None:
    with pytest.raises(ValueError) as refused:
        await client.send_text("+52 55 1234", "hola")

    assert "1234" not in str(refused.value)
    assert graph.requests == []


async def test_upload_then_download_round_trip(client: GraphClient, graph: FakeGraph) -> None:
    data = b"%PDF-1.7 " + bytes(range(256)) * 40

    media_id = await client.upload(data, "application/pdf", "guia.pdf")

    assert graph.uploads[media_id] == (data, "application/pdf")
    assert await client.download(media_id, max_bytes=len(data)) == (data, "application/pdf")


async def test_a_customers_file_is_downloaded_with_the_bearer(client: GraphClient, graph: FakeGraph) -> None:
    media_id = graph.add_media(b"\xff\xd8photo", "image/jpeg", TOKEN)

    assert await client.download(media_id, max_bytes=1000) == (b"\xff\xd8photo", "image/jpeg")
    assert ("GET", f"/download/{media_id}") in graph.requests


async def test_download_over_the_declared_size_is_refused_without_fetching(
    client: GraphClient, graph: FakeGraph
) -> None:
    media_id = graph.add_media(b"x" * 2048, "video/mp4", TOKEN)

    with pytest.raises(GraphError) as refused:
        await client.download(media_id, max_bytes=1024)

    assert not refused.value.retryable
    assert str(refused.value) == "el archivo supera el límite de 1 KB"
    assert not any(path.startswith("/download/") for _, path in graph.requests)


async def test_download_stops_when_more_bytes_arrive_than_declared(client: GraphClient, graph: FakeGraph) -> None:
    media_id = graph.add_media(b"x" * 200_000, "video/mp4", TOKEN, reported_size=10)

    with pytest.raises(GraphError) as refused:
        await client.download(media_id, max_bytes=1000)

    assert not refused.value.retryable
    assert refused.value.title.startswith("el archivo supera el límite")


async def test_a_rejected_token_is_flagged_and_never_shown(graph: FakeGraph, http: aiohttp.ClientSession) -> None:
    wrong = GraphClient(graph.url, PHONE_NUMBER_ID, "EAAG-stale-token", http)

    with pytest.raises(GraphError) as refused:
        await wrong.send_text(CUSTOMER, "hola")

    error = refused.value
    assert (error.status, error.code, error.token_rejected, error.retryable) == (401, 190, True, False)
    assert str(error) == "Meta 190: Invalid OAuth access token."
    assert "EAAG" not in str(error) and "EAAG" not in repr(error)


async def test_an_unknown_phone_number_id_is_not_retryable(graph: FakeGraph, http: aiohttp.ClientSession) -> None:
    with pytest.raises(GraphError) as refused:
        await GraphClient(graph.url, "999", TOKEN, http).phone_number()

    assert (refused.value.status, refused.value.code, refused.value.retryable) == (400, 100, False)


async def test_outside_the_window_is_final_with_metas_details(client: GraphClient, graph: FakeGraph) -> None:
    details = "Message failed to send because more than 24 hours have passed since the customer last replied."
    graph.fail_next("/messages", status=400, code=131047, subcode=2494010, title=details)

    with pytest.raises(GraphError) as refused:
        await client.send_text(CUSTOMER, "hola")

    error = refused.value
    assert (error.code, error.subcode, error.retryable, error.token_rejected) == (131047, 2494010, False, False)
    assert str(error) == f"Meta 131047: {details}"
    assert graph.sent == []


async def test_titles_hide_phone_numbers_and_stay_short(client: GraphClient, graph: FakeGraph) -> None:
    graph.fail_next("/messages", status=400, code=131026, title=f"Recipient {CUSTOMER} cannot receive. " + "x" * 400)

    with pytest.raises(GraphError) as refused:
        await client.send_text(CUSTOMER, "hola")

    assert "5512345678" not in str(refused.value)
    assert len(refused.value.title) <= 300


async def test_throttling_is_retryable_and_pauses_the_numbers_sends(
    client: GraphClient, graph: FakeGraph, limiter: RateLimiter, clock: FakeClock
) -> None:
    graph.fail_next("/messages", status=400, code=130429, title="Rate limit hit", retry_after=7)

    with pytest.raises(GraphError) as refused:
        await client.send_text(CUSTOMER, "hola")

    assert (refused.value.retryable, refused.value.retry_after) == (True, 7.0)
    paused_at = clock.now
    await limiter.acquire()
    assert clock.now - paused_at >= 7.0


async def test_a_429_without_retry_after_pauses_one_second(
    client: GraphClient, graph: FakeGraph, limiter: RateLimiter, clock: FakeClock
) -> None:
    graph.fail_next("/messages", status=429, code=80007, title="WABA rate limit")

    with pytest.raises(GraphError) as refused:
        await client.send_text(CUSTOMER, "hola")

    assert (refused.value.retryable, refused.value.retry_after) == (True, None)
    paused_at = clock.now
    await limiter.acquire()
    assert clock.now - paused_at >= 1.0


async def test_server_errors_are_retryable_and_the_next_try_succeeds(client: GraphClient, graph: FakeGraph) -> None:
    graph.fail_next("/messages", status=503, code=2, title="Service temporarily unavailable", times=2)

    for _ in range(2):
        with pytest.raises(GraphError) as refused:
            await client.send_text(CUSTOMER, "hola")
        assert (refused.value.status, refused.value.retryable) == (503, True)
    assert await client.send_text(CUSTOMER, "hola")
    assert len(graph.sent) == 1


async def test_a_closed_port_is_a_retryable_network_error(http: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nobody = GraphClient(f"http://127.0.0.1:{port}/v21.0", PHONE_NUMBER_ID, TOKEN, http)

    with pytest.raises(GraphError) as refused:
        await nobody.send_text(CUSTOMER, "hola")

    assert (refused.value.status, refused.value.retryable) == (0, True)
    assert str(refused.value) == "Meta no respondió: no se pudo conectar"


async def test_a_timeout_is_a_retryable_network_error(graph: FakeGraph) -> None:
    graph.set_delay(0.5)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.05)) as impatient:
        with pytest.raises(GraphError) as refused:
            await GraphClient(graph.url, PHONE_NUMBER_ID, TOKEN, impatient).phone_number()

    assert (refused.value.status, refused.value.retryable) == (0, True)
    assert "tiempo" in refused.value.title


@pytest.fixture
async def meta() -> AsyncIterator[tuple[web.Application, list[str]]]:
    """An aiohttp app standing in for Meta (tests add its routes before the first request) and the paths asked."""
    asked: list[str] = []

    @web.middleware
    async def recording(request: web.Request, handler: web.RequestHandler[web.Request]) -> web.StreamResponse:
        asked.append(request.path_qs)
        return await handler(request)

    yield web.Application(middlewares=[recording]), asked


async def _served(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_non_json_error_body_still_gives_a_graph_error(
    meta: tuple[web.Application, list[str]], http: aiohttp.ClientSession
) -> None:
    async def gateway(request: web.Request) -> web.Response:
        headers = {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html", headers=headers)

    app, _ = meta
    app.router.add_post("/v21.0/{number}/messages", gateway)
    server = await _served(app)
    try:
        with pytest.raises(GraphError) as refused:
            await GraphClient(str(server.make_url("/v21.0")), PHONE_NUMBER_ID, TOKEN, http).send_text(CUSTOMER, "x")
    finally:
        await server.close()

    error = refused.value
    assert (error.status, error.code, error.retryable) == (502, None, True)
    assert str(error) == "Meta HTTP 502: Bad Gateway"
    assert error.retry_after is not None and error.retry_after > 0


async def test_the_token_is_not_sent_in_clear_to_another_host(
    meta: tuple[web.Application, list[str]], http: aiohttp.ClientSession
) -> None:
    async def media(request: web.Request) -> web.Response:
        return web.json_response({"url": "http://elsewhere.example/file", "mime_type": "image/png"})

    app, asked = meta
    app.router.add_get("/v21.0/{media_id}", media)
    server = await _served(app)
    try:
        with pytest.raises(GraphError) as refused:
            await GraphClient(str(server.make_url("/v21.0")), PHONE_NUMBER_ID, TOKEN, http).download("1", 1000)
    finally:
        await server.close()

    assert not refused.value.retryable  # a network error (elsewhere.example fetched) would be retryable
    assert "insegura" in refused.value.title
    assert asked == ["/v21.0/1"]


async def test_a_refused_download_is_classified_like_any_refusal(
    meta: tuple[web.Application, list[str]], http: aiohttp.ClientSession
) -> None:
    async def media(request: web.Request) -> web.Response:
        return web.json_response({"url": str(request.url.with_path("/download/1")), "mime_type": "image/png"})

    async def download(request: web.Request) -> web.Response:
        error = {"message": "Invalid OAuth access token.", "code": 190}
        return web.json_response({"error": error}, status=401)

    app, asked = meta
    app.router.add_get("/v21.0/{media_id}", media)
    app.router.add_get("/download/{media_id}", download)
    server = await _served(app)
    try:
        with pytest.raises(GraphError) as refused:
            await GraphClient(str(server.make_url("/v21.0")), PHONE_NUMBER_ID, TOKEN, http).download("1", 1000)
    finally:
        await server.close()

    assert (refused.value.status, refused.value.code, refused.value.token_rejected) == (401, 190, True)
    assert asked == ["/v21.0/1", "/download/1"]


async def test_a_redirect_is_not_followed(meta: tuple[web.Application, list[str]], http: aiohttp.ClientSession) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    app, asked = meta
    app.router.add_get("/v21.0/{number}", moved)
    server = await _served(app)
    try:
        with pytest.raises(GraphError) as refused:
            await GraphClient(str(server.make_url("/v21.0")), PHONE_NUMBER_ID, TOKEN, http).phone_number()
    finally:
        await server.close()

    assert (refused.value.status, refused.value.retryable) == (302, False)
    assert asked == [f"/v21.0/{PHONE_NUMBER_ID}?fields=display_phone_number,verified_name"]


async def test_template_pages_never_lead_to_another_host(
    meta: tuple[web.Application, list[str]], http: aiohttp.ClientSession
) -> None:
    async def templates(request: web.Request) -> web.Response:
        paging = {"next": "https://elsewhere.example/v21.0/WABA1/message_templates?after=MQ"}
        return web.json_response({"data": [], "paging": paging})

    app, asked = meta
    app.router.add_get("/v21.0/{account}/message_templates", templates)
    server = await _served(app)
    try:
        with pytest.raises(GraphError) as refused:
            await GraphClient(str(server.make_url("/v21.0")), PHONE_NUMBER_ID, TOKEN, http).templates("WABA1")
    finally:
        await server.close()

    assert not refused.value.retryable
    assert len(asked) == 1


async def test_a_dropped_connection_is_a_retryable_network_error(http: aiohttp.ClientSession) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id"')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(GraphError) as refused:
            await GraphClient(f"http://127.0.0.1:{port}/v21.0", PHONE_NUMBER_ID, TOKEN, http).phone_number()
    finally:
        server.close()
        await server.wait_closed()

    assert (refused.value.status, refused.value.retryable) == (0, True)
    assert refused.value.title.startswith("error de red (")


def _meta_template(index: int) -> dict[str, object]:
    return {
        "name": f"aviso_{index:03d}",
        "language": "es_MX",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": str(9000 + index),
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Paquetería"},
            {"type": "BODY", "text": "Hola {{1}}, tu guía {{2}} llega {{3}}. Guía: {{2}}."},
            {"type": "FOOTER", "text": "No respondas a este mensaje"},
        ],
    }


async def test_templates_follow_every_page(client: GraphClient, graph: FakeGraph) -> None:
    listed = [_meta_template(index) for index in range(230)]
    listed.append({"name": "sin_cuerpo", "language": "en_US", "status": "PENDING", "components": []})
    graph.add_templates("WABA1", TOKEN, listed)

    templates = await client.templates("WABA1")

    assert [template.name for template in templates] == [item["name"] for item in listed]
    assert sum(path.endswith("/message_templates") for _, path in graph.requests) == 3
    first = templates[0]
    assert (first.language, first.status, first.category, first.parameter_count) == ("es_MX", "APPROVED", "UTILITY", 3)
    assert first.render(["Ana", "ABC123", "mañana"]) == "Hola Ana, tu guía ABC123 llega mañana. Guía: ABC123."
    assert templates[-1] == Template("sin_cuerpo", "en_US", "PENDING", None, "", 0)
    assert templates[-1].render([]) == ""


def test_render_refuses_the_wrong_number_of_parameters() -> None:
    template = Template("aviso", "es_MX", "APPROVED", "UTILITY", "Hola {{1}}", 1)

    with pytest.raises(ValueError):
        template.render([])
    with pytest.raises(ValueError):
        template.render(["a", "b"])


async def test_the_limiter_lets_a_burst_through_then_keeps_the_rate(limiter: RateLimiter, clock: FakeClock) -> None:
    start = clock.now
    for _ in range(3):
        await limiter.acquire()
    assert clock.sleeps == []

    for _ in range(10):
        await limiter.acquire()

    assert clock.now - start == pytest.approx(1.0)  # 10 more at 10 per second


async def test_the_limiter_refills_up_to_the_burst_only(limiter: RateLimiter, clock: FakeClock) -> None:
    for _ in range(3):
        await limiter.acquire()
    clock.now += 60  # idle for a minute

    for _ in range(3):
        await limiter.acquire()
    assert clock.sleeps == []
    await limiter.acquire()
    assert clock.sleeps == [pytest.approx(0.1)]


async def test_a_pause_stops_everybody_then_resumes_at_the_rate(limiter: RateLimiter, clock: FakeClock) -> None:
    start = clock.now
    limiter.pause(5)
    limiter.pause(2)  # a shorter pause does not shorten the longer one

    await limiter.acquire()
    await limiter.acquire()

    assert clock.now - start == pytest.approx(5.2)


def test_the_limiter_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_second=0)
    with pytest.raises(ValueError):
        RateLimiter(burst=0)
