"""The downloader: customers' files fetched through their own point's socket, stored once, retried, given up."""

from __future__ import annotations

import asyncio
import logging
import stat
import time

import pytest

from tests.media.conftest import FAST, HANG, JPEG, PDF, PNG, Files
from tests.outage import Outage
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import MediaStatus, MessageType
from ventanilla.whatsapp.manager import NotConnectedError
from ventanilla.whatsapp.transport import TransportError


async def test_a_file_is_stored_once_with_its_sniffed_type(files: Files) -> None:
    point = await files.point("A")
    [(first, message, _)] = await files.received(point, PNG, mime_type="image/jpeg")  # the sender's claim is wrong
    [(second, _, _)] = await files.received(point, PNG)  # the same photo again, from another customer
    files.start()

    async def ready() -> bool:
        return {await files.status(first), await files.status(second)} == {MediaStatus.READY}

    await eventually(ready, what="both files READY")
    media = await files.media(first)
    assert (media.mime_type, media.size, media.source, media.attempts) == ("image/png", len(PNG), None, 1)
    assert media.sha256 == (await files.media(second)).sha256
    stored = [p for p in files.storage.directory.rglob("*") if p.is_file()]
    assert stored == [files.storage.path(media.sha256)]  # the same bytes twice are kept once
    assert stored[0].read_bytes() == PNG
    assert stat.S_IMODE(stored[0].stat().st_mode) == 0o600
    assert message in files.updated()
    assert (point, message) in {(p, m) for p, _, m in files.settled}  # the bot's turn for the photo may start
    assert [outcome for _, outcome in files.metrics.downloads] == ["ready", "ready"]


async def test_a_transient_failure_is_retried_and_a_dropped_socket_is_not_an_attempt(files: Files) -> None:
    point = await files.point("A")
    [(flaky, _, flaky_handle)] = await files.received(point, JPEG)
    [(offline, _, offline_handle)] = await files.received(point, PDF, kind=MessageType.DOCUMENT)
    files.network.script[flaky_handle] = [TransportError("network unreachable")]
    files.network.script[offline_handle] = [NotConnectedError(), NotConnectedError()]
    files.start()

    async def ready() -> bool:
        return {await files.status(flaky), await files.status(offline)} == {MediaStatus.READY}

    await eventually(ready, what="both files READY")
    assert (await files.media(flaky)).attempts == 2
    assert (await files.media(offline)).attempts == 1  # waiting for the socket did not count
    assert (await files.media(offline)).mime_type == "application/pdf"
    outcomes = [outcome for _, outcome in files.metrics.downloads]
    assert sorted(outcomes) == ["ready", "ready", "retry", "waiting", "waiting"]


async def test_a_permanent_refusal_or_too_many_failures_end_failed(files: Files) -> None:
    point = await files.point("A")
    [(gone, gone_message, gone_handle)] = await files.received(point, JPEG, kind=MessageType.AUDIO)
    [(flaky, flaky_message, flaky_handle)] = await files.received(point, JPEG)
    [(huge, _, _)] = await files.received(point, b"x" * 2048)
    files.network.script[gone_handle] = [TransportError("el archivo ya no está en WhatsApp", permanent=True)]
    files.network.script[flaky_handle] = [TransportError("timeout")] * FAST.max_attempts
    files.start(max_bytes=1024)

    async def failed() -> bool:
        return {await files.status(m) for m in (gone, flaky, huge)} == {MediaStatus.FAILED}

    await eventually(failed, what="three FAILED files")
    gone_media = await files.media(gone)
    assert (gone_media.error, gone_media.attempts) == ("el archivo ya no está en WhatsApp", 1)
    assert gone_media.source == gone_handle  # kept: an agent may ask for another try
    assert (await files.media(flaky)).attempts == FAST.max_attempts
    assert "1024" in ((await files.media(huge)).error or "")
    assert files.network.calls[gone_handle] == 1
    assert {gone_message, flaky_message} <= files.updated()
    assert {gone_message, flaky_message} <= {m for _, _, m in files.settled}  # the bot answers without the file
    assert not any(p.is_file() for p in files.storage.directory.rglob("*"))


async def test_only_awaited_files_hand_their_message_back(files: Files) -> None:
    point = await files.point("A")
    [(document, _, _)] = await files.received(point, PDF, kind=MessageType.DOCUMENT)
    [(answered, _, _)] = await files.received(point, JPEG, handled=True)  # a HUMAN conversation's photo
    files.start()

    async def ready() -> bool:
        return {await files.status(document), await files.status(answered)} == {MediaStatus.READY}

    await eventually(ready, what="both READY")
    assert files.settled == []


async def test_a_disconnected_points_files_wait_without_attempts(files: Files) -> None:
    point = await files.point("A", up=False)
    [(media, _, handle)] = await files.received(point, JPEG)
    downloader = files.start()
    await asyncio.sleep(0.3)
    assert files.network.calls[handle] == 0
    assert (await files.media(media)).attempts == 0
    files.network.up.add(point)  # linked again: the next sweep fetches it
    downloader.notify()
    await eventually(lambda: _is(files, media, MediaStatus.READY), what="READY once connected")


async def test_a_claimed_file_is_never_fetched_twice_at_once(files: Files) -> None:
    """Two downloaders (two replicas) on one database: each row is fetched once."""
    point = await files.point("A")
    made = await files.received(point, JPEG, count=12)
    for _, _, handle in made:
        files.network.script[handle] = [0.05]
    files.start()
    files.start()

    async def all_ready() -> bool:
        return all([await files.status(media) is MediaStatus.READY for media, _, _ in made])

    await eventually(all_ready, what="12 READY")
    assert files.network.overlaps == 0
    assert all(files.network.calls[handle] == 1 for _, _, handle in made)


async def test_one_points_slow_flood_does_not_delay_another_points_file(files: Files) -> None:
    flooded, quiet = await files.point("Inundado"), await files.point("Tranquilo")
    flood = await files.received(flooded, JPEG, count=50)
    for _, _, handle in flood:
        files.network.script[handle] = [1.0]  # each takes a second
    downloader = files.start(per_point=4, concurrency=8)
    await files.network.started.wait()
    [(photo, _, _)] = await files.received(quiet, PNG)
    downloader.notify()
    started = time.monotonic()
    await eventually(lambda: _is(files, photo, MediaStatus.READY), timeout=3, what="the quiet point's photo")
    waited = time.monotonic() - started
    assert waited < 0.5, waited
    assert files.network.most_in_flight[flooded] <= 4
    ready = [await files.status(media) for media, _, _ in flood].count(MediaStatus.READY)
    assert ready <= 8  # the flood was still going on


async def test_the_downloader_survives_the_database_going_away(
    files: Files, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ventanilla.media")
    point = await files.point("A")
    [(media, _, handle)] = await files.received(point, JPEG)
    gate = asyncio.Event()
    files.network.script[handle] = [gate]
    downloader = files.start()
    await files.network.started.wait()
    async with outage.refusing():
        gate.set()  # the file arrives while nothing can be recorded
        await asyncio.sleep(0.6)  # a dozen sweeps
        assert downloader._task is not None and not downloader._task.done()
    await eventually(lambda: _is(files, media, MediaStatus.READY), timeout=10, what="READY once the database is back")
    warnings = [r for r in caplog.records if r.name == "ventanilla.media.downloads" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "wait for the database" in warnings[0].getMessage()
    assert files.network.calls[handle] == 1  # recorded from memory, not fetched again
    [(later, _, _)] = await files.received(point, PNG)  # and it keeps working
    downloader.notify()
    await eventually(lambda: _is(files, later, MediaStatus.READY), what="the next file READY")


async def test_stopping_releases_claims_of_unfinished_downloads(files: Files) -> None:
    point = await files.point("A")
    [(media, _, handle)] = await files.received(point, JPEG)
    files.network.script[handle] = [HANG]
    downloader = files.start(drain_seconds=0.1)
    await files.network.started.wait()
    await downloader.stop()
    files.downloaders.remove(downloader)
    row = await files.media(media)
    assert row.status is MediaStatus.PENDING and row.attempts == 0
    files.start()  # the next run (or replica) takes it at once, not after the lease
    await eventually(lambda: _is(files, media, MediaStatus.READY), what="READY after a restart")


async def _is(files: Files, media_id: object, status: MediaStatus) -> bool:
    return await files.status(media_id) is status  # type: ignore[arg-type]
