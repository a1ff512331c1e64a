"""The desk's data: accounts and sign-in, sessions, the audit log, canned answers, labels, notices.

Passwords are hashed with Argon2id (argon2-cffi). Sessions are server-side rows keyed by the
SHA-256 of a random token that only the browser's cookie holds, each with its own CSRF token.
Every method runs in its own short transaction and returns detached objects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from desk.lockout import (
    LOCKOUT_AFTER,
    LOCKOUT_FOR,
    clear_on_success,
    lock_if_spent,
    reserve_attempt,
)
from desk.models import (
    ROLES,
    Agent,
    AuditEvent,
    CannedAnswer,
    DeskSession,
    Notice,
    TrainingExample,
)
from handoff.clock import as_utc, utc_now
from handoff.db import session_factory

__all__ = [
    "LOCKOUT_AFTER",
    "LOCKOUT_FOR",
    "SESSION_IDLE",
    "SESSION_MAX",
    "REVIEWS",
    "AccountError",
    "DeskStore",
    "SignIn",
    "SignedIn",
]

#: A session ends after this long without a request ...
SESSION_IDLE = dt.timedelta(hours=2)
#: ... and after this long in any case (one working day).
SESSION_MAX = dt.timedelta(hours=12)
# Refresh a session's last-seen time at most this often (saves a write per request).
_TOUCH_EVERY = dt.timedelta(minutes=1)
#: A labelled example's review states (:attr:`TrainingExample.review`).
REVIEWS = ("pending", "accepted", "excluded")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """An account cannot be created or changed as asked."""


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: ``ok``, ``bad`` (unknown or wrong) or ``locked``."""

    outcome: str
    agent: Agent | None = None


@dataclass(frozen=True)
class SignedIn:
    """A live session: who is signed in and the CSRF token their forms must carry."""

    agent: Agent
    csrf_token: str


def token_hash(token: str) -> str:
    """The stored form of a session token (a leaked table does not give live sessions away)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class DeskStore:
    """The desk's tables on one database.

    Args:
        engine: The queue's engine; the desk's schema must be migrated (:func:`desk.db.migrate`).
        hasher: The Argon2 hasher; argon2-cffi's defaults (RFC 9106 low-memory) unless given.
    """

    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self._sessions = session_factory(engine)
        self._dummy: str | None = None

    @property
    def _dummy_hash(self) -> str:
        # Verified against when the user does not exist, so both cases cost the same time.
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- accounts -----------------------------------------------------------------------------

    def create_agent(
        self,
        username: str,
        password: str,
        role: str = "agent",
        display_name: str | None = None,
        now: dt.datetime | None = None,
    ) -> Agent:
        """Create an account.

        Args:
            username: Lower-case letters, digits, ``.``, ``_``, ``-`` (2..63 characters).
            password: At least :data:`MIN_PASSWORD_LENGTH` characters.
            role: ``agent``, ``supervisor`` or ``trainer``.
            display_name: The name shown on the desk; the username by default.
            now: Creation time (aware); now by default.

        Returns:
            The new account.

        Raises:
            AccountError: A bad username, role or password, or the username is taken.
        """
        if not _USERNAME.match(username or ""):
            raise AccountError(
                "username: 2..63 lower-case letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        agent = Agent(
            username=username,
            display_name=(display_name or username).strip()[:128] or username,
            role=role,
            password_hash=self.hasher.hash(password),
            active=True,
            failed_logins=0,
            locked_until=None,
            created_at=as_utc(now, "now"),
        )
        try:
            with self._transaction() as session:
                session.add(agent)
        except IntegrityError as error:
            raise AccountError(f"username {username!r} is taken") from error
        return agent

    def set_password(self, username: str, password: str) -> None:
        """Replace an account's password and end its sessions; unlocks it too.

        Raises:
            AccountError: No such account, or the password is too short.
        """
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        with self._transaction() as session:
            agent = session.execute(
                select(Agent).where(Agent.username == username)
            ).scalar_one_or_none()
            if agent is None:
                raise AccountError(f"no account {username!r}")
            agent.password_hash = self.hasher.hash(password)
            agent.failed_logins = 0
            agent.locked_until = None
            session.execute(delete(DeskSession).where(DeskSession.agent_id == agent.id))

    def agent(self, username: str) -> Agent | None:
        """Return an account by username, or None."""
        with self._transaction() as session:
            return session.execute(
                select(Agent).where(Agent.username == username)
            ).scalar_one_or_none()

    def agents(self, roles: Sequence[str] = ROLES) -> list[Agent]:
        """Active accounts with one of ``roles``, by username."""
        with self._transaction() as session:
            return list(
                session.execute(
                    select(Agent)
                    .where(Agent.role.in_(tuple(roles)), Agent.active.is_(True))
                    .order_by(Agent.username)
                ).scalars()
            )

    def authenticate(self, username: str, password: str, now: dt.datetime | None = None) -> SignIn:
        """Check a sign-in; count failures and lock the account after :data:`LOCKOUT_AFTER`.

        A locked account is refused even with the right password until the lock ends. Guesses
        made at once count like guesses made one after another, across desk processes: before
        its password is checked, an attempt takes one of the account's :data:`LOCKOUT_AFTER`
        slots in the database (:mod:`desk.lockout`), so at most that many checks are ever
        in flight or failed before the account locks. A slot is given back only by a success;
        a check that never finishes (a killed process) counts as a failure. When a check fails
        and every slot is taken, the account locks, so a right password still in flight then is
        refused: with guesses in parallel the lock errs on the side of the account.

        Args:
            username: As typed.
            password: As typed.
            now: The time (aware); now by default.

        Returns:
            ``SignIn("ok", agent)``, ``SignIn("bad")`` or ``SignIn("locked")``.
        """
        at = as_utc(now, "now")
        with self._transaction() as session:
            agent_id = session.execute(
                select(Agent.id).where(
                    Agent.username == (username or "").strip().lower(), Agent.active.is_(True)
                )
            ).scalar_one_or_none()
        if agent_id is None:
            self._verify(self._dummy_hash, password)
            return SignIn("bad")
        with self._transaction() as session:
            reserved = reserve_attempt(session, agent_id, at)
        if reserved is None:
            return SignIn("locked")
        slot, stored = reserved
        # The Argon2 check runs outside any transaction: it must not hold a database lock.
        if not self._verify(stored, password):
            with self._transaction() as session:
                locked = lock_if_spent(session, agent_id, at)
            return SignIn("locked" if locked else "bad")
        with self._transaction() as session:
            agent = clear_on_success(session, agent_id, slot, at)
            if agent is None:
                return SignIn("locked")
            if self.hasher.check_needs_rehash(agent.password_hash):
                agent.password_hash = self.hasher.hash(password)
            return SignIn("ok", agent)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(stored, password or ""))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # -- sessions -----------------------------------------------------------------------------

    def start_session(self, agent: Agent, now: dt.datetime | None = None) -> tuple[str, str]:
        """Open a session for a signed-in agent.

        Returns:
            ``(token, csrf_token)``: the token goes in the cookie and is never stored.
        """
        at = as_utc(now, "now")
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with self._transaction() as session:
            # Sign-in is a good moment to forget sessions that ended.
            session.execute(delete(DeskSession).where(DeskSession.expires_at < at))
            session.add(
                DeskSession(
                    token_hash=token_hash(token),
                    agent_id=agent.id,
                    csrf_token=csrf,
                    created_at=at,
                    last_seen_at=at,
                    expires_at=at + SESSION_MAX,
                )
            )
        return token, csrf

    def session_for(self, token: str | None, now: dt.datetime | None = None) -> SignedIn | None:
        """Return who a session token belongs to, or None if it is unknown, idle or expired."""
        if not token:
            return None
        at = as_utc(now, "now")
        key = token_hash(token)
        with self._transaction() as session:
            row = session.get(DeskSession, key)
            if row is None:
                return None
            if row.expires_at <= at or row.last_seen_at + SESSION_IDLE <= at:
                session.delete(row)
                return None
            agent = session.get(Agent, row.agent_id)
            if agent is None or not agent.active:
                return None
            if at - row.last_seen_at >= _TOUCH_EVERY:
                row.last_seen_at = at
            return SignedIn(agent=agent, csrf_token=row.csrf_token)

    def end_session(self, token: str | None) -> None:
        """Sign out: forget the session."""
        if token:
            with self._transaction() as session:
                session.execute(
                    delete(DeskSession).where(DeskSession.token_hash == token_hash(token))
                )

    # -- audit --------------------------------------------------------------------------------

    def audit(
        self,
        username: str,
        action: str,
        ticket_id: int | None = None,
        detail: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> AuditEvent:
        """Write one line of the audit log."""
        event = AuditEvent(
            at=as_utc(now, "now"),
            username=username,
            action=action,
            ticket_id=ticket_id,
            detail=dict(detail or {}),
        )
        with self._transaction() as session:
            session.add(event)
        return event

    def audit_log(
        self, *, ticket_id: int | None = None, action: str | None = None, limit: int = 200
    ) -> list[AuditEvent]:
        """The newest audit lines first, optionally of one ticket or one action."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if ticket_id is not None:
            query = query.where(AuditEvent.ticket_id == ticket_id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        with self._transaction() as session:
            return list(session.execute(query).scalars())

    # -- canned answers -----------------------------------------------------------------------

    def canned_answers(self, language: str | None = None, query: str = "") -> list[CannedAnswer]:
        """Canned answers, by language then title; ``query`` searches titles and bodies."""
        statement = select(CannedAnswer).order_by(CannedAnswer.language, CannedAnswer.title)
        if language:
            statement = statement.where(CannedAnswer.language == language)
        words = (query or "").strip().lower().split()
        with self._transaction() as session:
            answers = list(session.execute(statement).scalars())
        if words:
            answers = [a for a in answers if all(w in f"{a.title} {a.body}".lower() for w in words)]
        return answers

    def save_canned(
        self,
        *,
        language: str,
        title: str,
        body: str,
        by: str,
        answer_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> CannedAnswer:
        """Create a canned answer, or update one when ``answer_id`` is given.

        Raises:
            AccountError: empty title or body, or no such answer.
        """
        title, body, language = (
            (title or "").strip(),
            (body or "").strip(),
            (language or "").strip(),
        )
        if not title or not body or not language:
            raise AccountError("a canned answer needs a language, a title and a text")
        with self._transaction() as session:
            if answer_id is None:
                answer = CannedAnswer(language=language, title=title[:128], body=body)
                session.add(answer)
            else:
                found = session.get(CannedAnswer, answer_id)
                if found is None:
                    raise AccountError(f"no canned answer {answer_id}")
                answer = found
                answer.language, answer.title, answer.body = language, title[:128], body
            answer.updated_at = as_utc(now, "now")
            answer.updated_by = by
        return answer

    def delete_canned(self, answer_id: int) -> bool:
        """Delete a canned answer; True if it existed."""
        with self._transaction() as session:
            result = session.execute(delete(CannedAnswer).where(CannedAnswer.id == answer_id))
            return bool(result.rowcount)

    def seed_canned(self, entries: Iterable[dict[str, str]], by: str = "seed") -> int:
        """Add the shipped canned answers when there are none yet; returns how many were added."""
        with self._transaction() as session:
            if session.execute(select(func.count(CannedAnswer.id))).scalar_one():
                return 0
            at = utc_now()
            rows = [
                CannedAnswer(
                    language=e["language"],
                    title=e["title"],
                    body=e["body"].strip(),
                    updated_at=at,
                    updated_by=by,
                )
                for e in entries
            ]
            session.add_all(rows)
            return len(rows)

    # -- labels for trainers ------------------------------------------------------------------

    def store_labels(
        self,
        ticket_id: int,
        *,
        intent: str,
        proposed: bool,
        language: str,
        texts: Sequence[str],
        by: str,
        now: dt.datetime | None = None,
        review: str = "pending",
    ) -> int:
        """Keep a resolved case's customer messages with the intent the agent chose.

        ``review="accepted"`` when a trainer labels them (their label needs no second review).

        Returns:
            How many examples were stored.
        """
        at = as_utc(now, "now")
        reviewed = review != "pending"
        rows = [
            TrainingExample(
                ticket_id=ticket_id,
                intent=intent,
                proposed=proposed,
                language=language,
                text=text,
                labelled_by=by,
                labelled_at=at,
                review=review,
                reviewed_by=by if reviewed else None,
                reviewed_at=at if reviewed else None,
            )
            for text in texts
            if text.strip()
        ]
        with self._transaction() as session:
            session.add_all(rows)
        return len(rows)

    def labels(
        self,
        *,
        ticket_id: int | None = None,
        since: dt.datetime | None = None,
        reviews: Sequence[str] | None = None,
    ) -> list[TrainingExample]:
        """Labelled examples, oldest first; ``reviews`` keeps those in these review states."""
        query = select(TrainingExample).order_by(TrainingExample.id)
        if ticket_id is not None:
            query = query.where(TrainingExample.ticket_id == ticket_id)
        if since is not None:
            query = query.where(TrainingExample.labelled_at >= as_utc(since, "since"))
        if reviews is not None:
            query = query.where(TrainingExample.review.in_(tuple(reviews)))
        with self._transaction() as session:
            return list(session.execute(query).scalars())

    def review_label(
        self,
        example_id: int,
        review: str,
        *,
        by: str,
        intent: str | None = None,
        now: dt.datetime | None = None,
    ) -> TrainingExample | None:
        """Accept or exclude one example, under ``intent`` when given; None if there is none.

        Raises:
            AccountError: ``review`` is not ``pending``, ``accepted`` or ``excluded``.
        """
        if review not in REVIEWS:
            raise AccountError(f"review must be one of {', '.join(REVIEWS)}")
        with self._transaction() as session:
            example = session.get(TrainingExample, example_id)
            if example is not None:
                example.review, example.reviewed_by, example.reviewed_at = (
                    review,
                    by,
                    as_utc(now, "now"),
                )
                if intent is not None:
                    # The agent's label stays as it was: the edit is the trainer's word on top.
                    example.reviewed_intent = None if intent == example.intent else intent
            return example

    # -- notices ------------------------------------------------------------------------------

    def post_notice(
        self,
        kind: str,
        text: str,
        payload: dict[str, Any] | None = None,
        ticket_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> Notice:
        """Post a digest or a reminder on the desk."""
        notice = Notice(
            at=as_utc(now, "now"),
            kind=kind,
            ticket_id=ticket_id,
            text=text,
            payload=dict(payload or {}),
        )
        with self._transaction() as session:
            session.add(notice)
        return notice

    def notices(self, limit: int = 10, kind: str | None = None) -> list[Notice]:
        """The newest notices first."""
        query = select(Notice).order_by(Notice.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(Notice.kind == kind)
        with self._transaction() as session:
            return list(session.execute(query).scalars())

    def reminded(self, ticket_ids: Sequence[int]) -> set[int]:
        """Which of these tickets already had a reminder."""
        if not ticket_ids:
            return set()
        found: set[int] = set()
        with self._transaction() as session:
            ids = list(ticket_ids)
            for start in range(0, len(ids), 500):  # keep IN lists short
                found.update(
                    session.execute(
                        select(Notice.ticket_id).where(
                            Notice.kind == "reminder",
                            Notice.ticket_id.in_(ids[start : start + 500]),
                        )
                    ).scalars()
                )
        return {i for i in found if i is not None}

    def unlock(self, username: str) -> bool:
        """Lift a lock-out; True if the account exists."""
        with self._transaction() as session:
            result = session.execute(
                update(Agent)
                .where(or_(Agent.username == username))
                .values(failed_logins=0, locked_until=None)
            )
            return bool(result.rowcount)
