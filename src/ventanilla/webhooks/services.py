"""Webhook queries: create (the secret leaves only in the answer), list, re-enable, delete, read the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import select

from ventanilla.db.models import ServicePoint, Webhook, WebhookDelivery
from ventanilla.webhooks.schemas import WebhookCreate
from ventanilla.webhooks.signing import new_secret

LOG_SIZE = 100  # deliveries listed, newest first


class InvalidWebhookError(ValueError):
    """A bad URL or an unknown point (the controller answers 400 naming `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def checked_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL with a host and no credentials in it."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidWebhookError("url", "not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookError("url", "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidWebhookError("url", "must not hold credentials")
    return parts.geturl()


class WebhookRepository(SQLAlchemyAsyncRepository[Webhook]):
    model_type = Webhook


class WebhookService(SQLAlchemyAsyncRepositoryService[Webhook, WebhookRepository]):
    repository_type = WebhookRepository

    async def list_webhooks(self) -> Sequence[Webhook]:
        return (await self.repository.session.scalars(select(Webhook).order_by(Webhook.created_at, Webhook.id))).all()

    async def create_webhook(self, data: WebhookCreate, created_by: UUID) -> tuple[Webhook, str]:
        """The new row and its secret, returned this once."""
        url = checked_url(data.url)
        point = data.service_point_id
        if point is not None and await self.repository.session.get(ServicePoint, point) is None:
            raise InvalidWebhookError("servicePointId", "this service point does not exist")
        secret = new_secret()
        webhook = Webhook(
            url=url,
            events=sorted(set(data.events)),
            service_point_id=point,
            secret=secret,
            enabled=True,
            created_by_user_id=created_by,
        )
        return await self.repository.add(webhook), secret

    async def set_enabled(self, webhook_id: UUID, enabled: bool) -> Webhook:
        webhook = await self._get(webhook_id)
        webhook.enabled = enabled
        webhook.disabled_reason = None if enabled else "Desactivado por un administrador"
        webhook.disabled_at = None
        await self.repository.session.flush()
        return webhook

    async def delete_webhook(self, webhook_id: UUID) -> None:
        await self.repository.session.delete(await self._get(webhook_id))
        await self.repository.session.flush()

    async def deliveries(self, webhook_id: UUID) -> Sequence[WebhookDelivery]:
        await self._get(webhook_id)
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(LOG_SIZE)
        )
        return (await self.repository.session.scalars(query)).all()

    async def _get(self, webhook_id: UUID) -> Webhook:
        webhook = await self.repository.session.get(Webhook, webhook_id)
        if webhook is None:
            raise NotFoundError(detail="webhook not found")
        return webhook
