"""replicas: who is alive, who owns each point's socket (lease + fencing epoch), commands for the owner, and the
simulator's phones in the database

Several `ventanilla serve` share one PostgreSQL. Each replica heartbeats in `replica`; each point's socket is owned
through `point_lease` (one row per point; `epoch` grows with every new owner, and every write that only the owner may
make names it). `point_command` carries what a replica asks of a point's owner (connect, a pairing code, a simulated
phone's action), signalled with LISTEN/NOTIFY. The simulator's phones, what they received and its media server live
in `simulator_phone`, `simulator_sent` and `simulator_media`, so a point's phone outlives the replica that owned it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def _point_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["service_point_id"], ["service_point.id"], name=f"fk_{table}_service_point_id_service_point", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "replica",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("draining", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_replica"),
    )
    op.create_table(
        "point_lease",
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("replica_id", sa.String(100), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("qr_code", sa.Text(), nullable=True),
        sa.Column("qr_expires_at", _TS, nullable=True),
        _point_fk("point_lease"),
        sa.PrimaryKeyConstraint("service_point_id", name="pk_point_lease"),
    )
    op.create_index("ix_point_lease_replica_id", "point_lease", ["replica_id"])
    op.create_table(
        "point_command",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("replica_id", sa.String(100), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("done_at", _TS, nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        _point_fk("point_command"),
        sa.PrimaryKeyConstraint("id", name="pk_point_command"),
    )
    op.create_index(
        "ix_point_command_waiting", "point_command", ["replica_id", "id"], postgresql_where=sa.text("started_at IS NULL")
    )
    op.create_index("ix_point_command_created_at", "point_command", ["created_at"])
    op.create_table(
        "simulator_phone",
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("phone_number", sa.String(16), nullable=False),
        sa.Column("socket_id", sa.Uuid(), nullable=True),
        sa.Column("linked_at", _TS, nullable=False),
        _point_fk("simulator_phone"),
        sa.PrimaryKeyConstraint("service_point_id", name="pk_simulator_phone"),
    )
    op.create_table(
        "simulator_sent",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("service_point_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("to_phone", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", _TS, nullable=False),
        sa.Column("from_phone", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("media", postgresql.JSONB(), nullable=True),
        _point_fk("simulator_sent"),
        sa.PrimaryKeyConstraint("seq", name="pk_simulator_sent"),
        sa.UniqueConstraint("service_point_id", "message_id", name="uq_simulator_sent_point_message"),
    )
    op.create_table(
        "simulator_media",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_simulator_media"),
    )


def downgrade() -> None:
    op.drop_table("simulator_media")
    op.drop_table("simulator_sent")
    op.drop_table("simulator_phone")
    op.drop_index("ix_point_command_created_at", table_name="point_command")
    op.drop_index("ix_point_command_waiting", table_name="point_command")
    op.drop_table("point_command")
    op.drop_index("ix_point_lease_replica_id", table_name="point_lease")
    op.drop_table("point_lease")
    op.drop_table("replica")
