"""Webhooks (admin) under /api/webhooks: created with the secret shown once (stored sealed) for a public URL,
listed without it, re-enabled, deleted, and each one's delivery log a page at a time."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.security.jwt import Token

from ventanilla.auth.guards import requires_admin
from ventanilla.db.models import User
from ventanilla.http_errors import invalid_field
from ventanilla.pagination import decode_cursor, encode_cursor
from ventanilla.secret_box import SecretBox
from ventanilla.webhooks.outbox import Subscriptions
from ventanilla.webhooks.schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookDeliveryRead,
    WebhookRead,
    WebhookUpdate,
)
from ventanilla.webhooks.services import DeliveryCursor, InvalidWebhookError, WebhookService
from ventanilla.webhooks.targets import TargetPolicy

PageSize = Annotated[int, QueryParameter(ge=1, le=200)]


def _subscriptions(state: State) -> Subscriptions:
    return state.webhook_subscriptions


def _secret_box(state: State) -> SecretBox:
    return state.secret_box


def _targets(state: State) -> TargetPolicy:
    return TargetPolicy(state.settings.webhook_allowed_networks)


class WebhookController(Controller):
    path = "/api/webhooks"
    tags = ["webhooks"]
    guards = [requires_admin]
    dependencies = {
        "webhooks": Provide(create_service_provider(WebhookService)),
        "subscriptions": Provide(_subscriptions, sync_to_thread=False),
        "secret_box": Provide(_secret_box, sync_to_thread=False),
        "targets": Provide(_targets, sync_to_thread=False),
    }

    @get("/", summary="Every webhook; never the secret (admin)")
    async def list_webhooks(self, webhooks: NamedDependency[WebhookService]) -> list[WebhookRead]:
        return [WebhookRead.of(webhook) for webhook in await webhooks.list_webhooks()]

    @post(
        "/",
        summary="Create a webhook; `secret` is in this answer only, store it now; private addresses refused (admin)",
    )
    async def create_webhook(
        self,
        request: Request[User, Token, State],
        data: JSONBody[WebhookCreate],
        webhooks: NamedDependency[WebhookService],
        subscriptions: NamedDependency[Subscriptions],
        secret_box: NamedDependency[SecretBox],
        targets: NamedDependency[TargetPolicy],
    ) -> WebhookCreated:
        try:
            webhook, secret = await webhooks.create_webhook(data, request.user.id, secret_box, targets)
        except InvalidWebhookError as exc:
            raise invalid_field(exc.field, str(exc)) from None
        subscriptions.put(webhook)
        read = WebhookRead.of(webhook)
        return WebhookCreated(**{f: getattr(read, f) for f in WebhookRead.__struct_fields__}, secret=secret)

    @patch("/{webhook_id:uuid}", summary="Enable (after it was disabled for failing) or disable a webhook (admin)")
    async def update_webhook(
        self,
        webhook_id: FromPath[UUID],
        data: JSONBody[WebhookUpdate],
        webhooks: NamedDependency[WebhookService],
        subscriptions: NamedDependency[Subscriptions],
    ) -> WebhookRead:
        webhook = await webhooks.set_enabled(webhook_id, data.enabled)
        subscriptions.put(webhook)
        return WebhookRead.of(webhook)

    @delete("/{webhook_id:uuid}", summary="Delete a webhook and its delivery log (admin)")
    async def delete_webhook(
        self,
        webhook_id: FromPath[UUID],
        webhooks: NamedDependency[WebhookService],
        subscriptions: NamedDependency[Subscriptions],
    ) -> None:
        await webhooks.delete_webhook(webhook_id)
        subscriptions.drop(webhook_id)

    @get("/{webhook_id:uuid}/deliveries", summary="A webhook's deliveries, newest first, a page at a time (admin)")
    async def list_deliveries(
        self,
        webhook_id: FromPath[UUID],
        webhooks: NamedDependency[WebhookService],
        limit: PageSize = 50,
        cursor: Annotated[str | None, QueryParameter(description="nextCursor of the previous page")] = None,
    ) -> WebhookDeliveryPage:
        position = decode_cursor(cursor, DeliveryCursor) if cursor else None
        listed, following = await webhooks.deliveries(webhook_id, limit, position)
        return WebhookDeliveryPage(
            items=[WebhookDeliveryRead.of(item) for item in listed],
            next_cursor=encode_cursor(following) if following else None,
        )
