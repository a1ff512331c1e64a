from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from handoff import calendar as calendar_module
from handoff.calendar import BusinessCalendar

LISBON = ZoneInfo("Europe/Lisbon")
UTC = dt.timezone.utc

DEMO_HOURS = {
    "monday": ["09:00-18:00"],
    "tuesday": ["09:00-18:00"],
    "wednesday": ["09:00-18:00"],
    "thursday": ["09:00-18:00"],
    "friday": ["09:00-18:00"],
    "saturday": ["10:00-14:00"],
}


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar.from_strings("Europe/Lisbon", DEMO_HOURS, "PT", None)


def lisbon(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=LISBON)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Friday night -> Saturday 10:00
        (lisbon(2026, 3, 6, 22, 30), lisbon(2026, 3, 7, 10, 0)),
        # Saturday after closing -> Monday 09:00
        (lisbon(2026, 3, 7, 15, 0), lisbon(2026, 3, 9, 9, 0)),
        # Sunday (closed all day) -> Monday 09:00
        (lisbon(2026, 3, 8, 11, 0), lisbon(2026, 3, 9, 9, 0)),
        # Early on a weekday -> the same morning
        (lisbon(2026, 3, 10, 6, 0), lisbon(2026, 3, 10, 9, 0)),
        # Exactly at opening time -> that opening
        (lisbon(2026, 3, 10, 9, 0), lisbon(2026, 3, 10, 9, 0)),
        # Monday 5 Oct 2026 is Republic Day: Sunday -> Tuesday
        (lisbon(2026, 10, 4, 20, 0), lisbon(2026, 10, 6, 9, 0)),
        # Monday 1 Dec 2025 is Restoration of Independence: Saturday after closing -> Tuesday
        (lisbon(2025, 11, 29, 15, 0), lisbon(2025, 12, 2, 9, 0)),
        # The day before Christmas (Thu 24 Dec 2026) after closing: Friday 25 is a holiday
        (lisbon(2026, 12, 24, 19, 0), lisbon(2026, 12, 26, 10, 0)),
        # Tuesday 1 Dec 2026 and Tuesday 8 Dec 2026 are holidays: Monday night -> Wednesday
        (lisbon(2026, 11, 30, 20, 0), lisbon(2026, 12, 2, 9, 0)),
        (lisbon(2026, 12, 7, 20, 0), lisbon(2026, 12, 9, 9, 0)),
        (lisbon(2026, 12, 1, 10, 0), lisbon(2026, 12, 2, 9, 0)),
    ],
)
def test_next_opening(cal: BusinessCalendar, at: dt.datetime, expected: dt.datetime) -> None:
    got = cal.next_opening(at)
    assert got == expected
    assert got.tzinfo is not None
    assert got.utcoffset() == expected.utcoffset()
    assert cal.reply_eta(at) == expected


def test_next_opening_while_open_is_the_next_period(cal: BusinessCalendar) -> None:
    assert cal.next_opening(lisbon(2026, 3, 9, 10, 0)) == lisbon(2026, 3, 10, 9, 0)


def test_dst_spring_saturday(cal: BusinessCalendar) -> None:
    # Clocks go forward on Sunday 29 March 2026 in Lisbon (WET +00:00 -> WEST +01:00).
    saturday = lisbon(2026, 3, 28, 15, 0)
    assert saturday.utcoffset() == dt.timedelta(0)
    got = cal.next_opening(saturday)
    assert got == lisbon(2026, 3, 30, 9, 0)
    assert got.utcoffset() == dt.timedelta(hours=1)
    assert got.astimezone(UTC) == dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert cal.is_open(lisbon(2026, 3, 28, 13, 59))
    assert not cal.is_open(lisbon(2026, 3, 29, 10, 0))


def test_dst_autumn_saturday(cal: BusinessCalendar) -> None:
    # Clocks go back on Sunday 25 October 2026 (WEST +01:00 -> WET +00:00).
    saturday = lisbon(2026, 10, 24, 15, 0)
    assert saturday.utcoffset() == dt.timedelta(hours=1)
    got = cal.next_opening(saturday)
    assert got == lisbon(2026, 10, 26, 9, 0)
    assert got.utcoffset() == dt.timedelta(0)
    assert got.astimezone(UTC) == dt.datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    # Given in UTC, still judged by Lisbon's wall clock: 09:30 UTC is 10:30 WEST on Saturday.
    assert cal.is_open(dt.datetime(2026, 10, 24, 9, 30, tzinfo=UTC))
    assert not cal.is_open(dt.datetime(2026, 10, 24, 8, 30, tzinfo=UTC))


def test_opening_inside_the_dst_gap_moves_forward() -> None:
    # 01:30 does not exist in Lisbon on 29 March 2026.
    night = BusinessCalendar("Europe/Lisbon", {6: [(dt.time(1, 30), dt.time(5, 0))]}, "PT")
    got = night.next_opening(lisbon(2026, 3, 28, 12, 0))
    assert got.astimezone(UTC) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert got.utcoffset() == dt.timedelta(hours=1)


def test_is_open_boundaries(cal: BusinessCalendar) -> None:
    assert not cal.is_open(lisbon(2026, 3, 9, 8, 59, 59))
    assert cal.is_open(lisbon(2026, 3, 9, 9, 0))
    assert cal.is_open(lisbon(2026, 3, 9, 17, 59, 59))
    assert not cal.is_open(lisbon(2026, 3, 9, 18, 0))
    assert not cal.is_open(lisbon(2026, 12, 25, 10, 0))  # Christmas, a Friday


def test_reply_eta_when_open_is_now_in_the_zone(cal: BusinessCalendar) -> None:
    at = dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 11:00 WEST, a Wednesday
    eta = cal.reply_eta(at)
    assert eta == at
    assert eta.tzinfo == LISBON
    assert eta.hour == 11


def test_is_holiday(cal: BusinessCalendar) -> None:
    assert cal.is_holiday(dt.date(2026, 12, 25))
    assert cal.is_holiday(dt.date(2026, 12, 1))
    assert cal.is_holiday(dt.date(2026, 12, 8))
    assert cal.is_holiday(dt.date(2026, 12, 24)) is None
    assert cal.is_holiday(dt.date(2026, 3, 9)) is None


def test_holiday_names_in_a_chosen_language() -> None:
    english = BusinessCalendar.from_strings(
        "Europe/Lisbon", DEMO_HOURS, "PT", holiday_language="en_US"
    )
    assert english.is_holiday(dt.date(2026, 12, 25)) == "Christmas Day"


def test_subdivision_holidays() -> None:
    # Saint Anthony (13 June) is Lisbon's municipal holiday; 13 June 2029 is a Wednesday.
    lisbon_city = BusinessCalendar.from_strings("Europe/Lisbon", DEMO_HOURS, "PT", "11")
    national = BusinessCalendar.from_strings("Europe/Lisbon", DEMO_HOURS, "PT")
    assert lisbon_city.is_holiday(dt.date(2029, 6, 13))
    assert national.is_holiday(dt.date(2029, 6, 13)) is None
    assert not lisbon_city.is_open(lisbon(2029, 6, 13, 10, 0))
    assert national.is_open(lisbon(2029, 6, 13, 10, 0))


def test_holidays_are_built_once_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = calendar_module.holidays_lib.country_holidays

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(kwargs["years"])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(calendar_module.holidays_lib, "country_holidays", counting)
    cal = BusinessCalendar.from_strings("Europe/Lisbon", DEMO_HOURS, "PT")
    for _ in range(3):
        cal.next_opening(lisbon(2026, 12, 24, 19, 0))
        cal.next_opening(lisbon(2027, 1, 1, 19, 0))
    assert sorted(calls) == sorted({dt.date.today().year, 2026, 2027})


@pytest.mark.parametrize("method", ["is_open", "next_opening", "reply_eta"])
def test_naive_datetime_rejected(cal: BusinessCalendar, method: str) -> None:
    with pytest.raises(ValueError, match="naive"):
        getattr(cal, method)(dt.datetime(2026, 3, 9, 10, 0))


def test_24_00_ends_the_day() -> None:
    cal = BusinessCalendar.from_strings("Europe/Lisbon", {"sunday": ["20:00-24:00"]}, "PT")
    assert cal.is_open(lisbon(2026, 3, 8, 23, 59, 59))
    assert not cal.is_open(lisbon(2026, 3, 9, 0, 0))


def test_touching_periods_are_one_opening() -> None:
    cal = BusinessCalendar.from_strings(
        "Europe/Lisbon", {"monday": ["13:00-18:00", "09:00-13:00"]}, "PT"
    )
    assert cal.is_open(lisbon(2026, 3, 9, 13, 0))
    assert cal.next_opening(lisbon(2026, 3, 9, 10, 0)) == lisbon(2026, 3, 16, 9, 0)


@pytest.mark.parametrize(
    ("timezone", "hours", "country", "subdivision", "field"),
    [
        ("Europe/Lisbon", {"friday": ["9-18"]}, "PT", None, "desk_hours.friday"),
        ("Europe/Lisbon", {"friday": ["18:00-09:00"]}, "PT", None, "desk_hours.friday"),
        ("Europe/Lisbon", {"friday": ["09:00-25:00"]}, "PT", None, "desk_hours.friday"),
        ("Europe/Lisbon", {"friday": "09:00-18:00"}, "PT", None, "desk_hours.friday"),
        ("Europe/Lisbon", {"funday": ["09:00-18:00"]}, "PT", None, "desk_hours.funday"),
        ("Europe/Lisbon", {}, "PT", None, "desk_hours"),
        ("Mars/Olympus_Mons", DEMO_HOURS, "PT", None, "timezone"),
        ("Europe/Lisbon", DEMO_HOURS, "XX", None, "holidays.country"),
        ("Europe/Lisbon", DEMO_HOURS, "", None, "holidays.country"),
        ("Europe/Lisbon", DEMO_HOURS, "PT", "99", "holidays.subdivision"),
    ],
)
def test_bad_config_names_the_field(
    timezone: str,
    hours: dict[str, object],
    country: str,
    subdivision: str | None,
    field: str,
) -> None:
    with pytest.raises(ValueError) as excinfo:
        BusinessCalendar.from_strings(timezone, hours, country, subdivision)  # type: ignore[arg-type]
    assert str(excinfo.value).startswith(f"{field}:")
