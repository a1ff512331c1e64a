"""Which desk team takes a handoff, from the intent or topic it is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["GENERAL", "department_for", "department_of"]

#: The department of anything no team claims.
GENERAL = "general"


def department_for(topic_or_intent: str | None, mapping: Mapping[str, Sequence[str]]) -> str:
    """Return the department whose intent list holds ``topic_or_intent``, else ``"general"``.

    Args:
        topic_or_intent: An intent such as ``"account_request"`` or ``"faq/bill_due_date"``.
        mapping: brand.yml's ``departments``: department name → intents. When an intent is
            listed twice, the first department wins.

    Returns:
        The department name.
    """
    if not topic_or_intent:
        return GENERAL
    wanted = topic_or_intent.strip()
    for department, intents in mapping.items():
        # A bare string in YAML (`billing: faq/x`) would otherwise match by substring.
        listed = [intents] if isinstance(intents, str) else list(intents or ())
        if wanted in listed:
            return str(department)
    return GENERAL


def department_of(triage: Mapping[str, Any], mapping: Mapping[str, Sequence[str]]) -> str:
    """Return the department of a decision (the `triage` slot), from its topic first.

    A handoff has a topic even when the bot does not answer: the FAQ topic it would have answered
    (`suggested_topic`), else the FAQ topic the message is clearly about (`about`, set by
    bot.triage even for a complaint or personal data). A card number sent about a bill goes to
    billing, an angry message about the internet to technical; only then does the intent decide
    (`account_request` is billing), and what no team claims is general.

    Args:
        triage: The `triage` slot's value (bot.triage.Triage.as_slot).
        mapping: brand.yml's ``departments``.

    Returns:
        The department name.
    """
    for key in ("suggested_topic", "about", "intent"):
        value = triage.get(key)
        department = department_for(value if isinstance(value, str) else None, mapping)
        if department != GENERAL:
            return department
    return GENERAL
