"""The webhook dispatcher: POSTs due deliveries, signed, and records each outcome; every replica runs one.

Claiming is a short transaction: due rows are taken `FOR UPDATE SKIP LOCKED` (so replicas never share a row), their
attempt counted and their `next_attempt_at` pushed `claim_seconds` ahead, then committed. Each POST is then its own
task, with no database connection held, bounded by `timeout_seconds`; a finished POST wakes the loop, which records
every finished one in a single transaction and claims more for the free slots (`max_in_flight`).
A replica that dies mid-POST leaves its rows to be taken again once the claim lapses, under the same delivery id.

Outcomes: a 2xx is DELIVERED. Anything else is retried with exponential backoff (`retry_base_seconds` doubling,
capped at `retry_max_seconds`) until `give_up_after_seconds` after the first attempt; then the delivery is FAILED
and its webhook disabled with the reason (shown to admins), its other pending deliveries FAILED with it. Deliveries
are not ordered: a retried one may arrive after later ones (receivers order by `createdAt`).

Each POST opens its webhook's sealed secret to sign (a secret sealed with a key this process lacks fails the
attempt with that reason in `last_error`, retried like any failure), and goes through `GuardedTransport`, which
connects only to public addresses (or WEBHOOK_ALLOWED_NETWORKS) resolved and checked at that moment
(`ventanilla.webhooks.targets`); a refused target fails the attempt the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import text, update

from ventanilla.db.errors import describe, is_unavailable
from ventanilla.db.models import Webhook, WebhookDelivery, WebhookDeliveryStatus
from ventanilla.db.session import SessionFactory
from ventanilla.secret_box import SecretBox, SecretUnreadable
from ventanilla.webhooks.outbox import Subscriptions
from ventanilla.webhooks.signing import signature
from ventanilla.webhooks.targets import GuardedTransport, TargetPolicy, TargetRefused

logger = logging.getLogger(__name__)

_CLAIM = text(
    """
    UPDATE webhook_delivery d
    SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => :claim_seconds),
        first_attempt_at = coalesce(d.first_attempt_at, now())
    FROM (
        SELECT d2.id FROM webhook_delivery d2 JOIN webhook w2 ON w2.id = d2.webhook_id AND w2.enabled
        WHERE d2.status = 'PENDING' AND d2.next_attempt_at <= now()
        ORDER BY d2.next_attempt_at
        LIMIT :size
        FOR UPDATE OF d2 SKIP LOCKED
    ) AS due, webhook w
    WHERE d.id = due.id AND w.id = d.webhook_id
    RETURNING d.id, d.webhook_id, d.delivery_id, d.event_type, d.body, d.attempts, d.first_attempt_at, w.url,
        w.secret AS sealed_secret
    """
)


@dataclass(frozen=True)
class WebhookPolicy:
    poll_seconds: float = 1.0
    batch_size: int = 50  # claimed per transaction
    max_in_flight: int = 200  # POSTs at once, per replica
    timeout_seconds: float = 10.0
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 3600.0
    give_up_after_seconds: float = 24 * 3600.0  # after the first attempt; then FAILED and the webhook disabled
    claim_seconds: float = 60.0  # a claimed row is taken again after this if its outcome was never recorded
    refresh_seconds: float = 5.0  # how often the subscriptions snapshot is reloaded (other replicas' changes)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    webhook_id: UUID
    delivery_id: UUID
    event_type: str
    body: str
    attempts: int
    first_attempt_at: datetime
    url: str
    sealed_secret: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    claimed: _Claimed
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookDispatcher:
    def __init__(
        self,
        sessions: SessionFactory,
        subscriptions: Subscriptions,
        secret_box: SecretBox,
        targets: TargetPolicy,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.subscriptions = subscriptions
        self.secret_box = secret_box
        self.targets = targets
        self.policy = policy or WebhookPolicy()
        self._task: asyncio.Task[None] | None = None
        self._posts: set[asyncio.Task[None]] = set()
        self._finished: list[_Outcome] = []  # POSTs that ended, waiting to be recorded
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        """Cancel at once: a POST cut short, or ended but not recorded, is sent again once its claim lapses, with
        the same delivery id (receivers ignore repeats)."""
        for task in (self._task, *self._posts):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._task, *self._posts) if t is not None), return_exceptions=True)

    async def _run(self) -> None:
        """Each POST is its own task: a slow receiver holds only its own slots, up to `max_in_flight` in all."""
        loop = asyncio.get_running_loop()
        refresh_at = loop.time()
        async with httpx.AsyncClient(
            transport=GuardedTransport(self.targets), timeout=self.policy.timeout_seconds, follow_redirects=False
        ) as http:
            while True:
                self._wake.clear()  # a POST ending from here on wakes the wait below
                full = False
                try:
                    if loop.time() >= refresh_at:
                        refresh_at = loop.time() + self.policy.refresh_seconds
                        await self.subscriptions.refresh(self.sessions)
                    await self._record_finished()
                    full = await self._fill(http)
                except Exception as exc:
                    if is_unavailable(exc):
                        logger.warning("webhook dispatcher waits for the database (%s)", describe(exc))
                    else:
                        logger.exception("webhook dispatcher step failed; retrying shortly")
                if not full:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.policy.poll_seconds)

    async def _fill(self, http: httpx.AsyncClient) -> bool:
        """Start POSTs for due deliveries while slots are free; True if a whole batch was due (look again now)."""
        room = min(self.policy.max_in_flight - len(self._posts), self.policy.batch_size)
        if room <= 0:
            return False
        claimed = await self._claim(room)
        for item in claimed:
            task = asyncio.create_task(self._post_and_queue(http, item), name=f"webhook-{item.delivery_id}")
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)
        return len(claimed) == room

    async def _post_and_queue(self, http: httpx.AsyncClient, item: _Claimed) -> None:
        self._finished.append(await self._post(http, item))
        self._wake.set()

    async def _record_finished(self) -> None:
        if not self._finished:
            return
        outcomes, self._finished = self._finished, []
        try:
            await self._record(outcomes)
        except BaseException:
            self._finished[:0] = outcomes  # recorded at the next step (or retried once their claim lapses)
            raise

    async def _claim(self, size: int) -> list[_Claimed]:
        params = {"claim_seconds": self.policy.claim_seconds, "size": size}
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(_CLAIM, params)).all()
        return [_Claimed(**row._mapping) for row in rows]

    async def _post(self, http: httpx.AsyncClient, item: _Claimed) -> _Outcome:
        try:
            secret = self.secret_box.open(item.sealed_secret)
        except SecretUnreadable as exc:
            return _Outcome(item, None, str(exc))
        body = item.body.encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Ventanilla-Webhooks/1",
            "X-Ventanilla-Event": item.event_type,
            "X-Ventanilla-Delivery": str(item.delivery_id),
            "X-Ventanilla-Timestamp": str(timestamp),
            "X-Ventanilla-Signature": signature(secret, timestamp, body),
        }
        try:
            response = await http.post(item.url, content=body, headers=headers)
        except TargetRefused as exc:
            return _Outcome(item, None, f"refused: {exc}")
        except httpx.HTTPError as exc:
            return _Outcome(item, None, type(exc).__name__)
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return _Outcome(item, response.status_code, error)

    def _retry_in(self, attempts: int) -> timedelta:
        seconds = self.policy.retry_base_seconds * 2 ** max(attempts - 1, 0)
        return timedelta(seconds=min(seconds, self.policy.retry_max_seconds))

    async def _record(self, outcomes: list[_Outcome]) -> None:
        now = datetime.now(UTC)
        give_up = timedelta(seconds=self.policy.give_up_after_seconds)
        disabled: dict[UUID, str] = {}
        async with self.sessions() as session, session.begin():
            for outcome in outcomes:
                item = outcome.claimed
                values: dict[str, Any] = {"last_status_code": outcome.status_code, "last_error": outcome.error}
                if outcome.delivered:
                    values |= {"status": WebhookDeliveryStatus.DELIVERED, "delivered_at": now}
                elif now - item.first_attempt_at >= give_up:
                    values["status"] = WebhookDeliveryStatus.FAILED
                    disabled[item.webhook_id] = f"Entregas fallidas durante más de {give_up} ({outcome.error})"
                else:
                    values["next_attempt_at"] = now + self._retry_in(item.attempts)
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == item.id, WebhookDelivery.status == WebhookDeliveryStatus.PENDING)
                    .values(**values)
                )
            for webhook_id, reason in disabled.items():
                await self._disable(session, webhook_id, reason, now)
        for webhook_id in disabled:
            self.subscriptions.drop(webhook_id)
            logger.warning("webhook %s disabled after failing past the retry window", webhook_id)

    @staticmethod
    async def _disable(session: Any, webhook_id: UUID, reason: str, now: datetime) -> None:
        await session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id, Webhook.enabled)
            .values(enabled=False, disabled_reason=reason, disabled_at=now)
        )
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == WebhookDeliveryStatus.PENDING)
            .values(status=WebhookDeliveryStatus.FAILED, last_error="webhook disabled")
        )
