"""Business hours in the point's own time zone: open or closed at an instant, the next opening, the Spanish notice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ventanilla.assignment.hours import BusinessHours, HoursError, check_timezone, normalize_hours

WEEKDAYS = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def test_tokyo_point_is_judged_on_tokyo_time() -> None:
    tokyo = BusinessHours.of("Asia/Tokyo", WEEKDAYS)
    # Friday 2026-11-27 00:30 UTC is Friday 09:30 in Tokyo (open), though still Thursday evening in Guayaquil.
    assert tokyo.is_open(datetime(2026, 11, 27, 0, 30, tzinfo=UTC))
    # Friday 09:30 UTC is 18:30 in Tokyo: closed; the next opening is Monday 08:00 Tokyo = Sunday 23:00 UTC.
    friday_evening = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    assert not tokyo.is_open(friday_evening)
    assert tokyo.next_opening(friday_evening) == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert tokyo.closed_notice(friday_evening) == (
        "Nuestro horario de atención es lunes a viernes de 08:00 a 18:00. "
        "Una persona te responderá el lunes a las 08:00."
    )


def test_same_instant_differs_by_zone() -> None:
    instant = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday: 09:00 in Guayaquil, 23:00 in Tokyo
    assert BusinessHours.of("America/Guayaquil", WEEKDAYS).is_open(instant)
    assert not BusinessHours.of("Asia/Tokyo", WEEKDAYS).is_open(instant)


def test_next_opening_today_tomorrow_and_split_days() -> None:
    hours = BusinessHours.of(
        "America/Guayaquil",
        {"mon": [["08:00", "12:00"], ["14:00", "18:00"]], "tue": [["01:00", "05:00"]], "sat": [["09:00", "13:00"]]},
    )
    monday_lunch = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 12:30 local
    assert not hours.is_open(monday_lunch)
    assert hours.closed_notice(monday_lunch).endswith("Una persona te responderá hoy a las 14:00.")
    monday_night = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # Monday 19:00 local
    assert hours.closed_notice(monday_night).endswith("te responderá mañana a la 01:00.")
    assert hours.describe() == (
        "lunes de 08:00 a 12:00 y de 14:00 a 18:00, martes de 01:00 a 05:00 y sábado de 09:00 a 13:00"
    )
    assert hours.is_open(datetime(2026, 11, 30, 13, 0, tzinfo=UTC))  # 08:00 local, first minute
    assert not hours.is_open(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))  # 18:00 local, closing minute


def test_daylight_saving_keeps_wall_clock_hours() -> None:
    madrid = BusinessHours.of("Europe/Madrid", {"sun": [["08:00", "10:00"]], "mon": [["08:00", "18:00"]]})
    # Sunday 2026-03-29 the clocks go from 02:00 to 03:00: 08:00 is 06:00 UTC that day (07:00 UTC the day before).
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert madrid.next_opening(saturday) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert madrid.is_open(datetime(2026, 3, 29, 6, 30, tzinfo=UTC))
    assert not madrid.is_open(datetime(2026, 3, 29, 8, 30, tzinfo=UTC))  # 10:30 local


def test_always_open_and_validation() -> None:
    always = BusinessHours.of("America/Guayaquil", None)
    assert always.is_open(datetime(2026, 11, 29, 3, 0, tzinfo=UTC))
    assert always.closed_notice(datetime(2026, 11, 29, 3, 0, tzinfo=UTC)) is None
    assert check_timezone("Asia/Tokyo") == "Asia/Tokyo"
    with pytest.raises(HoursError) as bad_zone:
        check_timezone("Mars/Olympus")
    assert bad_zone.value.key == "timezone"
    assert normalize_hours({"sat": [["14:00", "18:00"], ["08:00", "12:00"]], "mon": [["08:00", "24:00"]]}) == {
        "mon": [["08:00", "24:00"]],
        "sat": [["08:00", "12:00"], ["14:00", "18:00"]],
    }
    with pytest.raises(HoursError) as backwards:
        normalize_hours({"tue": [["08:00", "12:00"], ["18:00", "09:00"]]})
    assert backwards.value.key == "businessHours.tue[1]"
    with pytest.raises(HoursError) as overlapping:
        normalize_hours({"wed": [["08:00", "12:00"], ["11:00", "13:00"]]})
    assert overlapping.value.key == "businessHours.wed[1]"
    with pytest.raises(HoursError):
        normalize_hours({})
