"""What every channel does to a customer's message before Rasa sees it."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from handoff.clock import parse_iso

# Customers' messages are kept whole: a 10,000-character message reaches the ticket intact. Only
# characters that carry no meaning and break logs or terminals are removed. Unassigned code points
# ("Cn") are kept: Python 3.10 knows Unicode 13, so newer emoji (🫠 🫶 🩷) look unassigned to it.
_KEEP_CONTROLS = {"\n", "\t"}


def clean_text(text: str) -> str:
    """Normalises a customer's text: NFC, no control characters or lone surrogates, trimmed.

    Args:
        text: The text as the platform delivered it.

    Returns:
        The text Rasa reads.
    """
    text = unicodedata.normalize("NFC", text)
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in _KEEP_CONTROLS or category not in ("Cc", "Cs", "Co"):
            kept.append(char)
    return "".join(kept).replace("\t", " ").strip()


@dataclass(frozen=True)
class Inbound:
    """One customer message as a channel hands it to Rasa."""

    channel: str
    sender: str
    text: str
    public: bool
    at: datetime
    platform: dict[str, Any] | None = None

    @property
    def conversation_id(self) -> str:
        """Rasa's sender id: one conversation per customer per channel."""
        return f"{self.channel}:{self.sender}"

    def metadata(self) -> dict[str, Any]:
        """Return the `UserMessage` metadata every channel sends (see DEVELOPERS.md)."""
        at = self.at if self.at.tzinfo else self.at.replace(tzinfo=timezone.utc)
        value: dict[str, Any] = {
            "channel": self.channel,
            "public": self.public,
            "sender": self.sender,
            "at": at.isoformat(),
        }
        if self.platform:
            value["platform"] = self.platform
        cleaned = clean_text(self.text)
        if cleaned != self.text:
            value["raw_text"] = self.text
        return value

    def to_dict(self) -> dict[str, Any]:
        """The message as JSON, enough to rebuild it for a redelivery (the inbox stores it)."""
        at = self.at if self.at.tzinfo else self.at.replace(tzinfo=timezone.utc)
        return {
            "channel": self.channel,
            "sender": self.sender,
            "text": self.text,
            "public": self.public,
            "at": at.astimezone(timezone.utc).isoformat(),
            "platform": self.platform,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Inbound:
        """Rebuilds a message stored by :meth:`to_dict`."""
        return cls(
            channel=value["channel"],
            sender=value["sender"],
            text=value["text"],
            public=bool(value["public"]),
            at=parse_iso(value["at"], name="at", assume_utc=True),
            platform=value.get("platform"),
        )
