"""Bodies of the FAQ endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from ventanilla.db.models import Faq
from ventanilla.schemas import CamelStruct
from ventanilla.text import bounded

MAX_KEYWORDS = 20
# Answers go out as one WhatsApp message, whose limit is 4,096 characters.
Question = bounded(500, visible=True)
Answer = bounded(4000, visible=True)
Keyword = bounded(60, visible=True)
Keywords = Annotated[
    list[Keyword],
    msgspec.Meta(max_length=MAX_KEYWORDS, description="trimmed and deduplicated (case-insensitively) when stored"),
]


class FaqCreate(CamelStruct):
    question: Question
    answer: Answer
    keywords: Keywords = msgspec.field(default_factory=list)


class FaqUpdate(CamelStruct):
    """Only the fields present change."""

    question: Question | msgspec.UnsetType = msgspec.UNSET
    answer: Answer | msgspec.UnsetType = msgspec.UNSET
    keywords: Keywords | msgspec.UnsetType = msgspec.UNSET


class FaqRead(CamelStruct):
    """`global: true` (and `servicePointId: null`) marks an FAQ of every branch, read-only under a point's path."""

    id: UUID
    service_point_id: UUID | None
    is_global: bool = msgspec.field(name="global")
    question: str
    answer: str
    keywords: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, faq: Faq) -> FaqRead:
        return cls(
            id=faq.id,
            service_point_id=faq.service_point_id,
            is_global=faq.service_point_id is None,
            question=faq.question,
            answer=faq.answer,
            keywords=list(faq.keywords),
            created_at=faq.created_at,
            updated_at=faq.updated_at,
        )
