"""A point's business hours: whether it is open at an instant, when it opens next, and how to say so in Spanish.

Hours are wall-clock times in the point's IANA time zone (`zoneinfo`), so daylight-saving changes move the instants
and never the hours people read. `businessHours` is `{"mon": [["08:00", "18:00"]], ...}`: an absent day is closed,
"24:00" ends a day at midnight, and NULL means always open (no hours set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
MAX_INTERVALS_PER_DAY = 4
MINUTES_PER_DAY = 24 * 60

Interval = tuple[int, int]  # minutes since local midnight, [start, end)


class HoursError(ValueError):
    """Settings that cannot be hours; `key` names the field as the API does (`businessHours.mon[1]`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@cache
def time_zones() -> tuple[str, ...]:
    """The IANA zones this machine knows, sorted (for forms)."""
    return tuple(sorted(available_timezones()))


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(time_zones())


def check_timezone(name: str) -> str:
    """`name` when it is an IANA zone this machine knows ("America/Guayaquil"); HoursError otherwise."""
    if name not in _known_zones():
        raise HoursError("timezone", "not a known IANA time zone, e.g. America/Guayaquil")
    return name


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def normalize_hours(week: Mapping[str, Sequence[Sequence[str]]]) -> dict[str, list[list[str]]]:
    """The week as stored: days in order, closed days left out, intervals sorted. HoursError names the first
    interval that is backwards or overlaps another of its day (formats and counts are the schema's to check)."""
    stored: dict[str, list[list[str]]] = {}
    for day in DAYS:
        given = enumerate(week.get(day, ()))
        intervals = sorted((_minutes(start), _minutes(end), index) for index, (start, end) in given)
        for start, end, index in intervals:
            if start >= end:
                raise HoursError(f"businessHours.{day}[{index}]", "the opening time must be before the closing time")
        for (_, end, _), (start, _, index) in pairwise(intervals):
            if start < end:
                raise HoursError(f"businessHours.{day}[{index}]", "overlaps another interval of the same day")
        if intervals:
            stored[day] = [[_clock(start), _clock(end)] for start, end, _ in intervals]
    if not stored:
        raise HoursError("businessHours", "give at least one day its hours, or null for always open")
    return stored


@dataclass(frozen=True, slots=True)
class BusinessHours:
    zone: ZoneInfo
    week: tuple[tuple[Interval, ...], ...] | None  # Monday first; None: always open

    @classmethod
    def of(cls, timezone: str, business_hours: Mapping[str, Sequence[Sequence[str]]] | None) -> BusinessHours:
        week = None
        if business_hours is not None:
            week = tuple(
                tuple(sorted((_minutes(start), _minutes(end)) for start, end in business_hours.get(day, ())))
                for day in DAYS
            )
        return cls(ZoneInfo(timezone), week)

    @property
    def always_open(self) -> bool:
        return self.week is None

    def is_open(self, at: datetime) -> bool:
        if self.week is None:
            return True
        local = at.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])

    def next_opening(self, at: datetime) -> datetime | None:
        """The first opening after `at` (UTC); None when always open or never open."""
        if self.week is None:
            return None
        local_day = at.astimezone(self.zone).date()
        for offset in range(8):
            day = local_day + timedelta(days=offset)
            for start, _ in self.week[day.weekday()]:
                opening = datetime.combine(day, time(start // 60, start % 60), tzinfo=self.zone).astimezone(UTC)
                if opening > at:
                    return opening
        return None

    def describe(self) -> str:
        """The week in a line: "lunes a viernes de 08:00 a 18:00 y sábado de 09:00 a 13:00"."""
        if self.week is None:
            return "todos los días a toda hora"
        groups: list[tuple[int, int, tuple[Interval, ...]]] = []  # first day, last day, their shared hours
        for index, intervals in enumerate(self.week):
            if groups and groups[-1][2] == intervals and groups[-1][1] == index - 1:
                groups[-1] = (groups[-1][0], index, intervals)
            else:
                groups.append((index, index, intervals))
        parts = [f"{_days(first, last)} {_spans(intervals)}" for first, last, intervals in groups if intervals]
        return _join(parts) if parts else "sin días de atención"

    def closed_notice(self, at: datetime) -> str | None:
        """For a customer handed to a person while the point is closed: the hours and when someone will answer.
        None while open."""
        if self.is_open(at):
            return None
        hours = f"Nuestro horario de atención es {self.describe()}."
        opening = self.next_opening(at)
        if opening is None:
            return f"{hours} Una persona te responderá apenas sea posible."
        return f"{hours} Una persona te responderá {self._when(at, opening)}."

    def _when(self, at: datetime, opening: datetime) -> str:
        now_local, local = at.astimezone(self.zone), opening.astimezone(self.zone)
        days = (local.date() - now_local.date()).days
        day = "hoy" if days == 0 else "mañana" if days == 1 else f"el {DAY_NAMES[local.weekday()]}"
        return f"{day} {_at_clock(local.hour, local.minute)}"


def _days(first: int, last: int) -> str:
    if first == last:
        return DAY_NAMES[first]
    joiner = " y " if last == first + 1 else " a "
    return f"{DAY_NAMES[first]}{joiner}{DAY_NAMES[last]}"


def _spans(intervals: Sequence[Interval]) -> str:
    return _join([f"de {_clock(start)} a {_clock(end)}" for start, end in intervals])


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " y " + parts[-1]


def _at_clock(hour: int, minute: int) -> str:
    """Spanish says "a la 01:00" (una) and "a las 08:00"."""
    return f"{'a la' if hour == 1 else 'a las'} {hour:02d}:{minute:02d}"
