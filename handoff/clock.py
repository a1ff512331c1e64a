"""Time helpers shared by every package: the current time, aware UTC, and ISO 8601 parsing.

Everything the product stores or compares is an aware datetime in UTC. Naive datetimes only come
from two places: SQLite, which gives back what was stored without its offset (UTC, see
:func:`naive_is_utc`), and callers that forgot a time zone (refused by :func:`as_utc`).
"""

from __future__ import annotations

import datetime as dt

__all__ = ["as_utc", "naive_is_utc", "parse_iso", "utc_now"]


def utc_now() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime | None, name: str = "value") -> dt.datetime:
    """Return ``value`` (or now, when None) as aware UTC; naive datetimes are refused.

    Args:
        value: An aware datetime, or None for the current time.
        name: What the value is, for the error message (``"now"``, ``"entry.at"``).

    Returns:
        The same instant in UTC.

    Raises:
        TypeError: ``value`` is not a datetime.
        ValueError: ``value`` is naive.
    """
    if value is None:
        return utc_now()
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value.isoformat()}")
    return value.astimezone(dt.timezone.utc)


def naive_is_utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as aware UTC, reading a naive datetime as UTC.

    For values read back from SQLite, which drops the offset of what was stored (always UTC).

    Args:
        value: A naive (UTC) or aware datetime.

    Returns:
        The same instant in UTC.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def parse_iso(
    text: str,
    *,
    name: str = "time",
    assume_utc: bool = False,
    assume_zone: dt.tzinfo | None = None,
) -> dt.datetime:
    """Parse an ISO 8601 date-time into an aware datetime; a trailing ``Z`` means UTC.

    The offset written is kept (``+01:00`` stays ``+01:00``). Python 3.10's
    :meth:`datetime.fromisoformat` does not read ``Z``, which platforms (X, Twilio) send.

    Args:
        text: ``"2026-11-27T23:00:00Z"``, ``"2026-11-27T23:00:00+01:00"`` ...
        name: What the text is, for the error messages (``"field `at`"``).
        assume_utc: Read a time without an offset as UTC instead of refusing it.
        assume_zone: Read a time without an offset as a wall time of this zone (a brand's).

    Returns:
        The aware datetime.

    Raises:
        ValueError: ``"<name> is not ISO 8601"``, or ``"<name> needs a UTC offset"`` when the
            text has none and neither ``assume_utc`` nor ``assume_zone`` says how to read it.
    """
    if not isinstance(text, str):
        raise ValueError(f"{name} is not ISO 8601")
    raw = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError as error:
        raise ValueError(f"{name} is not ISO 8601") from error
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if assume_zone is not None:
            return parsed.replace(tzinfo=assume_zone)
        if not assume_utc:
            raise ValueError(f"{name} needs a UTC offset")
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed
