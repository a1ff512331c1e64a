"""The canned answers shipped for the demo brand, added when the desk has none."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from desk.store import DeskStore

__all__ = ["CANNED_ENV", "SEED_FILE", "seed_canned"]

#: A YAML file of canned answers to start with (``[{language, title, body}, ...]``).
CANNED_ENV = "AFTERHOURS_DESK_CANNED"
SEED_FILE = Path(__file__).resolve().parent / "canned.yml"


def seed_canned(store: DeskStore, path: Path | None = None) -> int:
    """Add the shipped canned answers if the desk has none yet.

    Args:
        store: The desk's store.
        path: The YAML file; $AFTERHOURS_DESK_CANNED or ``desk/canned.yml`` by default.

    Returns:
        How many answers were added (0 when there were some already).
    """
    source = path or Path(os.environ.get(CANNED_ENV) or SEED_FILE)
    if not source.is_file():
        return 0
    entries = yaml.safe_load(source.read_text(encoding="utf-8")) or []
    return store.seed_canned(
        [
            {"language": str(e["language"]), "title": str(e["title"]), "body": str(e["body"])}
            for e in entries
        ]
    )
