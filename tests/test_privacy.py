"""No log line carries a customer's number or words, not even a driver error's traceback."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ventanilla.db.session import build_alchemy_config
from ventanilla.privacy import RedactPrivate, mask_phone, redact

PHONE = "+593991234567"
WORDS = "mi paquete secreto"


@pytest.fixture
async def hidden(database_url: str) -> AsyncEngine:
    """An engine configured like the app's."""
    config = build_alchemy_config(database_url)
    engine = create_async_engine(database_url, **{"hide_parameters": config.engine_config.hide_parameters})
    yield engine
    await engine.dispose()


def _logged(error: BaseException) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactPrivate())
    logger = logging.getLogger("ventanilla.tests.privacy")
    logger.addHandler(handler)
    try:
        try:
            raise error
        except BaseException:
            logger.exception("storing a message from %s failed", PHONE)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize(
    ("statement", "parameters"),
    [
        ("SELECT CAST(:words AS text), CAST(:phone AS text)", {"words": f"{WORDS}\x00", "phone": PHONE}),  # NUL
        ("SELECT CAST(:words AS text), CAST(:phone AS text)", {"words": f"{WORDS}\ud800", "phone": PHONE}),  # encode
        ("SELECT CAST(:phone AS int), CAST(:words AS text)", {"phone": PHONE + " " + WORDS, "words": WORDS}),  # cast
        ("SELECT CAST(CAST(:phone AS text) AS uuid)", {"phone": f"{PHONE} {WORDS}"}),  # quoted by PostgreSQL
        ("SELECT CAST(CAST(:phone AS text) AS int)", {"phone": f"{PHONE} {WORDS}"}),
    ],
)
async def test_a_driver_error_is_logged_without_what_the_statement_carried(
    hidden: AsyncEngine, statement: str, parameters: dict[str, str]
) -> None:
    with pytest.raises(Exception) as caught:
        async with hidden.connect() as connection:
            await connection.execute(text(statement), parameters)
    line = _logged(caught.value)
    assert "Traceback" in line and "failed" in line  # the error is there, with its stack
    assert PHONE not in line and WORDS not in line
    assert mask_phone(PHONE) in line


def test_redaction_leaves_ids_and_dates_alone() -> None:
    line = f"point 3f1e2d4c-1234-5678-9012-123456789012 message 3EB0ABCDEF0123456789 at {datetime.now(UTC)}: 1500"
    assert redact(line) == line
