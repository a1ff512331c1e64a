"""Placeholders of canned answers, filled when an agent inserts one: {first_name} {agent} {eta}.

``{first_name}`` is the customer's first name when the platform gave a display name (Telegram's
``first_name``, X's ``name``); without one it is dropped with the space before it, so
"Hi {first_name}, thanks" reads "Hi, thanks". ``{eta}`` is a day and time in the customer's
language, on the brand's clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton, format_time

from bot.settings import Brand
from handoff.models import Ticket

__all__ = [
    "PLACEHOLDERS",
    "customer_first_name",
    "eta_for",
    "eta_phrase",
    "fill",
    "unknown_placeholders",
]

#: The placeholders a canned answer may hold.
PLACEHOLDERS: tuple[str, ...] = ("first_name", "agent", "eta")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Before the time of day: "Monday, 2 March at 09:00", "segunda-feira, 2 de março, às 09:00".
_AT = {"en": " at ", "pt": ", às ", "es": ", a las ", "it": ", alle "}
# Display-name keys, platform first: Telegram's author, X's user.
_NAME_KEYS = ("first_name", "display_name", "name")
_NAME_CHARS = re.compile(r"[^\w'’-]")
# Without a promised time still ahead, "{eta}" means this long from now, or the next opening.
_ETA_FALLBACK = dt.timedelta(hours=2)


def unknown_placeholders(body: str) -> list[str]:
    """The ``{names}`` in ``body`` that are not placeholders (a supervisor's typo)."""
    return sorted({name for name in _PLACEHOLDER.findall(body) if name not in PLACEHOLDERS})


def _name_in(meta: Mapping[str, Any]) -> str | None:
    for source in (meta.get("platform"), meta):
        if isinstance(source, Mapping):
            for key in _NAME_KEYS:
                value = source.get(key)
                if isinstance(value, str) and value.strip():
                    return value
    return None


def customer_first_name(ticket: Ticket) -> str | None:
    """The customer's first name, if the platform gave a display name; else None.

    Only the first word is used, and only when it is made of letters, apostrophes and hyphens (a
    display name is hostile input like any customer text; the page escapes it too).

    Args:
        ticket: The case, transcript loaded.

    Returns:
        ``"Ana"`` for a display name ``"Ana Sousa"``; None when there is none.
    """
    for entry in reversed(ticket.transcript):
        if entry.author != "customer":
            continue
        name = _name_in(entry.meta or {})
        if name:
            first = name.split()[0]
            # Anything but a plain name (markup, digits, an emoji) is better left out.
            if len(first) <= 40 and not _NAME_CHARS.search(first) and not first.isdigit():
                return first
    return None


def eta_for(ticket: Ticket, brand: Brand, now: dt.datetime) -> dt.datetime:
    """The time ``{eta}`` names: the case's promised time while it is ahead.

    Past it, two hours from now, or the desk's next opening after that.

    Args:
        ticket: The case.
        brand: The brand (its calendar).
        now: The current time (aware).

    Returns:
        An aware datetime.
    """
    if ticket.reply_eta > now:
        return ticket.reply_eta
    return brand.calendar().reply_eta(now + _ETA_FALLBACK)


def eta_phrase(moment: dt.datetime, language: str, locale: str, timezone: str) -> str:
    """A day and a time as the customer reads them, on the brand's clock.

    Args:
        moment: The time (aware).
        language: The customer's language (``pt``).
        locale: Their locale (``pt_PT``).
        timezone: The brand's time zone.

    Returns:
        ``"Monday, 2 March at 09:00"``, ``"segunda-feira, 2 de março, às 09:00"`` ...
    """
    local = moment.astimezone(ZoneInfo(timezone))
    weekday = format_date(local, "EEEE", locale=locale)
    day = f"{weekday}, {format_skeleton('MMMMd', local, locale=locale)}"
    return f"{day}{_AT.get(language, ' ')}{format_time(local, 'HH:mm', locale=locale)}"


def fill(body: str, *, first_name: str | None, agent: str, eta: str) -> str:
    """Fill a canned answer's placeholders; an absent first name is dropped gracefully.

    Args:
        body: The canned answer.
        first_name: The customer's first name, or None.
        agent: The agent's name as the customer should read it.
        eta: The phrase of :func:`eta_phrase`.

    Returns:
        The text with no placeholder left (unknown ``{names}`` are kept as written).
    """
    values = {"agent": agent, "eta": eta, "first_name": first_name or ""}
    text = body
    if not first_name:
        # "Hi {first_name}, thanks" -> "Hi, thanks"; "{first_name}, obrigado" -> "Obrigado".
        text = re.sub(r",?[ \t]*\{first_name\}", "", text)
        stripped = re.sub(r"^[\s,;]+", "", text)
        if stripped != text and stripped:
            stripped = stripped[0].upper() + stripped[1:]
        text = stripped
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
