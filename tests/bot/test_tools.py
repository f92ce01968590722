"""The tools on their own: strict schemas, scoping, read-only sessions, and failures that never escape."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InternalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.bot.conftest import RECIPIENT, SENDER, BotWorld, bot_request
from ventanilla.bot import Bot
from ventanilla.bot.lookups import read_only_session
from ventanilla.bot.offline import REASON_LOOKUP_FAILED
from ventanilla.bot.replies import HANDOFF
from ventanilla.bot.tools import TOOL_SPECS, ToolArguments, Toolbox, tool_parameters
from ventanilla.config import Settings


def test_every_tool_schema_is_strict() -> None:
    for spec in TOOL_SPECS:
        schema = tool_parameters(spec.arguments)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["required"]) == set(schema["properties"])
        assert "$ref" not in msgspec.json.encode(schema).decode()


def test_an_optional_field_is_refused() -> None:
    class Loose(ToolArguments):
        query: str
        limit: int = 3

    with pytest.raises(TypeError):
        tool_parameters(Loose)


async def test_tool_sessions_cannot_write(engine: AsyncEngine) -> None:
    async with read_only_session(async_sessionmaker(engine)) as session:
        with pytest.raises((InternalError, DBAPIError), match="read-only transaction"):
            await session.execute(
                text(
                    "INSERT INTO service_point (id, name, whatsapp_status, created_at, updated_at)"
                    " VALUES (gen_random_uuid(), 'x', 'DISCONNECTED', now(), now())"
                )
            )


async def test_shipment_lookup_never_reads_names(bot_engine: AsyncEngine, bot_world: BotWorld) -> None:
    toolbox = Toolbox(async_sessionmaker(bot_engine), bot_world.point_b)
    result = await toolbox.track(" #abc-123.456 ")
    assert result.record.outcome == "ok" and result.record.arguments == {"trackingNumber": " #abc-123.456 "}
    assert SENDER not in result.content and RECIPIENT not in result.content
    assert set(msgspec.json.decode(result.content)["shipment"]) == {
        "trackingNumber",
        "status",
        "lastUpdate",
        "origin",
        "destination",
        "eta",
    }


async def test_nonsense_number_is_an_argument_error(bot_engine: AsyncEngine, bot_world: BotWorld) -> None:
    result = await Toolbox(async_sessionmaker(bot_engine), bot_world.point_a).track("mi guía")
    assert result.record.outcome == "invalid_arguments" and "ABC123456" in result.content


async def test_nul_characters_are_dropped(bot_engine: AsyncEngine, bot_world: BotWorld) -> None:
    """PostgreSQL refuses NUL in text and JSONB; a model may still produce it."""
    toolbox = Toolbox(async_sessionmaker(bot_engine), bot_world.point_a)
    result = await toolbox.call("consultar_faq", '{"query": "hora\\u0000rio"}')
    assert result.record.outcome == "ok" and result.record.arguments == {"query": "horario"}


@asynccontextmanager
async def _broken_database() -> AsyncIterator[AsyncSession]:
    raise OSError("connection refused for ABC123456")
    yield  # pragma: no cover


async def test_database_trouble_is_a_tool_error_not_an_exception(
    bot_settings: Settings, bot_world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ventanilla")
    decision = await Bot(bot_settings, _broken_database).decide(bot_request(bot_world.point_a, "mi guía ABC123456"))

    assert decision.handoff_reason == REASON_LOOKUP_FAILED and decision.reply.endswith(HANDOFF)
    assert [(c.tool, c.outcome) for c in decision.tool_calls] == [("consultar_guia", "error")]
    assert "OSError" in caplog.text and "ABC123456" not in caplog.text


async def test_a_bug_still_gets_an_answer(
    bot_settings: Settings, bot_world: BotWorld, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_text = "mi cédula es 1712345678"

    async def broken(*_: object) -> None:
        raise ValueError(customer_text)

    monkeypatch.setattr("ventanilla.bot.engine.decide_offline", broken)
    decision = await Bot(bot_settings, _broken_database).decide(bot_request(uuid.uuid4(), "hola"))

    assert decision.reply == HANDOFF and decision.handoff_reason
    assert "ValueError" in caplog.text and "in broken" in caplog.text  # the stack, for whoever fixes the bug
    assert customer_text not in caplog.text
