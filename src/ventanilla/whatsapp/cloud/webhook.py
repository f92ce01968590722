"""Meta's webhook, on whichever replica the load balancer chose: verified, then handed to the pipeline.

A delivery is acknowledged (200) only once its messages are stored (or journaled on this replica's disk): until
then Meta keeps it and tries again, and a repeated delivery finds its messages already stored (the intake is
idempotent on the message id). A body whose signature does not match the app secret of a point it names changes
nothing (401). Statuses and messages for numbers of no point are skipped; a body naming no number at all (another
field the app subscribed to) is acknowledged when an app secret we hold signed it, and otherwise ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.secret_box import SecretBox
from ventanilla.whatsapp.cloud.accounts import CloudAccounts
from ventanilla.whatsapp.cloud.inbound import events_by_number, numbers_named, signed_by
from ventanilla.whatsapp.transport import ChatEvent

logger = logging.getLogger(__name__)
Deliver = Callable[[UUID, ChatEvent], Awaitable[object]]


class SignatureError(Exception):
    """X-Hub-Signature-256 is missing, or is not that of a point the body names."""


class CloudWebhook:
    def __init__(self, box: SecretBox, deliver: Deliver) -> None:
        self.box = box
        self.deliver = deliver

    async def receive(self, session: AsyncSession, body: bytes, signature: str | None) -> int:
        """Verify and hand over every event; the number handed over. WebhookError: not such a body."""
        numbers = numbers_named(body)
        stored = CloudAccounts(session, self.box)
        if not numbers:  # another field of the app (a template's review...): nothing for the inbox
            secrets = await stored.app_secrets()
            await session.commit()
            if not any(signed_by(body, signature, secret) for secret in secrets):
                raise SignatureError("X-Hub-Signature-256 does not match the app secret of any point")
            return 0
        accounts = await stored.by_phone_number_ids(numbers)
        await session.commit()  # reads done: no connection held while the messages are stored
        signed = {number for number, account in accounts.items() if signed_by(body, signature, account.app_secret)}
        if not signed:
            raise SignatureError("X-Hub-Signature-256 does not match the app secret of the number it is for")
        if skipped := len(numbers - signed):
            logger.warning("Cloud API webhook: %d numbers in the body skipped (unknown, or another app)", skipped)
        handed = 0
        for number, events in events_by_number(body, signed).items():
            point_id = accounts[number].service_point_id
            await asyncio.gather(*(self.deliver(point_id, event) for event in events))  # stored together, in order
            handed += len(events)
        return handed
