"""Render a reply for a channel: the message parts exactly as they would be sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from bot.render.sms import DEFAULT_MAX_SEGMENTS, fit_sms
from bot.render.telegram import MAX_MESSAGE_LENGTH, split_message
from bot.render.text import normalise_outgoing
from bot.render.x import MAX_WEIGHTED_LENGTH, URL_WEIGHT, fit_public_reply

Channel = Literal["x", "telegram", "sms", "rest"]
CHANNELS: tuple[str, ...] = get_args(Channel)

X_DM_MAX_LENGTH = 10_000


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")


def render(
    channel: str,
    text: str,
    *,
    public: bool,
    handle: str | None,
    scrub: Callable[[str], str] | None = None,
) -> list[str]:
    """Shape a reply for a channel.

    The text is normalised first. A public reply is passed through ``scrub`` (which removes
    personal data) before it is fitted, so shortening never leaves half of a personal detail.

    - X, public: one reply ``"@handle …"`` within 280 weighted characters, handle included.
    - X, DM: messages of at most 10,000 characters (counted as UTF-16 units, which is never less).
    - Telegram: messages of at most 4096 UTF-16 code units, split at natural boundaries.
    - SMS: one body within two segments (GSM-7 or UCS-2).
    - REST: the text unchanged.

    Args:
        channel: "x", "telegram", "sms" or "rest".
        text: The reply.
        public: Whether it is posted publicly (an X mention reply).
        handle: The customer's handle; required for a public X reply.
        scrub: Removes personal data from a public reply; supplied by the caller.

    Returns:
        The message parts in sending order; empty if there is nothing to send.

    Raises:
        ValueError: For an unknown channel, or a public X reply without a handle.
    """
    _check_channel(channel)
    body = normalise_outgoing(text)
    if public and scrub is not None:
        body = normalise_outgoing(scrub(body))
    if not body:
        return []
    if channel == "x":
        if public:
            if not handle:
                raise ValueError("a public X reply needs the customer's handle")
            return [fit_public_reply(body, handle)]
        return split_message(body, X_DM_MAX_LENGTH)
    if channel == "telegram":
        return split_message(body, MAX_MESSAGE_LENGTH)
    if channel == "sms":
        return [fit_sms(body, DEFAULT_MAX_SEGMENTS)]
    return [body]


def limits_for(channel: str, public: bool) -> dict[str, object]:
    """Describe a channel's length budget (for a UI that shows how much room is left).

    Args:
        channel: "x", "telegram", "sms" or "rest".
        public: Whether the reply is public (only matters for X).

    Returns:
        A dict with at least ``kind`` and ``limit`` (None when there is no limit), e.g.
        ``{"kind": "weighted", "limit": 280, ...}`` or
        ``{"kind": "sms_segments", "limit": 2, ...}``.

    Raises:
        ValueError: For an unknown channel.
    """
    _check_channel(channel)
    if channel == "x" and public:
        return {
            "kind": "weighted",
            "limit": MAX_WEIGHTED_LENGTH,
            "url_weight": URL_WEIGHT,
            "counts_handle": True,
            "splits": False,
        }
    if channel == "x":
        return {"kind": "chars", "limit": X_DM_MAX_LENGTH, "splits": True}
    if channel == "telegram":
        return {"kind": "utf16_units", "limit": MAX_MESSAGE_LENGTH, "splits": True}
    if channel == "sms":
        return {
            "kind": "sms_segments",
            "limit": DEFAULT_MAX_SEGMENTS,
            "gsm7_per_segment": {"single": 160, "multi": 153},
            "ucs2_per_segment": {"single": 70, "multi": 67},
            "splits": False,
        }
    return {"kind": "none", "limit": None, "splits": False}
