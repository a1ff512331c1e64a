"""The satisfaction question after a resolved case: what counts as an answer, and for how long.

The desk asks (``utter_csat_question``) after an agent resolves a case, and sets the
conversation's ``csat`` slot to ``{"ticket": 12, "agent": "ana", "asked_at": "<ISO 8601>"}``.
While that question is open, a reply that is only a score — a digit from 1 to 5 ("4", "4/5",
"5 stars"), stars ("⭐⭐⭐⭐") or one of the faces below — is recorded by ``action_record_csat``
instead of being triaged. Anything else is a new message and is triaged as usual; the question
stays open until it expires, so a later "5" still counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from handoff.clock import as_utc, parse_iso

#: The slot that holds the open question.
CSAT_SLOT = "csat"
#: The action that records the answer.
CSAT_ACTION = "action_record_csat"
#: How long after the question an answer still counts.
CSAT_OPEN_FOR = timedelta(hours=48)

# Faces, from unhappy to happy; variation selectors are stripped before the lookup.
_FACES = {
    "😡": 1, "😠": 1, "🤬": 1, "😞": 2, "🙁": 2, "☹": 2, "😕": 2,
    "😐": 3, "😶": 3, "🙂": 4, "😊": 4, "👍": 4, "😀": 5, "😃": 5,
    "😄": 5, "😁": 5, "😍": 5, "🤩": 5, "🥰": 5, "❤": 5,
}  # fmt: skip
_STARS = {"⭐", "★", "🌟"}
# "4", "4/5", "4 / 5", "4 de 5", "4 out of 5", "5 stars", "nota 4", "voto 5", "un 4": a score
# alone, with at most a word or two around it and no other number.
_DIGIT = re.compile(
    r"^(?:(?:nota|voto|un|una|a|score|rating|puntuación|puntuacion)\s*:?\s*)?"
    r"([1-5])"
    r"(?:\s*(?:/|de|of|out of|su|sobre|em)\s*5)?"
    r"(?:\s*(?:stars?|estrelas?|estrellas?|stelle|stella|points?|pontos?|puntos?|punti))?"
    r"\s*[.!]*$",
    re.IGNORECASE,
)


def rating_of(text: str | None) -> int | None:
    """The score (1..5) a reply gives, or None when the reply is not only a score.

    Args:
        text: The customer's message.

    Returns:
        1..5, or None.
    """
    if not text:
        return None
    cleaned = "".join(
        ch for ch in unicodedata.normalize("NFC", text) if ch not in "\ufe0f\ufe0e\u200d"
    ).strip()
    if not cleaned:
        return None
    found = _DIGIT.match(cleaned)
    if found:
        return int(found.group(1))
    symbols = [ch for ch in cleaned if not ch.isspace()]
    if symbols and all(ch in _STARS for ch in symbols) and len(symbols) <= 5:
        return len(symbols)
    if len(symbols) == 1 and symbols[0] in _FACES:
        return _FACES[symbols[0]]
    return None


def open_question(slot: Any, now: datetime) -> Mapping[str, Any] | None:
    """The open question in a ``csat`` slot value, or None if there is none or it expired.

    Args:
        slot: The slot's value (a dict set by the desk, or None).
        now: The time of the customer's reply.
    """
    if not isinstance(slot, Mapping) or not slot.get("ticket"):
        return None
    try:
        asked = parse_iso(str(slot.get("asked_at")))
    except ValueError:
        return None
    if as_utc(now) - asked > CSAT_OPEN_FOR:
        return None
    return slot
