"""Every column that holds a sealed secret, and re-sealing them all under the first key after a key rotation
(`ventanilla reseal-secrets`). A column added to `SEALED_COLUMNS` is rotated with the others."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ventanilla.db.models import CloudAccount, Webhook
from ventanilla.secret_box import SecretBox, SecretUnreadable

SEALED_COLUMNS: tuple[InstrumentedAttribute[str], ...] = (
    CloudAccount.access_token,
    CloudAccount.app_secret,
    Webhook.secret,
)


@dataclass(frozen=True, slots=True)
class Resealed:
    resealed: int
    unreadable: dict[str, int]  # "table.column" -> values no configured key opens (left as they are)


async def reseal_all(session: AsyncSession, box: SecretBox) -> Resealed:
    """Seal every stored secret again under the box's first key, in the caller's transaction (rows locked)."""
    resealed, unreadable = 0, {}
    for column in SEALED_COLUMNS:
        model = column.class_
        [key] = model.__mapper__.primary_key
        rows = (await session.execute(select(key, column).with_for_update())).all()
        changes = []
        for row_key, sealed in rows:
            try:
                changes.append({"row_key": row_key, "sealed": box.reseal(sealed)})
            except SecretUnreadable:
                name = f"{model.__tablename__}.{column.key}"
                unreadable[name] = unreadable.get(name, 0) + 1
        if changes:
            statement = (
                update(model.__table__).where(key == bindparam("row_key")).values({column.key: bindparam("sealed")})
            )
            connection = await session.connection()
            await connection.execute(statement, changes)
            resealed += len(changes)
    return Resealed(resealed, unreadable)
