"""Which desk team takes a handoff, from the intent or topic it is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["GENERAL", "department_for"]

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
