"""The two read-only queries behind the bot's tools, returning only what a customer may be told.

Shipments are read column by column so that sender and recipient names never leave the database, not even
towards the model. FAQs are matched with PostgreSQL's Spanish full-text search on `faq.search_vector` (accents
folded by `ventanilla_fold`, as the stored document is) plus the FAQ's keywords.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

import msgspec
from sqlalchemy import ColumnElement, String, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.batching import MicroBatcher
from ventanilla.db.models import SHIPMENT_STATUS_LABELS, Faq, Shipment

SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]

FAQ_CANDIDATES = 10
FAQ_RESULTS = 3
# Among the FAQs scoring at least this share of the best one, the branch's own come before global ones.
RELEVANCE_WINDOW = 0.5
KEYWORD_BONUS = 0.2
MIN_PREFIX_LENGTH = 3  # shorter stems match whole words only: a prefix of two letters matches everything


class ShipmentView(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """What a customer may learn about a shipment; `status` is the contract's label, never the internal code."""

    tracking_number: str
    status: str
    last_update: datetime
    origin: str | None = None
    destination: str | None = None
    eta: date | None = None


class FaqView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    question: str
    answer: str


@dataclass(frozen=True)
class _Candidate:
    faq: FaqView
    own: bool
    score: float


async def find_shipments(session: AsyncSession, tracking_numbers: Collection[str]) -> dict[str, ShipmentView]:
    """Company-wide: any branch's shipments, by their canonical (upper-case) numbers."""
    rows = await session.execute(
        select(
            Shipment.tracking_number,
            Shipment.status,
            Shipment.last_update,
            Shipment.origin,
            Shipment.destination,
            Shipment.eta,
        ).where(Shipment.tracking_number.in_(tracking_numbers))
    )
    return {
        row.tracking_number: ShipmentView(
            tracking_number=row.tracking_number,
            status=SHIPMENT_STATUS_LABELS[row.status],
            last_update=row.last_update,
            origin=row.origin,
            destination=row.destination,
            eta=row.eta,
        )
        for row in rows
    }


class ShipmentLookup:
    """Tracking lookups of concurrent conversations share one read-only query (most messages ask for one)."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = session_factory
        self._batcher: MicroBatcher[str, ShipmentView | None] = MicroBatcher(self._find_many)

    async def find(self, tracking_number: str) -> ShipmentView | None:
        return await self._batcher.submit(tracking_number)

    async def _find_many(self, numbers: list[str]) -> list[ShipmentView | None]:
        async with read_only_session(self._session_factory) as session:
            found = await find_shipments(session, set(numbers))
        return [found.get(number) for number in numbers]


@asynccontextmanager
async def read_only_session(session_factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session whose transaction PostgreSQL refuses to write in: the bot decides, the pipeline writes."""
    async with session_factory() as session:
        await session.connection(execution_options={"postgresql_readonly": True})  # BEGIN READ ONLY
        yield session


async def search_faqs(session: AsyncSession, service_point_id: UUID, query: str) -> list[FaqView]:
    """The best FAQs of this point or global ones; never another branch's.

    Terms are OR-ed (prefix-matched) and ranked, because a customer's words are rarely all in the FAQ: "a qué
    hora abren" must find "¿Cuál es el horario de atención?".
    """
    lexemes: list[str] = (
        await session.scalar(
            select(func.tsvector_to_array(func.to_tsvector(cast("spanish", REGCONFIG), func.ventanilla_fold(query))))
        )
        or []
    )
    text_query = " | ".join(_tsquery_term(lexeme) for lexeme in lexemes)
    tsquery = cast(text_query, TSQUERY)
    scored = (
        select(
            Faq.id,
            Faq.question,
            Faq.answer,
            Faq.service_point_id,
            Faq.created_at,
            (func.ts_rank(Faq.search_vector, tsquery) if text_query else literal(0.0)).label("rank"),
            (Faq.search_vector.op("@@")(tsquery) if text_query else literal(False)).label("matches"),
            _keyword_hits(query).label("hits"),
        )
        .where(or_(Faq.service_point_id == service_point_id, Faq.service_point_id.is_(None)))
        .subquery()
    )
    score = (scored.c.rank + KEYWORD_BONUS * func.least(scored.c.hits, 3)).label("score")
    statement = (
        select(scored.c.id, scored.c.question, scored.c.answer, scored.c.service_point_id, score)
        .where(or_(scored.c.matches, scored.c.hits > 0))
        .order_by(score.desc(), scored.c.service_point_id.is_(None), scored.c.created_at)
        .limit(FAQ_CANDIDATES)
    )
    candidates = [
        _Candidate(FaqView(row.id, row.question, row.answer), row.service_point_id is not None, float(row.score))
        for row in (await session.execute(statement)).all()
    ]
    if not candidates:
        return []
    floor = candidates[0].score * RELEVANCE_WINDOW
    relevant = [c for c in candidates if c.score >= floor]
    relevant.sort(key=lambda c: (not c.own, -c.score))
    return [c.faq for c in relevant[:FAQ_RESULTS]]


def _tsquery_term(lexeme: str) -> str:
    quoted = "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"
    return f"{quoted}:*" if len(lexeme) >= MIN_PREFIX_LENGTH else quoted


def _words(value: ColumnElement[str]) -> ColumnElement[str]:
    """Folded, with every run of non-alphanumerics turned into one space: keywords match as whole words."""
    return func.btrim(func.regexp_replace(func.ventanilla_fold(value), "[^a-z0-9]+", " ", "g"))


def _keyword_hits(query: str) -> ColumnElement[int]:
    """How many of the FAQ's keywords (or key phrases, like "otro país") occur in the query as whole words."""
    keywords = func.unnest(Faq.keywords).table_valued("keyword").render_derived()
    keyword = _words(keywords.c.keyword)
    padded_query = literal(" ") + _words(literal(query, String)) + " "
    return (
        select(func.count())
        .select_from(keywords)
        .where(keyword != "", func.strpos(padded_query, literal(" ") + keyword + " ") > 0)
        .correlate(Faq)
        .scalar_subquery()
    )
