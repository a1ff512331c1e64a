"""The sign-in lock-out, kept in the database so parallel guesses count like sequential ones.

An account has :data:`LOCKOUT_AFTER` attempt slots (``desk_agents.failed_logins`` counts the
taken ones). An attempt takes a slot *before* its password is checked, with a conditional
``UPDATE`` that PostgreSQL (row lock) and SQLite (write lock) serialise, so however many desk
processes and threads guess at once, at most :data:`LOCKOUT_AFTER` checks are in flight or
failed before the account locks for :data:`LOCKOUT_FOR`. A failed check keeps its slot; a
success gives back its own and the ones taken before it (failures "in a row" end there).

Each function runs inside the caller's transaction and must be its first statement there.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from desk.models import Agent

__all__ = ["LOCKOUT_AFTER", "LOCKOUT_FOR", "clear_on_success", "lock_if_spent", "reserve_attempt"]

#: Failed sign-ins in a row that lock an account ...
LOCKOUT_AFTER = 5
#: ... for this long.
LOCKOUT_FOR = dt.timedelta(minutes=15)


def _unlocked(at: dt.datetime) -> ColumnElement:
    return or_(Agent.locked_until.is_(None), Agent.locked_until <= at)


def _lock(session: Session, agent_id: int, at: dt.datetime) -> bool:
    """Lock the account if every slot is taken (and it is not locked yet); True if it did."""
    result = session.execute(
        update(Agent)
        .where(Agent.id == agent_id, Agent.failed_logins >= LOCKOUT_AFTER, _unlocked(at))
        # The count starts again from zero when the lock ends.
        .values(failed_logins=0, locked_until=at + LOCKOUT_FOR)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def reserve_attempt(session: Session, agent_id: int, at: dt.datetime) -> tuple[int, str] | None:
    """Take one of an account's attempt slots before checking its password.

    Concurrent callers wait on the row, and each re-checks the condition once it may write, so
    no more than :data:`LOCKOUT_AFTER` attempts ever hold slots. An attempt that finds every slot
    taken locks the account: that many checks have failed or are still in flight (or were cut
    short by a killed process, which counts as a failure).

    Args:
        session: A transaction of the caller's, with nothing done in it yet.
        agent_id: The account.
        at: The time of the attempt.

    Returns:
        ``(slot, password_hash)`` with the slot counted from 1, or None if the account is locked.
    """
    taken = session.execute(
        update(Agent)
        .where(
            Agent.id == agent_id,
            Agent.active.is_(True),
            Agent.failed_logins < LOCKOUT_AFTER,
            _unlocked(at),
        )
        .values(failed_logins=Agent.failed_logins + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        _lock(session, agent_id, at)
        return None
    # Read back under the same lock: the count is this attempt's place in line.
    slot, stored = session.execute(
        select(Agent.failed_logins, Agent.password_hash).where(Agent.id == agent_id)
    ).one()
    return int(slot), str(stored)


def lock_if_spent(session: Session, agent_id: int, at: dt.datetime) -> bool:
    """After a failed check, whose slot stays taken: lock if no slot is left. True if it did.

    A right password still in flight then is refused: in parallel the lock errs on the side of
    the account.
    """
    return _lock(session, agent_id, at)


def clear_on_success(session: Session, agent_id: int, slot: int, at: dt.datetime) -> Agent | None:
    """After a successful check: give back the slots up to this attempt's, unless it locked since.

    Attempts that took later slots and are still in flight stay counted.

    Args:
        session: A transaction of the caller's, with nothing done in it yet.
        agent_id: The account.
        slot: The slot :func:`reserve_attempt` gave this attempt.
        at: The time of the attempt.

    Returns:
        The account, loaded in `session`; None if it was locked meanwhile (or deactivated).
    """
    result = session.execute(
        update(Agent)
        .where(Agent.id == agent_id, Agent.active.is_(True), _unlocked(at))
        .values(
            failed_logins=case((Agent.failed_logins > slot, Agent.failed_logins - slot), else_=0),
            locked_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return session.get(Agent, agent_id, populate_existing=True)
