"""Bodies of the media endpoints (the file itself is served as is)."""

from __future__ import annotations

from uuid import UUID

from ventanilla.db.models import MediaStatus
from ventanilla.schemas import CamelStruct


class MediaRetried(CamelStruct):
    """A FAILED download queued again: PENDING until the downloader fetches it (the inbox hears `message.updated`)."""

    id: UUID
    message_id: UUID
    status: MediaStatus
