"""A point's files over HTTP: the file of a message, and another try at a failed download.

Same access as the inbox (members of the point and admins). A file a browser could run as a page never comes back
as such: only `storage.INLINE_TYPES` are served inline with their type; everything is `nosniff`, sandboxed by its
Content-Security-Policy and private to the browser's cache.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.datastructures import ETag, State
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response import File
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_point_member
from ventanilla.db.models import MediaStatus, ServicePoint, User
from ventanilla.media.schemas import MediaRetried
from ventanilla.media.services import MediaService
from ventanilla.media.storage import MediaStorage
from ventanilla.openapi import error
from ventanilla.service_points.dependencies import provide_service_point

MEDIA = "/{media_id:uuid}"
# Lower case: Litestar's file response sets its own `content-disposition` unless that exact key is present.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private",
}


async def provide_media(db_session: NamedDependency[AsyncSession]) -> MediaService:
    return MediaService(db_session)


async def provide_media_storage(state: State) -> MediaStorage:
    storage: MediaStorage = state.media
    return storage


class MediaController(Controller):
    path = "/api/service-points/{sp_id:uuid}/media"
    tags = ["media"]
    guards = [requires_point_member]
    dependencies = {
        "service_point": Provide(provide_service_point),
        "media": Provide(provide_media),
        "storage": Provide(provide_media_storage),
    }

    @get(
        MEDIA,
        summary="The file of a message (images, audio, video and PDF inline; anything else as a download)",
        responses={
            200: ResponseSpec(
                data_container=bytes,
                media_type="application/octet-stream",
                description="The file; Content-Type is its sniffed type when shown inline",
                generate_examples=False,
            ),
            409: error("The file is still downloading (PENDING) or its download failed (FAILED)"),
            410: error("The file was deleted by retention (EXPIRED); the message stays"),
        },
    )
    async def get_media(
        self,
        media_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        media: NamedDependency[MediaService],
        storage: NamedDependency[MediaStorage],
    ) -> File:
        served = await media.file(service_point.id, media_id, storage)
        return File(
            path=served.path,
            media_type=served.media_type,
            etag=ETag(value=served.sha256),
            headers={"content-disposition": served.disposition, **SECURITY_HEADERS},
        )

    @post(
        MEDIA + "/retry",
        status_code=HTTP_202_ACCEPTED,
        summary="Download a FAILED file again",
        responses={409: error("Only a FAILED download can be retried")},
    )
    async def retry_media(
        self,
        request: Request[User, Token, State],
        media_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        media: NamedDependency[MediaService],
    ) -> MediaRetried:
        message_id = await media.retry(service_point.id, media_id)
        await media.session.commit()  # the row must be due before the downloader looks
        request.app.state.media_downloads.notify()
        return MediaRetried(id=media_id, message_id=message_id, status=MediaStatus.PENDING)
