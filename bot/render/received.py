"""What the customer receives for one bot message: rendered for its channel, public ones scrubbed.

One home for it, so that what is recorded is what was sent: the connectors' output channel
(``bot.channels.output``) sends these texts, and the handoff action records these same texts in
the ticket's transcript. No Rasa here (the action server does not load it).
"""

from __future__ import annotations

import re

from bot.nlu.personal_data import as_spans, find_personal_data
from bot.render.base import render
from bot.settings import load_brand
from handoff.transcript import mask

__all__ = ["IF_NO_DM_KEY", "MOVE_DM", "MOVE_KEY", "MOVE_PUBLIC", "as_received", "scrub_public"]

#: The metadata key the handoff action tags the two messages of a move to private with: the
#: private line (``dm``), sent first, then the public reply (``public``), whose wording the output
#: chooses from what became of the private line (``bot.channels.output``).
MOVE_KEY = "move_to_private"
MOVE_DM, MOVE_PUBLIC = "dm", "public"
#: The public reply's wording when no private message was delivered; ``{link}`` is filled in.
IF_NO_DM_KEY = "if_no_dm"


#: The brand's own private links (bot.channels: X's DM compose link, a Telegram start link): the
#: brand's X id or a token may look like a phone number, but they are the brand's, and public.
_PRIVATE_LINK = re.compile(
    r"https://x\.com/messages/compose\?recipient_id=\d+|https://t\.me/\w+\?start=[\w-]+"
)


def scrub_public(text: str) -> str:
    """Removes personal data from a text about to be posted in public."""
    brand = load_brand()
    findings = find_personal_data(
        text, account_pattern=brand.account_number_pattern, phone_regions=brand.phone_regions
    )
    links = [(m.start(), m.end()) for m in _PRIVATE_LINK.finditer(text)]
    # The brand's own contacts and private links are meant to be public.
    findings = [
        f
        for f in findings
        if f.value not in (brand.contacts.phone, brand.contacts.email)
        and not any(start <= f.start and f.end <= end for start, end in links)
    ]
    return mask(text, as_spans(findings)) if findings else text


def as_received(channel: str, text: str, *, public: bool, handle: str | None) -> list[str]:
    """The messages the customer receives for one bot message, in sending order.

    Args:
        channel: "x", "telegram", "sms" or "rest".
        text: The bot's message as the action composed it.
        public: Whether it is posted publicly (an X mention reply): then scrubbed of personal
            data, and fitted with the customer's @handle.
        handle: The customer's handle (a public X reply needs it).

    Returns:
        The rendered parts (an SMS may be transliterated to GSM-7 or shortened, a Telegram
        message split); empty when there is nothing to send.

    Raises:
        ValueError: For an unknown channel, or a public X reply without a handle.
    """
    parts = render(
        channel, text, public=public, handle=handle, scrub=scrub_public if public else None
    )
    return [part for part in parts if part]
