"""cloud api: a point's transport (web or cloud) and its Cloud API number, with sealed secrets

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 21:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("service_point", sa.Column("transport", sa.String(8), server_default="web", nullable=False))
    op.create_check_constraint(
        op.f("ck_service_point_transport_known"), "service_point", "transport IN ('web', 'cloud')"
    )
    op.create_table(
        "cloud_account",
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("phone_number_id", sa.String(32), nullable=False),
        sa.Column("business_account_id", sa.String(32), nullable=True),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("app_secret", sa.Text(), nullable=False),
        sa.Column("verify_token_sha256", sa.String(64), nullable=False),
        sa.Column("alert_template_name", sa.String(512), nullable=True),
        sa.Column("alert_template_language", sa.String(16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "phone_number_id ~ '^[0-9]{1,32}$'", name=op.f("ck_cloud_account_phone_number_id_digits")
        ),
        sa.CheckConstraint(
            "business_account_id ~ '^[0-9]{1,32}$'", name=op.f("ck_cloud_account_business_account_id_digits")
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_point.id"],
            name=op.f("fk_cloud_account_service_point_id_service_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_point_id", name=op.f("pk_cloud_account")),
        sa.UniqueConstraint("phone_number_id", name=op.f("uq_cloud_account_phone_number_id")),
    )
    op.create_index(op.f("ix_cloud_account_verify_token_sha256"), "cloud_account", ["verify_token_sha256"])


def downgrade() -> None:
    op.drop_table("cloud_account")
    op.drop_constraint(op.f("ck_service_point_transport_known"), "service_point", type_="check")
    op.drop_column("service_point", "transport")
