"""Bodies of the report endpoints. Durations are whole seconds; a figure with nothing to measure is null."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import msgspec

from ventanilla.schemas import CamelStruct


class Percentiles(CamelStruct):
    """Linear interpolation between the nearest measurements (PostgreSQL's percentile_cont), rounded to seconds."""

    p50: int | None
    p90: int | None


class Csat(CamelStruct):
    average: float | None  # 1 to 5, two decimals
    responses: int


class ReportSummary(CamelStruct):
    """The figures of the period (`from` and `to` as resolved: the defaults are filled in)."""

    period_from: date = msgspec.field(name="from")
    period_to: date = msgspec.field(name="to")
    service_point_ids: list[UUID]
    conversations: int
    inbound_messages: int
    bot_answers: int
    handoffs: int
    bot_containment_rate: float | None  # 0 to 1, four decimals
    first_response_seconds: Percentiles
    resolution_seconds: Percentiles
    csat: Csat


class ReportDay(CamelStruct):
    """One day of the series, in the points' own time zone."""

    day: date = msgspec.field(name="date")
    conversations: int
    bot_only: int
    handed_off: int
    bot_containment_rate: float | None
    first_response_seconds: Percentiles
    csat: Csat


class DailyReport(CamelStruct):
    period_from: date = msgspec.field(name="from")
    period_to: date = msgspec.field(name="to")
    service_point_ids: list[UUID]
    days: list[ReportDay]
