"""Transcript lines handed to the queue, and masking of the personal data they contain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AUTHORS", "Entry", "customer_label", "mask"]

#: Who may write a transcript line.
AUTHORS: tuple[str, ...] = ("customer", "bot", "agent")


def customer_label(channel: str, customer: str) -> str:
    """How a customer is shown outside a reveal (desk, ``afterhours queue``, log lines).

    A phone number (the SMS channel's customer) is personal data: only its last three digits
    are shown, enough for an agent to tell two customers apart. Handles and chat ids are shown
    as they are.

    Args:
        channel: ``"sms"``, ``"telegram"``, ``"x"``, ``"rest"`` ...
        customer: The customer as the channel knows them (for SMS an E.164 number).

    Returns:
        ``"…678"`` for ``("sms", "+351912345678")``; the customer unchanged otherwise.
    """
    if channel == "sms" and len(customer) > 4:
        return "…" + customer[-3:]
    return customer


def _span_bounds(span: Mapping[str, Any], length: int) -> tuple[int, int, str] | None:
    """Validate one span and clamp it to the text; None when nothing of it is left."""
    try:
        start, end = span["start"], span["end"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"personal data span {span!r} needs 'start' and 'end'") from exc
    if isinstance(start, bool) or isinstance(end, bool):
        raise ValueError(f"personal data span {span!r}: start and end must be integers")
    if not isinstance(start, int) or not isinstance(end, int):
        raise ValueError(f"personal data span {span!r}: start and end must be integers")
    kind = str(span.get("kind") or "personal_data")
    start, end = max(0, start), min(length, end)
    if start >= end:
        return None
    return start, end, kind


def mask(text: str, spans: Sequence[Mapping[str, Any]]) -> str:
    """Replace each personal-data span of ``text`` with a label such as ``[iban]``.

    Spans may come in any order. Overlapping spans are merged into one and labelled with the kind
    of the span that starts first (the longer one on a tie); spans that merely touch stay apart.
    Spans reaching outside the text are clipped.

    Args:
        text: The original text.
        spans: ``{"kind": "iban", "start": 10, "end": 35}`` mappings, offsets in characters.

    Returns:
        The masked text.

    Raises:
        ValueError: A span has no integer ``start`` / ``end``.
    """
    bounds = [b for b in (_span_bounds(s, len(text)) for s in spans) if b is not None]
    # Start ascending, longer first, so the first span of a merged group names it.
    bounds.sort(key=lambda b: (b[0], -b[1]))
    merged: list[list[Any]] = []
    for start, end, kind in bounds:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, kind])
    pieces: list[str] = []
    cursor = 0
    for start, end, kind in merged:
        pieces.append(text[cursor:start])
        pieces.append(f"[{kind}]")
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


@dataclass(frozen=True)
class Entry:
    """One transcript line passed to the queue.

    Attributes:
        at: When it was written (aware datetime).
        author: ``"customer"``, ``"bot"`` or ``"agent"``.
        text: The text as written (unmasked).
        personal_data: Personal-data spans in ``text``: ``{"kind", "start", "end"}``.
        metadata: Channel facts worth keeping (channel, platform ids ...); JSON-serialisable.
    """

    at: dt.datetime
    author: str
    text: str
    personal_data: Sequence[Mapping[str, Any]] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.author not in AUTHORS:
            raise ValueError(f"author must be one of {AUTHORS}, not {self.author!r}")
        if not isinstance(self.at, dt.datetime) or self.at.utcoffset() is None:
            raise ValueError(f"Entry.at must be an aware datetime, got {self.at!r}")

    @property
    def masked_text(self) -> str:
        """The text with its personal data replaced by labels."""
        return mask(self.text, self.personal_data)
