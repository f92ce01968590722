"""Webhook queries: create (the secret leaves only in the answer, and is stored sealed), list, re-enable, delete,
read the delivery log a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import select

from ventanilla.db.models import ServicePoint, Webhook, WebhookDelivery
from ventanilla.pagination import PageCursor
from ventanilla.secret_box import SecretBox
from ventanilla.webhooks.schemas import WebhookCreate
from ventanilla.webhooks.signing import new_secret
from ventanilla.webhooks.targets import TargetPolicy, TargetRefused


class DeliveryCursor(PageCursor):
    """Where a page of the delivery log ended: the last row's id (newest first, so the next page is below it)."""

    id: int


class InvalidWebhookError(ValueError):
    """A bad URL or an unknown point (the controller answers 400 naming `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


async def checked_url(url: str, targets: TargetPolicy) -> str:
    """`url` if it is an absolute http(s) URL with a host and no credentials in it, whose host `targets` allows
    (not a private address, nor a name resolving to one)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidWebhookError("url", "not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookError("url", "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidWebhookError("url", "must not hold credentials")
    try:
        await targets.check_url_host(parts.hostname, port)
    except TargetRefused as exc:
        raise InvalidWebhookError("url", str(exc)) from None
    return parts.geturl()


class WebhookRepository(SQLAlchemyAsyncRepository[Webhook]):
    model_type = Webhook


class WebhookService(SQLAlchemyAsyncRepositoryService[Webhook, WebhookRepository]):
    repository_type = WebhookRepository

    async def list_webhooks(self) -> Sequence[Webhook]:
        return (await self.repository.session.scalars(select(Webhook).order_by(Webhook.created_at, Webhook.id))).all()

    async def create_webhook(
        self, data: WebhookCreate, created_by: UUID, box: SecretBox, targets: TargetPolicy
    ) -> tuple[Webhook, str]:
        """The new row and its secret in clear, returned this once (the row holds it sealed by `box`)."""
        url = await checked_url(data.url, targets)
        point = data.service_point_id
        if point is not None and await self.repository.session.get(ServicePoint, point) is None:
            raise InvalidWebhookError("servicePointId", "this service point does not exist")
        secret = new_secret()
        webhook = Webhook(
            url=url,
            events=sorted(set(data.events)),
            service_point_id=point,
            secret=box.seal(secret),
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

    async def deliveries(
        self, webhook_id: UUID, limit: int, after: DeliveryCursor | None
    ) -> tuple[Sequence[WebhookDelivery], DeliveryCursor | None]:
        """A page of the log, newest first, and where the next one starts (None: this was the last)."""
        await self._get(webhook_id)
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(WebhookDelivery.id < after.id)
        rows = (await self.repository.session.scalars(query)).all()
        page = rows[:limit]
        return page, DeliveryCursor(page[-1].id) if len(rows) > limit else None

    async def _get(self, webhook_id: UUID) -> Webhook:
        webhook = await self.repository.session.get(Webhook, webhook_id)
        if webhook is None:
            raise NotFoundError(detail="webhook not found")
        return webhook
