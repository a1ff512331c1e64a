"""Data files for the NLU signals, and the small helpers that read them.

One YAML per signal and language (`language.pt.yml`, `emotion.pt.yml`, ...): adding a language is
adding files here, not code. Words in the files are matched case- and accent-insensitively, so they
may be written with or without accents.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LEXICON_DIR = Path(__file__).resolve().parent

_SPACES = re.compile(r"\s+")


def strip_accents(text: str) -> str:
    """Remove accents ("Não" -> "Nao"), keeping case.

    Args:
        text: Any text.

    Returns:
        The text decomposed (NFKD) without its combining marks.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower-case `text` and strips its accents ("Não" -> "nao").

    Args:
        text: Any text.

    Returns:
        The case- and accent-folded text.
    """
    return strip_accents(text).casefold()


def fold_phrase(text: str) -> str:
    """Fold `text` and collapses its whitespace, for comparing whole short phrases."""
    return _SPACES.sub(" ", fold(text)).strip()


@lru_cache(maxsize=64)
def load_lexicon(name: str, directory: str | None = None) -> dict[str, Any]:
    """Read `<name>.yml` from the lexicon folder (cached per process).

    Args:
        name: The file's stem, e.g. "emotion.pt".
        directory: Another folder to read from (tests, a brand's own lexicons).

    Returns:
        The YAML mapping, or an empty dict when the file does not exist (a language without a
        lexicon simply gets no hints).

    Raises:
        ValueError: the file exists but is not a YAML mapping.
    """
    path = Path(directory) if directory else LEXICON_DIR
    path = path / f"{name}.yml"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a lexicon must be a YAML mapping")
    return data


def string_list(value: Any, where: str) -> list[str]:
    """Check that a lexicon entry is a list of strings and returns it.

    Args:
        value: The YAML value (None counts as an empty list).
        where: The entry's name, for the error message.

    Raises:
        ValueError: the value is not a list of strings.
    """
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"lexicon entry `{where}` must be a list of strings")
    return list(value)
