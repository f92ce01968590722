"""webhook secrets sealed: `webhook.secret` becomes a SecretBox (Fernet) token, in a Text column

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 22:30:00

The keys come from `ventanilla.db.migrations` (the settings of the process that migrates) or, under a plain
`alembic` command, from the settings read here; they are only needed when there are webhooks to convert.
Downgrading opens the secrets again (and fails, changing nothing, if one was sealed with a key not configured).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

from ventanilla.secret_box import SecretBox

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _secret_box() -> SecretBox:
    keys = context.config.attributes.get("secret_keys")
    if keys is None:  # plain `alembic` command from a developer's shell
        from ventanilla.config import load_settings

        keys = load_settings().secret_keys
    return SecretBox(keys)


def _convert(change: Callable[[SecretBox, str], str]) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, secret FROM webhook FOR UPDATE")).all()
    if not rows:
        return
    box = _secret_box()
    connection.execute(
        sa.text("UPDATE webhook SET secret = :secret WHERE id = :id"),
        [{"id": row.id, "secret": change(box, row.secret)} for row in rows],
    )


def upgrade() -> None:
    op.alter_column("webhook", "secret", type_=sa.Text(), existing_type=sa.String(128), existing_nullable=False)
    _convert(SecretBox.seal)


def downgrade() -> None:
    _convert(SecretBox.open)
    op.alter_column("webhook", "secret", type_=sa.String(128), existing_type=sa.Text(), existing_nullable=False)
