"""Whether a message is addressed to the brand, or only talks about it.

A private message (DM, Telegram private chat, SMS) is always addressed. A public post is addressed
when its leading @mentions include the brand, or when it names the brand without first replying to
someone else. Two friends discussing the brand ("@ana have you tried @AuroraCare's fibre?") are not
talking to it, and a plain retweet is not a message at all.

Where the post stands says only so much: news about the brand, a sponsorship, a joke about the
router or a friend told to write to the brand name it and ask it nothing. That part is learned:
the intent classifier has a `no_request` intent (examples in every language in data/nlu/), and a
public post it puts there is not addressed either (`asks_nothing`; validated on its own set of
posts in tests/nlu/addressing_posts.yml).

Plain logic: no Rasa import. The Rasa component wrapping it is
`bot.nlu.components.AddressingDetector`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# X handles: letters, digits and underscores. A leading "." (".@brand ...") was the old way of
# making a reply public; it still starts the post with a mention.
_LEADING_MENTIONS = re.compile(r"^[\s.]*((?:[@＠]\w+[\s,:;]*)+)")
_MENTION = re.compile(r"(?<![\w@＠])[@＠](\w+)")
_RETWEET = re.compile(r"^\s*RT\s*[@＠]\w+\s*:?", re.IGNORECASE)


@dataclass(frozen=True)
class Addressing:
    """Whether the brand is addressed, and why (a short English phrase for logs and the desk)."""

    addressed: bool
    why: str

    def as_dict(self) -> dict[str, Any]:
        """Return the parse-data value: `{"addressed", "why"}` (see DEVELOPERS.md)."""
        return {"addressed": self.addressed, "why": self.why}


def _handle_name(handle: str) -> str:
    return handle.strip().lstrip("@＠").casefold()


def addressing(
    text: str,
    *,
    public: bool,
    brand_handle: str,
    hint: Mapping[str, Any] | None = None,
    asks_nothing: bool = False,
) -> Addressing:
    """Decide whether a message is addressed to the brand.

    Args:
        text: The message as posted.
        public: True for a public post (an X mention), False for a private message.
        brand_handle: The brand's handle, with or without the @ (compared ignoring case).
        hint: What the platform's own data says (``metadata.platform.addressed_hint``,
            ``{"addressed": bool, "why": str}``): who the post replies to, whether it is a
            retweet or a quote. It knows more than the text, so it decides when present;
            replay has none and decides from the text.
        asks_nothing: The classifier read the post as asking the brand nothing (`no_request`).

    Returns:
        The decision and its reason.
    """
    if not public:
        return Addressing(True, "private message")
    found = _from_text_or_hint(text, brand_handle, hint)
    if found.addressed and asks_nothing:
        return Addressing(False, "asks the brand nothing")
    return found


def _from_text_or_hint(text: str, brand_handle: str, hint: Mapping[str, Any] | None) -> Addressing:
    """Whether a public post is addressed, from the platform's data or where the brand is named."""
    if hint is not None and isinstance(hint.get("addressed"), bool):
        return Addressing(hint["addressed"], str(hint.get("why") or "platform data"))
    text = text or ""
    if _RETWEET.match(text):
        return Addressing(False, "retweet")
    brand = _handle_name(brand_handle)
    if not brand:
        return Addressing(False, "no brand handle configured")
    leading_block = _LEADING_MENTIONS.match(text)
    leading = (
        [name.casefold() for name in _MENTION.findall(leading_block.group(1))]
        if leading_block
        else []
    )
    if brand in leading:
        return Addressing(True, "leading mention of the brand")
    mentioned = {name.casefold() for name in _MENTION.findall(text)}
    if brand not in mentioned:
        return Addressing(False, "brand not mentioned")
    if leading:
        return Addressing(False, "leading mention of someone else")
    return Addressing(True, "mentions the brand")
