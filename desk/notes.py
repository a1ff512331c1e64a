"""Internal notes on a case: written by agents for agents, never sent to the customer.

Kept beside the desk's store (table ``desk_notes``); the routes audit every note written.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from desk.models import Note
from desk.store import DeskStore
from handoff.db import session_factory

__all__ = ["MAX_NOTE", "add_note", "notes_of"]

#: The longest note an agent may write.
MAX_NOTE = 2000


def add_note(
    store: DeskStore, ticket_id: int, username: str, body: str, now: dt.datetime | None = None
) -> Note:
    """Write an internal note on a case.

    Args:
        store: The desk's store (its engine holds ``desk_notes``).
        ticket_id: The case.
        username: Who writes it.
        body: The note, 1 to :data:`MAX_NOTE` characters once trimmed.
        now: When (aware); now by default.

    Returns:
        The note.

    Raises:
        ValueError: The note is empty or too long.
    """
    text = body.strip()
    if not text or len(text) > MAX_NOTE:
        raise ValueError(f"A note has 1 to {MAX_NOTE} characters.")
    at = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    note = Note(ticket_id=ticket_id, at=at, username=username, body=text)
    with session_factory(store.engine)() as session, session.begin():
        session.add(note)
    return note


def notes_of(store: DeskStore, ticket_id: int, limit: int = 200) -> list[Note]:
    """A case's notes, oldest first.

    Args:
        store: The desk's store.
        ticket_id: The case.
        limit: At most this many (the newest ones).

    Returns:
        The notes.
    """
    query = select(Note).where(Note.ticket_id == ticket_id).order_by(Note.id.desc()).limit(limit)
    with session_factory(store.engine)() as session:
        found = list(session.execute(query).scalars())
    return found[::-1]
