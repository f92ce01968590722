"""The Cloud API numbers of the points: stored with their secrets sealed, read back opened for the one who sends.

Callers own the transaction (nothing here commits). Secrets are sealed with `SecretBox` on the way in and opened
only where Meta needs them (the Graph client, the webhook's signature check); the verify token is only compared,
so only its SHA-256 is kept. A number belongs to one point: a second point claiming it is a 409.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from advanced_alchemy.exceptions import DuplicateKeyError, NotFoundError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import CloudAccount, ServicePoint
from ventanilla.secret_box import SecretBox
from ventanilla.whatsapp.cloud.schemas import CloudAccountPut


@dataclass(frozen=True, slots=True)
class CloudCredentials:
    """What talking to Meta for one point needs, opened."""

    service_point_id: UUID
    phone_number_id: str
    business_account_id: str | None
    access_token: str
    app_secret: str


class MissingSecretsError(Exception):
    """A first PUT must bring every secret; names the missing fields."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"{', '.join(fields)}: required the first time the number is set up")
        self.fields = fields


def verify_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CloudAccounts:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.session = session
        self.box = box

    async def get(self, point_id: UUID) -> CloudAccount:
        account = await self.session.get(CloudAccount, point_id)
        if account is None:
            raise NotFoundError(detail="the point has no Cloud API number; PUT .../whatsapp/cloud first")
        return account

    async def put(self, point: ServicePoint, change: CloudAccountPut) -> CloudAccount:
        """Store the number (sealing the secrets given) and make the point a `cloud` point."""
        taken = await self.session.scalar(
            select(CloudAccount.service_point_id).where(
                CloudAccount.phone_number_id == change.phone_number_id, CloudAccount.service_point_id != point.id
            )
        )
        if taken is not None:
            raise DuplicateKeyError(detail="phoneNumberId: another point uses this number; choose another")
        account = await self.session.get(CloudAccount, point.id, with_for_update=True)
        if account is None:
            missing = [
                name
                for name, value in (
                    ("accessToken", change.access_token),
                    ("appSecret", change.app_secret),
                    ("verifyToken", change.verify_token),
                )
                if value is None
            ]
            if missing:
                raise MissingSecretsError(missing)
            account = CloudAccount(service_point_id=point.id)
            self.session.add(account)
        account.phone_number_id = change.phone_number_id
        account.business_account_id = change.business_account_id
        if change.access_token is not None:
            account.access_token = self.box.seal(change.access_token)
        if change.app_secret is not None:
            account.app_secret = self.box.seal(change.app_secret)
        if change.verify_token is not None:
            account.verify_token_sha256 = verify_token_digest(change.verify_token)
        template = change.alert_template
        account.alert_template_name = template.name if template else None
        account.alert_template_language = template.language if template else None
        account.updated_at = datetime.now(UTC)
        point.transport = "cloud"
        await self.session.flush()
        return account

    async def credentials(self, point_id: UUID) -> CloudCredentials | None:
        account = await self.session.get(CloudAccount, point_id)
        return None if account is None else self._opened(account)

    async def by_phone_number_ids(self, phone_number_ids: Collection[str]) -> dict[str, CloudCredentials]:
        """The points of these numbers (numbers of no point are left out), whatever transport the point sends with
        now: a customer who writes to a point's Cloud API number reaches that point's inbox."""
        if not phone_number_ids:
            return {}
        accounts = await self.session.scalars(
            select(CloudAccount).where(CloudAccount.phone_number_id.in_(list(phone_number_ids)))
        )
        return {account.phone_number_id: self._opened(account) for account in accounts}

    async def app_secrets(self) -> set[str]:
        """Every app secret stored (few: one per Meta app), for bodies that name no number."""
        sealed = await self.session.scalars(select(CloudAccount.app_secret))
        return {self.box.open(value) for value in sealed}

    async def knows_verify_token(self, token: str) -> bool:
        found = await self.session.scalar(
            select(CloudAccount.service_point_id)
            .where(CloudAccount.verify_token_sha256 == verify_token_digest(token))
            .limit(1)
        )
        return found is not None

    def _opened(self, account: CloudAccount) -> CloudCredentials:
        return CloudCredentials(
            service_point_id=account.service_point_id,
            phone_number_id=account.phone_number_id,
            business_account_id=account.business_account_id,
            access_token=self.box.open(account.access_token),
            app_secret=self.box.open(account.app_secret),
        )
