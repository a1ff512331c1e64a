"""The time helpers every package shares (handoff.clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from handoff.clock import as_utc, naive_is_utc, parse_iso, utc_now

UTC = dt.timezone.utc


def test_parse_iso_reads_z_and_keeps_offsets() -> None:
    assert parse_iso("2026-11-27T23:00:00Z") == dt.datetime(2026, 11, 27, 23, tzinfo=UTC)
    plus_one = parse_iso("2026-11-27T23:00:00+01:00")
    assert plus_one.utcoffset() == dt.timedelta(hours=1)


def test_parse_iso_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="field `at` is not ISO 8601"):
        parse_iso("yesterday", name="field `at`")
    with pytest.raises(ValueError, match="at needs a UTC offset"):
        parse_iso("2026-11-27T23:00:00", name="at")
    assert parse_iso("2026-11-27T23:00:00", assume_utc=True).tzinfo == UTC


def test_as_utc_refuses_naive_and_converts_aware() -> None:
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        as_utc(dt.datetime(2026, 1, 1), "now")
    with pytest.raises(TypeError):
        as_utc("2026-01-01", "now")  # type: ignore[arg-type]
    lisbon_summer = dt.datetime(2026, 7, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert as_utc(lisbon_summer) == dt.datetime(2026, 7, 1, 11, tzinfo=UTC)
    assert as_utc(None).tzinfo == UTC and utc_now().tzinfo == UTC


def test_naive_is_utc_reads_what_sqlite_gives_back() -> None:
    assert naive_is_utc(dt.datetime(2026, 1, 1)) == dt.datetime(2026, 1, 1, tzinfo=UTC)


def test_a_wall_time_of_a_zone() -> None:
    from zoneinfo import ZoneInfo

    lisbon = ZoneInfo("Europe/Lisbon")
    parsed = parse_iso("2026-07-01T21:00", assume_zone=lisbon)
    assert parsed.utcoffset() == dt.timedelta(hours=1)
    assert parse_iso("2026-07-01T21:00Z", assume_zone=lisbon).utcoffset() == dt.timedelta(0)
