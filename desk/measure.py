"""How much room an agent's answer has left on the customer's channel (the counter under the box).

The counting is the renderer's own (``bot.render``): X's weighted length with the @handle in
front, SMS segments in GSM-7 or UCS-2, UTF-16 units on Telegram.
"""

from __future__ import annotations

from typing import Any

from bot.render.base import X_DM_MAX_LENGTH, limits_for
from bot.render.sms import encoding_of
from bot.render.text import normalise_outgoing, utf16_len
from bot.render.x import weighted_length

__all__ = ["measure"]


def measure(channel: str, public: bool, customer: str, text: str) -> dict[str, Any]:
    """Measure an answer against its channel's limit.

    Args:
        channel: ``"x"``, ``"telegram"``, ``"sms"`` or ``"rest"``.
        public: Whether the answer is a public post (X mentions).
        customer: The customer's handle (counted in front of a public X reply).
        text: The answer as typed.

    Returns:
        ``{"kind", "used", "limit", "left", "over", "detail"}``; ``limit`` is None when the
        channel has none. ``over`` means the channel will shorten or split it.
    """
    limits = limits_for(channel if channel in ("x", "telegram", "sms", "rest") else "rest", public)
    body = normalise_outgoing(text)
    kind = str(limits["kind"])
    limit = limits["limit"]
    detail = ""
    if kind == "weighted":
        handle = "@" + customer.strip().lstrip("@")
        used = weighted_length(f"{handle} {body}" if body else handle)
        detail = f"weighted characters, {handle} included"
    elif kind == "sms_segments":
        info = encoding_of(body)
        used = info.segments if body else 0
        detail = f"SMS segments ({info.encoding}, {info.units} units)"
    elif kind == "utf16_units":
        used = utf16_len(body)
        detail = "characters (longer answers are split)"
    elif kind == "chars":
        used = utf16_len(body)
        limit = X_DM_MAX_LENGTH
        detail = "characters in a DM (longer answers are split)"
    else:
        used = len(body)
        detail = "characters"
    left = None if limit is None else int(str(limit)) - used
    return {
        "kind": kind,
        "used": used,
        "limit": limit,
        "left": left,
        "over": left is not None and left < 0,
        "detail": detail,
    }
