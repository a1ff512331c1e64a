"""The intents an agent may resolve a case with: the domain's, with every FAQ topic spelled out."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml

__all__ = ["INTENT_NAME", "faq_topic", "known_intents", "valid_intent_name"]

#: A proposed intent's name: ``snake_case``, or ``group/snake_case`` like the FAQ topics.
INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,60}(/[a-z][a-z0-9_]{1,60})?$")
# Intents a case is never resolved with: they are what the bot ignores.
_NOT_FOR_CASES = frozenset({"faq"})


def valid_intent_name(name: str) -> bool:
    """Whether ``name`` may be used as a (proposed) intent name."""
    return bool(INTENT_NAME.match(name or ""))


def faq_topic(intent: str) -> str | None:
    """The FAQ topic an intent names (``faq/roaming`` -> ``roaming``), or None for other intents."""
    group, _, topic = (intent or "").partition("/")
    return (topic or None) if group == "faq" else None


def _yaml_files(root: Path) -> Iterable[Path]:
    yield root / "domain.yml"
    responses = root / "data" / "responses"
    if responses.is_dir():
        yield from sorted(responses.glob("*.yml"))


def known_intents(root: Path | None = None) -> list[str]:
    """The domain's intents, ``faq`` replaced by its topics (``faq/roaming`` ...), sorted.

    Args:
        root: The project folder (with ``domain.yml`` and ``data/responses``); the current folder
            by default.

    Returns:
        The intent names; empty when there is no domain.
    """
    base = root or Path.cwd()
    intents: set[str] = set()
    for path in _yaml_files(base):
        if not path.is_file():
            continue
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for intent in document.get("intents") or []:
            name = next(iter(intent)) if isinstance(intent, dict) else str(intent)
            if name not in _NOT_FOR_CASES:
                intents.add(name)
        for response in document.get("responses") or {}:
            if str(response).startswith("utter_faq/"):
                intents.add("faq/" + str(response).split("/", 1)[1])
    return sorted(intents)
