"""The bot's texts, as the domain defines them, picked by language and filled in.

The action server receives the model's domain with every call; its responses carry one variation
per language (a `language` slot condition). Actions compose replies from them so that every word a
customer reads is data a trainer can edit, never a string in code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_skeleton, format_time

logger = logging.getLogger(__name__)


class ResponseBook:
    """Looks up response texts of a domain by name and language."""

    def __init__(self, domain: Mapping[str, Any], fallback_language: str = "en") -> None:
        self._responses: Mapping[str, list[dict[str, Any]]] = domain.get("responses") or {}
        self._fallback = fallback_language

    def has(self, name: str) -> bool:
        """Whether the domain defines the response."""
        return name in self._responses

    def text(self, name: str, language: str, **values: str) -> str | None:
        """Returns the variation of `name` for `language`, filled with `values`.

        Falls back to the brand's first language, then to a variation without a condition.
        """
        variations = self._responses.get(name) or []
        chosen = (
            _for_language(variations, language)
            or _for_language(variations, self._fallback)
            or next((v for v in variations if not v.get("condition")), None)
        )
        if chosen is None or not chosen.get("text"):
            logger.error("The domain has no text for %s in %s", name, language)
            return None
        text = str(chosen["text"])
        try:
            return text.format(**values) if values else text
        except (KeyError, IndexError, ValueError):
            logger.error(
                "Response %s (%s) has placeholders other than %s", name, language, list(values)
            )
            return text

    def answer_for(self, topic: str | None, language: str) -> str | None:
        """The bot's answer for an intent (`faq/roaming`, `greet`), used as a suggestion."""
        if not topic:
            return None
        return self.text(f"utter_{topic}", language)


def _for_language(variations: list[dict[str, Any]], language: str) -> dict[str, Any] | None:
    for variation in variations:
        for condition in variation.get("condition") or []:
            if condition.get("name") == "language" and condition.get("value") == language:
                return variation
    return None


def day_phrase(moment: datetime | date, locale: str) -> str:
    """A weekday and date as a customer of `locale` writes it: "quarta-feira, 2 de dezembro"."""
    weekday = format_date(moment, "EEEE", locale=locale)
    return f"{weekday}, {format_skeleton('MMMMd', moment, locale=locale)}"


def time_phrase(moment: datetime, locale: str) -> str:
    """A time of day on the 24-hour clock: "09:00"."""
    return format_time(moment, "HH:mm", locale=locale)
