"""API-key queries: create (the secret leaves only in the answer), list, revoke, and find the key of a request.

A request's key is found by its shown prefix (indexed) and then compared by hash in constant time. `last_used_at`
is written at most once a minute per key, by a conditional UPDATE, so busy integrations do not write on every call
and several replicas agree without talking.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import or_, select, update

from ventanilla.api_keys import tokens
from ventanilla.api_keys.schemas import ApiKeyCreate
from ventanilla.db.models import ApiKey, ServicePoint

LAST_USED_RESOLUTION = timedelta(minutes=1)


class UnknownPointsError(ValueError):
    """Some of the listed points do not exist (the controller answers 400 naming `servicePointIds`)."""


class ApiKeyRepository(SQLAlchemyAsyncRepository[ApiKey]):
    model_type = ApiKey


class ApiKeyService(SQLAlchemyAsyncRepositoryService[ApiKey, ApiKeyRepository]):
    repository_type = ApiKeyRepository

    async def list_keys(self) -> Sequence[ApiKey]:
        return (await self.repository.session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))).all()

    async def create_key(self, data: ApiKeyCreate, created_by: UUID) -> tuple[ApiKey, str]:
        """The new row and its secret, which exists nowhere else from now on."""
        points = None if data.service_point_ids is None else sorted(set(data.service_point_ids))
        if points is not None:
            found = set(
                await self.repository.session.scalars(select(ServicePoint.id).where(ServicePoint.id.in_(points)))
            )
            if len(found) != len(points):
                raise UnknownPointsError("some of these service points do not exist")
        secret = tokens.new_key()
        key = ApiKey(
            name=data.name.strip(),
            prefix=tokens.shown_prefix(secret),
            secret_sha256=tokens.digest(secret),
            scopes=sorted(set(data.scopes)),
            service_point_ids=points,
            created_by_user_id=created_by,
        )
        return await self.repository.add(key), secret

    async def revoke_key(self, key_id: UUID) -> None:
        key = await self.repository.session.get(ApiKey, key_id)
        if key is None:
            raise NotFoundError(detail="API key not found")
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            await self.repository.session.flush()

    async def authenticate(self, presented: str) -> ApiKey | None:
        """The live key whose secret is `presented`, or None (unknown, malformed or revoked)."""
        if len(presented) > tokens.MAX_KEY_CHARS or "\x00" in presented:
            return None
        candidates = await self.repository.session.scalars(
            select(ApiKey).where(ApiKey.prefix == tokens.shown_prefix(presented), ApiKey.revoked_at.is_(None))
        )
        return next((key for key in candidates if tokens.matches(presented, key.secret_sha256)), None)

    async def note_use(self, key: ApiKey, now: datetime) -> bool:
        """Record `now` as the last use unless one within the last minute is recorded already; True if written."""
        if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
            return False
        result = await self.repository.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key.id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount > 0
