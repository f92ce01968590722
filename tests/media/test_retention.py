"""Retention: old files expire (the message stays), a file shared by content is kept while a live row uses it."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import update

from tests.media.conftest import JPEG, PDF, PNG, Files
from tests.outage import Outage
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import Media, MediaStatus, Message
from ventanilla.media.retention import MediaRetention, RetentionPolicy

DAYS = 180


async def _ready(files: Files, point: UUID, data: bytes, *, days_old: float, file_age_seconds: float = 7200) -> UUID:
    """A READY file `days_old` days old, stored as the downloader stores it (its file last touched long ago)."""
    [(media_id, _, _)] = await files.received(point, None)
    stored = files.storage.put(data)
    at = datetime.now(UTC) - timedelta(days=days_old)
    async with files.sessions() as session, session.begin():
        await session.execute(
            update(Media)
            .where(Media.id == media_id)
            .values(
                status=MediaStatus.READY,
                sha256=stored.sha256,
                size=stored.size,
                mime_type=stored.mime_type,
                source=None,
                next_attempt_at=None,
                created_at=at,
            )
        )
    past = time.time() - file_age_seconds
    os.utime(files.storage.path(stored.sha256), (past, past))
    return media_id


def _retention(files: Files, **policy: float) -> MediaRetention:
    return MediaRetention(files.sessions, files.storage, files.metrics, DAYS, RetentionPolicy(**policy))  # type: ignore[arg-type]


async def test_old_files_expire_and_shared_files_stay_while_used(files: Files) -> None:
    point = await files.point("A")
    old_unique = await _ready(files, point, PDF, days_old=DAYS + 1)
    old_shared = await _ready(files, point, PNG, days_old=DAYS + 30)
    recent_same_png = await _ready(files, point, PNG, days_old=2)  # the same photo, sent again lately
    recent = await _ready(files, point, JPEG, days_old=DAYS - 1)
    [(pending, _, _)] = await files.received(point, JPEG)
    pdf, png, jpeg = [(await files.media(m)).sha256 for m in (old_unique, old_shared, recent)]
    assert pdf and png and jpeg

    report = await _retention(files, batch=1).run_once()  # batch of 1: every batch boundary is crossed

    assert (report.expired, report.files_deleted) == (2, 1)
    assert await files.status(old_unique) is MediaStatus.EXPIRED
    assert await files.status(old_shared) is MediaStatus.EXPIRED
    for kept in (recent_same_png, recent):
        assert await files.status(kept) is MediaStatus.READY
    assert await files.status(pending) is MediaStatus.PENDING
    assert not files.storage.exists(pdf)
    assert files.storage.exists(png) and files.storage.exists(jpeg)
    expired = await files.media(old_unique)
    assert (expired.sha256, expired.size, expired.mime_type, expired.source) == (pdf, len(PDF), "application/pdf", None)
    async with files.sessions() as session:  # the message stays
        assert await session.get(Message, expired.message_id) is not None

    again = await _retention(files).run_once()
    assert (again.expired, again.files_deleted) == (0, 0)  # idempotent

    async with files.sessions() as session, session.begin():  # the recent copy ages too: now the file goes
        await session.execute(
            update(Media).where(Media.id == recent_same_png).values(created_at=datetime.now(UTC) - timedelta(days=999))
        )
    last = await _retention(files).run_once()
    assert (last.expired, last.files_deleted) == (1, 1)
    assert not files.storage.exists(png)
    assert files.metrics.expired[-1] == (1, 1)


async def test_a_file_stored_again_just_now_is_not_deleted(files: Files) -> None:
    """The downloader (or an upload) has just written this content again; its READY row is not committed yet."""
    point = await files.point("A")
    old = await _ready(files, point, PDF, days_old=DAYS + 1)
    sha = (await files.media(old)).sha256
    assert sha
    files.storage.put(PDF)  # refreshes the file: it is about to be used again
    report = await _retention(files).run_once()
    assert (report.expired, report.files_deleted) == (1, 0)
    assert files.storage.exists(sha)


async def test_the_job_runs_after_start_and_survives_the_database_going_away(
    files: Files, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ventanilla.media")
    point = await files.point("A")
    old = await _ready(files, point, JPEG, days_old=DAYS + 1)
    retention = _retention(files, first_run_seconds=0.2, retry_seconds=0.2, every_seconds=3600)
    await outage.refuse()
    retention.start()
    try:
        await asyncio.sleep(0.5)  # the first run meets no database
        await outage.allow()
        await eventually(lambda: _expired(files, old), timeout=10, what="EXPIRED once the database is back")
    finally:
        await outage.allow()
        await retention.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "ventanilla.media.retention"]
    assert any("waits for the database" in m for m in messages), messages
    assert any("1 files older than 180 days expired, 1 deleted" in m for m in messages), messages


async def _expired(files: Files, media_id: UUID) -> bool:
    return await files.status(media_id) is MediaStatus.EXPIRED
