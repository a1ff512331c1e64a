"""The desk's business calendar: opening hours per weekday, a time zone and public holidays.

Everything is computed in the calendar's own time zone with :mod:`zoneinfo`, so the answers stay
right across daylight-saving changes. Only aware datetimes are accepted.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

__all__ = ["BusinessCalendar", "WEEKDAY_NAMES"]

#: Weekday names as in brand.yml's ``desk_hours``; index 0 is Monday, as ``date.weekday()``.
WEEKDAY_NAMES: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

_PERIOD_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# How far next_opening looks before concluding the desk never opens (holidays cannot close a
# whole year, so two years is plenty).
_SEARCH_DAYS = 2 * 366 + 7

Period = tuple[dt.time, dt.time]


def _normalise_periods(periods: Sequence[Period], day: str) -> tuple[Period, ...]:
    """Validate one day's periods, sort them and merge overlapping or touching ones.

    Merging means ``next_opening`` never reports a "new opening" that is really a continuation.
    """
    cleaned: list[Period] = []
    for period in periods:
        if not isinstance(period, tuple | list) or len(period) != 2:
            raise ValueError(f"desk_hours.{day}: {period!r} is not a (start, end) pair")
        start, end = period
        if not isinstance(start, dt.time) or not isinstance(end, dt.time):
            raise ValueError(f"desk_hours.{day}: {period!r} must hold datetime.time values")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"desk_hours.{day}: times are local to the calendar's zone, not aware")
        if not start < end:
            raise ValueError(f"desk_hours.{day}: {start:%H:%M}-{end:%H:%M} ends before it starts")
        cleaned.append((start, end))
    cleaned.sort()
    merged: list[Period] = []
    for start, end in cleaned:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _parse_clock(hours: str, minutes: str, *, allow_24: bool) -> dt.time:
    """Turn "HH", "MM" into a time; "24:00" (only as an end) means the end of the day."""
    h, m = int(hours), int(minutes)
    if allow_24 and h == 24 and m == 0:
        return dt.time.max
    return dt.time(h, m)  # raises ValueError for 25:00, 10:61...


class BusinessCalendar:
    """When a person is at the desk, in the brand's time zone, holidays included.

    Args:
        timezone: IANA zone name, e.g. ``"Europe/Lisbon"``.
        weekly_hours: Open periods per weekday (0 = Monday) as local ``(start, end)`` times, end
            exclusive; a weekday left out is closed. ``datetime.time.max`` as an end means midnight.
        holiday_country: Country code understood by the ``holidays`` package, e.g. ``"PT"``.
        holiday_subdivision: Optional subdivision code of that country.
        holiday_language: Optional language for holiday names (e.g. ``"en_US"``); by default the
            ``holidays`` package picks one, which may depend on the process locale.

    Raises:
        ValueError: A setting is invalid; the message starts with the setting's name.
    """

    def __init__(
        self,
        timezone: str,
        weekly_hours: Mapping[int, Sequence[tuple[dt.time, dt.time]]],
        holiday_country: str,
        holiday_subdivision: str | None = None,
        *,
        holiday_language: str | None = None,
    ) -> None:
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"timezone: unknown IANA time zone {timezone!r}") from exc
        self.timezone = timezone

        hours: dict[int, tuple[Period, ...]] = {}
        for weekday, periods in weekly_hours.items():
            if not isinstance(weekday, int) or not 0 <= weekday <= 6:
                raise ValueError(f"desk_hours: weekday {weekday!r} is not 0 (Monday) .. 6 (Sunday)")
            normalised = _normalise_periods(periods, WEEKDAY_NAMES[weekday])
            if normalised:
                hours[weekday] = normalised
        if not hours:
            raise ValueError("desk_hours: the desk is never open")
        self._hours = hours

        self.holiday_country = holiday_country
        self.holiday_subdivision = holiday_subdivision
        self.holiday_language = holiday_language
        self._holidays: dict[int, Any] = {}
        self._holidays_lock = threading.Lock()
        # Build this year's holidays now so a bad country or subdivision fails at start-up.
        self._holidays_for(dt.date.today().year)

    @classmethod
    def from_strings(
        cls,
        timezone: str,
        hours: Mapping[str, Sequence[str]],
        country: str,
        subdivision: str | None = None,
        *,
        holiday_language: str | None = None,
    ) -> BusinessCalendar:
        """Build a calendar from brand.yml-style settings.

        Args:
            timezone: IANA zone name.
            hours: ``{"monday": ["09:00-18:00"], "saturday": ["10:00-14:00"]}``; a day left out
                (or with an empty list) is closed. ``"24:00"`` may end a period.
            country: ``holidays`` country code.
            subdivision: Optional subdivision code.
            holiday_language: Optional language for holiday names.

        Returns:
            The calendar.

        Raises:
            ValueError: A setting is invalid; the message names it (``desk_hours.friday`` ...).
        """
        if not isinstance(hours, Mapping):
            raise ValueError("desk_hours: must be a mapping of weekday name to periods")
        weekly: dict[int, list[Period]] = {}
        for name, periods in hours.items():
            key = str(name).strip().lower()
            if key not in WEEKDAY_NAMES:
                raise ValueError(f"desk_hours.{name}: not a weekday name (monday .. sunday)")
            field = f"desk_hours.{key}"
            if periods is None:
                periods = []
            if isinstance(periods, str) or not isinstance(periods, Sequence):
                raise ValueError(f'{field}: must be a list like ["09:00-18:00"]')
            parsed: list[Period] = []
            for text in periods:
                match = _PERIOD_RE.match(text) if isinstance(text, str) else None
                if match is None:
                    raise ValueError(f"{field}: {text!r} is not HH:MM-HH:MM")
                try:
                    start = _parse_clock(match[1], match[2], allow_24=False)
                    end = _parse_clock(match[3], match[4], allow_24=True)
                except ValueError as exc:
                    raise ValueError(f"{field}: {text!r} is not a valid time range") from exc
                parsed.append((start, end))
            weekly[WEEKDAY_NAMES.index(key)] = parsed
        if not isinstance(country, str) or not country.strip():
            raise ValueError("holidays.country: must be a country code such as 'PT'")
        return cls(
            timezone,
            weekly,
            country.strip(),
            subdivision,
            holiday_language=holiday_language,
        )

    # -- holidays -------------------------------------------------------------------------------

    def _holidays_for(self, year: int) -> Any:
        """Return the cached ``holidays`` object for one year (built once per year)."""
        cached = self._holidays.get(year)
        if cached is not None:
            return cached
        with self._holidays_lock:
            cached = self._holidays.get(year)
            if cached is None:
                try:
                    cached = holidays_lib.country_holidays(
                        self.holiday_country,
                        subdiv=self.holiday_subdivision,
                        years=year,
                        language=self.holiday_language,
                    )
                except NotImplementedError as exc:
                    bad_subdivision = "subdivision" in str(exc)
                    field = "holidays.subdivision" if bad_subdivision else "holidays.country"
                    raise ValueError(f"{field}: {exc}") from exc
                self._holidays[year] = cached
        return cached

    def is_holiday(self, d: dt.date) -> str | None:
        """Return the holiday's name if ``d`` (a local date) is a public holiday, else None."""
        if isinstance(d, dt.datetime):
            d = self._local(d).date()
        name = self._holidays_for(d.year).get(d)
        return str(name) if name else None

    # -- opening hours --------------------------------------------------------------------------

    def _local(self, at: dt.datetime) -> dt.datetime:
        if not isinstance(at, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(at).__name__}")
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"naive datetime {at.isoformat()} rejected: give it a time zone")
        return at.astimezone(self._zone)

    def _periods_on(self, day: dt.date) -> tuple[Period, ...]:
        if self.is_holiday(day):
            return ()
        return self._hours.get(day.weekday(), ())

    def _to_aware(self, day: dt.date, clock: dt.time) -> dt.datetime:
        """Local wall time → aware datetime; a wall time skipped by DST moves forward."""
        naive = dt.datetime.combine(day, clock)
        # Round-tripping through UTC turns a non-existent time (the spring gap) into a real one.
        return naive.replace(tzinfo=self._zone).astimezone(dt.timezone.utc).astimezone(self._zone)

    def is_open(self, at: dt.datetime) -> bool:
        """Tell whether the desk is open at ``at`` (an aware datetime).

        Raises:
            ValueError: ``at`` is naive.
        """
        local = self._local(at)
        for start, end in self._periods_on(local.date()):
            opens = self._to_aware(local.date(), start)
            if local < opens:
                continue
            if end == dt.time.max:
                return True
            if local < self._to_aware(local.date(), end):
                return True
        return False

    def next_opening(self, at: dt.datetime) -> dt.datetime:
        """Return the start of the next open period at or after ``at``.

        Closed weekdays and holidays are skipped. While the desk is open this is the *next*
        opening, not ``at``: use :meth:`reply_eta` for "when will a person answer".

        Args:
            at: An aware datetime.

        Returns:
            An aware datetime in the calendar's time zone.

        Raises:
            ValueError: ``at`` is naive, or the desk never opens within two years.
        """
        local = self._local(at)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            for start, _end in self._periods_on(day):
                opens = self._to_aware(day, start)
                if opens >= local:
                    return opens
            day += dt.timedelta(days=1)
        raise ValueError("desk_hours: the desk does not open within two years")

    def reply_eta(self, at: dt.datetime) -> dt.datetime:
        """Return when a person can answer: ``at`` if the desk is open, else its next opening.

        Args:
            at: An aware datetime.

        Returns:
            An aware datetime in the calendar's time zone.
        """
        local = self._local(at)
        return local if self.is_open(local) else self.next_opening(local)

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar({self.timezone!r}, {self._hours!r}, "
            f"{self.holiday_country!r}, {self.holiday_subdivision!r})"
        )
