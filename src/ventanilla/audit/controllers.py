"""`GET /api/tool-calls` (admin): the bot's tool calls, newest first, filterable by point and conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_admin
from ventanilla.db.models import ToolCall
from ventanilla.pagination import decode_cursor, encode_cursor
from ventanilla.schemas import CamelStruct


class ToolCallRead(CamelStruct):
    id: UUID
    service_point_id: UUID
    conversation_id: UUID
    message_id: UUID | None
    engine: str
    tool: str
    arguments: dict[str, Any]
    outcome: str
    result: dict[str, Any] | None
    latency_ms: int
    created_at: datetime


class ToolCallPage(CamelStruct):
    items: list[ToolCallRead]
    next_cursor: str | None


class _Position(msgspec.Struct):
    created_at: datetime
    id: UUID


class ToolCallController(Controller):
    path = "/api/tool-calls"
    tags = ["bot"]
    guards = [requires_admin]

    @get("/", summary="The bot's tool calls, newest first (admin)")
    async def list_tool_calls(
        self,
        db_session: NamedDependency[AsyncSession],
        service_point_id: Annotated[UUID | None, QueryParameter(name="servicePointId")] = None,
        conversation_id: Annotated[UUID | None, QueryParameter(name="conversationId")] = None,
        tool: Annotated[str | None, QueryParameter(max_length=64)] = None,
        outcome: Annotated[str | None, QueryParameter(max_length=32)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, QueryParameter()] = None,
    ) -> ToolCallPage:
        statement = select(ToolCall).order_by(ToolCall.created_at.desc(), ToolCall.id.desc()).limit(limit + 1)
        for column, value in (
            (ToolCall.service_point_id, service_point_id),
            (ToolCall.conversation_id, conversation_id),
            (ToolCall.tool, tool),
            (ToolCall.outcome, outcome),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if cursor:
            position = decode_cursor(cursor, _Position)
            statement = statement.where(
                tuple_(ToolCall.created_at, ToolCall.id) < tuple_(position.created_at, position.id)
            )
        rows = list((await db_session.scalars(statement)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return ToolCallPage(
            items=[
                ToolCallRead(
                    id=r.id,
                    service_point_id=r.service_point_id,
                    conversation_id=r.conversation_id,
                    message_id=r.message_id,
                    engine=r.engine,
                    tool=r.tool,
                    arguments=r.arguments,
                    outcome=r.outcome,
                    result=r.result,
                    latency_ms=r.latency_ms,
                    created_at=r.created_at,
                )
                for r in rows
            ],
            next_cursor=encode_cursor(_Position(rows[-1].created_at, rows[-1].id)) if more and rows else None,
        )
