"""The canned answers shipped for the demo brand: added when the desk has none, refreshed later.

A desk started before the shipped set changed keeps the old texts unless they are refreshed:
:func:`seed_canned` replaces the answers nobody edited (``updated_by == "seed"``) with the
shipped ones when they differ, and never touches an answer a supervisor wrote or edited (nor adds
a shipped one under the same language and title).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml
from sqlalchemy import delete, select

from desk.models import CannedAnswer
from desk.store import DeskStore
from handoff.db import session_factory

__all__ = ["CANNED_ENV", "SEED_BY", "SEED_FILE", "load_canned", "seed_canned"]

#: A YAML file of canned answers to start with (``[{language, title, body}, ...]``).
CANNED_ENV = "AFTERHOURS_DESK_CANNED"
SEED_FILE = Path(__file__).resolve().parent / "canned.yml"
#: The ``updated_by`` of an answer as shipped (nobody has edited it).
SEED_BY = "seed"


def load_canned(path: Path | None = None) -> list[dict[str, str]]:
    """The shipped canned answers.

    Args:
        path: The YAML file; $AFTERHOURS_DESK_CANNED or ``desk/canned.yml`` by default.

    Returns:
        ``{"language", "title", "body"}`` dictionaries; none when the file is missing.
    """
    source = path or Path(os.environ.get(CANNED_ENV) or SEED_FILE)
    if not source.is_file():
        return []
    entries = yaml.safe_load(source.read_text(encoding="utf-8")) or []
    return [
        {"language": str(e["language"]), "title": str(e["title"]), "body": str(e["body"]).strip()}
        for e in entries
    ]


def seed_canned(store: DeskStore, path: Path | None = None) -> int:
    """Add the shipped canned answers, or refresh the unedited ones when the shipped set changed.

    Args:
        store: The desk's store.
        path: The YAML file; $AFTERHOURS_DESK_CANNED or ``desk/canned.yml`` by default.

    Returns:
        How many answers were added (0 when the desk already has the shipped set).
    """
    entries = load_canned(path)
    if not entries:
        return 0
    added = store.seed_canned(entries, by=SEED_BY)
    if added:
        return added
    with session_factory(store.engine)() as session, session.begin():
        rows = list(session.execute(select(CannedAnswer)).scalars())
        edited = {(r.language, r.title) for r in rows if r.updated_by != SEED_BY}
        shipped = {(r.language, r.title, r.body) for r in rows if r.updated_by == SEED_BY}
        wanted = {
            (e["language"], e["title"], e["body"])
            for e in entries
            if (e["language"], e["title"]) not in edited
        }
        if shipped == wanted or not shipped:
            # Up to date, or every answer is a supervisor's now: theirs to keep.
            return 0
        session.execute(delete(CannedAnswer).where(CannedAnswer.updated_by == SEED_BY))
        at = dt.datetime.now(dt.timezone.utc)
        fresh = [
            CannedAnswer(**e, updated_at=at, updated_by=SEED_BY)
            for e in entries
            if (e["language"], e["title"]) not in edited
        ]
        session.add_all(fresh)
        return len(fresh)
