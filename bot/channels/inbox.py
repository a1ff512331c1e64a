"""The channels' inbox: every inbound message recorded before it is acknowledged.

A connector records what the platform delivered (keyed by the platform's own id, so a retried or
replayed delivery is recognised and dropped), acknowledges, then processes it and marks it done or
failed. Entries recorded but never finished (the server died, the model was not loaded yet, a reply
could not be sent) are handed out again by :meth:`Inbox.pending` and :meth:`Inbox.claim`: every
message is processed at least once. A claim is a lease — whoever starts an attempt stamps
``attempted_at`` — so several servers sharing one database never redeliver the same entry together.

The inbox also keeps the connectors' cursors (the newest id seen by a poller, a long-polling
offset) and the SMS opt-outs. It lives in the queue's database (``bot.settings.database_url()``),
with its own Alembic migrations and version table. Plain SQLAlchemy: no Rasa import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, and_, case, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.channels import opt_out_hashes
from bot.channels.schema import (
    channel_cursors,
    channel_inbox,
    channel_opt_outs,
    channel_workers,
    metadata,
)
from bot.channels.workers import ReplyLedger, Workers
from bot.inbound import Inbound
from handoff.clock import naive_is_utc
from handoff.db import make_engine, upgrade

__all__ = [
    "DEFAULT_MAX_ERRORS",
    "DONE",
    "FAILED",
    "MIGRATIONS_DIR",
    "RECEIVED",
    "VERSION_TABLE",
    "Inbox",
    "InboxEntry",
    "metadata",
    "migrate",
]

RECEIVED, DONE, FAILED = "received", "done", "failed"
STATUSES = (RECEIVED, DONE, FAILED)

#: The Alembic scripts of the inbox (shipped inside the package).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Alembic's version table for the inbox: the queue's database also holds the handoff schema.
VERSION_TABLE = "channels_alembic_version"
# Serialises concurrent migrations of several servers on one PostgreSQL ("chan").
_PG_MIGRATION_LOCK_KEY = 0x6368616E
#: After this many failures of the bot itself an entry is no longer redelivered (it stays,
#: failed, for a person). A server the bot depends on being down does not count.
DEFAULT_MAX_ERRORS = 5
#: A process that has not beaten for this long is gone: its attempts are taken over.
DEFAULT_STALE_AFTER = dt.timedelta(seconds=15)

UTC = dt.timezone.utc


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return None if value is None else naive_is_utc(value)


@dataclass(frozen=True)
class InboxEntry:
    """One recorded delivery.

    Attributes:
        id: The entry's id.
        channel: "telegram", "sms", "x", ...
        platform_id: The platform's own id of the delivery (update id, message SID, tweet id).
        conversation_id: Rasa's sender id, ``<channel>:<sender>``.
        inbound: The message as the connector handed it to Rasa.
        payload: What the platform delivered (the connector's raw payload).
        received_at: When it was recorded.
        status: "received", "done" or "failed".
        attempts: How many times processing started.
        attempted_at: When the latest attempt started (the lease).
        error: Why the latest attempt failed, or a note on a done entry.
        processed_at: When it was marked done.
        errors: Failures of the bot itself so far (see :meth:`Inbox.mark_failed`).
        retry_at: When a failed entry may be tried again (None: when its lease lapses).
    """

    id: int
    channel: str
    platform_id: str
    conversation_id: str
    inbound: Inbound
    payload: dict[str, Any]
    received_at: dt.datetime
    status: str
    attempts: int
    attempted_at: dt.datetime
    error: str | None
    processed_at: dt.datetime | None
    errors: int = 0
    retry_at: dt.datetime | None = None


def _entry(row: Any) -> InboxEntry:
    stored = row.payload or {}
    return InboxEntry(
        id=row.id,
        channel=row.channel,
        platform_id=row.platform_id,
        conversation_id=row.conversation_id,
        inbound=Inbound.from_dict(stored["inbound"]),
        payload=stored.get("raw") or {},
        received_at=_aware(row.received_at) or dt.datetime.now(UTC),
        status=row.status,
        attempts=row.attempts,
        attempted_at=_aware(row.attempted_at) or dt.datetime.now(UTC),
        error=row.error,
        processed_at=_aware(row.processed_at),
        errors=int(row.errors or 0),
        retry_at=_aware(row.retry_at),
    )


def migrate(url_or_engine: str | Engine) -> None:
    """Bring the inbox's schema to the newest migration (its own Alembic tree and version table).

    Args:
        url_or_engine: A database URL or an engine.
    """
    upgrade(url_or_engine, MIGRATIONS_DIR, _PG_MIGRATION_LOCK_KEY)


_migrate_schema = migrate  # `Inbox.from_url` has a parameter named `migrate`


def _insert_ignoring_duplicate(connection: Connection, values: dict[str, Any]) -> int | None:
    """INSERT the entry; None when (channel, platform_id) is already there."""
    dialect = connection.dialect.name
    keys = [channel_inbox.c.channel, channel_inbox.c.platform_id]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = (
            pg_insert(channel_inbox)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(channel_inbox.c.id)
        )
        found = connection.execute(statement).scalar()
        return int(found) if found is not None else None
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        result = connection.execute(
            sqlite_insert(channel_inbox)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
        )
        return int(result.inserted_primary_key[0]) if result.rowcount == 1 else None
    try:  # any other database: let the unique constraint decide
        with connection.begin_nested():
            result = connection.execute(insert(channel_inbox).values(**values))
    except IntegrityError:
        return None
    return int(result.inserted_primary_key[0])


def _upsert(connection: Connection, table: Table, keys: list[str], values: dict[str, Any]) -> None:
    dialect = connection.dialect.name
    changed = {k: v for k, v in values.items() if k not in keys}
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(table).values(**values)
        connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=changed))
        return
    where = [table.c[k] == values[k] for k in keys]
    if connection.execute(update(table).where(*where).values(**changed)).rowcount == 0:
        connection.execute(insert(table).values(**values))


class Inbox:
    """The inbox, cursors and opt-outs of the channel connectors.

    Every method runs in its own short transaction. The methods block (SQLAlchemy is
    synchronous): async code calls them through ``asyncio.to_thread``.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        """Wraps an engine whose schema is migrated.

        Args:
            engine: The database.
            clock: Returns the current aware time (tests pass a fixed one).
        """
        self.engine = engine
        self._clock = clock or (lambda: dt.datetime.now(UTC))
        self.stale_after = DEFAULT_STALE_AFTER
        self.workers = Workers(engine, self._now)
        self.replies = ReplyLedger(engine, self._now)

    @classmethod
    def from_url(cls, url: str, migrate: bool = True) -> Inbox:
        """Opens the inbox on the database at ``url``.

        Args:
            url: A SQLAlchemy URL (the queue's: ``bot.settings.database_url()``).
            migrate: Bring the schema up to date first.

        Returns:
            The inbox.
        """
        engine = make_engine(url)
        if migrate:
            _migrate_schema(engine)
        return cls(engine)

    def _now(self) -> dt.datetime:
        return naive_is_utc(self._clock())

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # -- the inbox ---------------------------------------------------------------------------

    def record(
        self,
        channel: str,
        platform_id: str,
        inbound: Inbound,
        payload: dict[str, Any],
        owner: str | None = None,
    ) -> int | None:
        """Records a delivery before it is acknowledged; the first attempt starts now.

        Args:
            channel: The connector's channel ("telegram", "sms", "x").
            platform_id: The platform's id of the delivery (unique per channel).
            inbound: The message as it will be handed to Rasa.
            payload: What the platform delivered (JSON-serialisable).
            owner: The process that will process it (see :mod:`bot.channels.workers`); its
                death frees the entry at once. None: only the lease frees it.

        Returns:
            The new entry's id, or None when this platform id was recorded before (a
            duplicate, a replay or a platform retry): the caller drops it.
        """
        now = self._now()
        values = {
            "channel": channel,
            "platform_id": str(platform_id),
            "conversation_id": inbound.conversation_id,
            "payload": {"inbound": inbound.to_dict(), "raw": payload},
            "received_at": now,
            "status": RECEIVED,
            "attempts": 1,
            "attempted_at": now,
            "error": None,
            "processed_at": None,
            "owner": owner,
            "retry_at": None,
            "errors": 0,
        }
        with self._transaction() as connection:
            return _insert_ignoring_duplicate(connection, values)

    def mark_done(self, entry_id: int, note: str | None = None) -> None:
        """Marks an entry processed.

        Args:
            entry_id: The entry.
            note: Why it finished without a reply, if so (kept in ``error`` for people to read).
        """
        with self._transaction() as connection:
            connection.execute(
                update(channel_inbox)
                .where(channel_inbox.c.id == entry_id)
                .values(status=DONE, processed_at=self._now(), error=note, owner=None)
            )

    def mark_failed(
        self,
        entry_id: int,
        error: str,
        *,
        retry_in: float | None = None,
        transient: bool = False,
        ran: bool = True,
    ) -> None:
        """Marks an attempt failed; the entry is redelivered later (see :meth:`pending`).

        Args:
            entry_id: The entry.
            error: Why (never a secret: an exception's type and message).
            retry_in: Seconds until it may be tried again; None waits for the lease.
            transient: A server the bot depends on failed (the action server, the tracker store,
                the platform), not the bot itself: it does not count towards ``max_errors``.
            ran: False when the attempt was given back without running (the connector knew
                its dependencies were down): it does not count as an attempt either.
        """
        values: dict[str, Any] = {
            "status": FAILED,
            "error": error[:2000],
            "owner": None,
            "retry_at": self._now() + dt.timedelta(seconds=retry_in) if retry_in else None,
        }
        if not transient:
            values["errors"] = channel_inbox.c.errors + 1
        if not ran:
            values["attempts"] = channel_inbox.c.attempts - 1
        with self._transaction() as connection:
            connection.execute(
                update(channel_inbox)
                .where(channel_inbox.c.id == entry_id, channel_inbox.c.status != DONE)
                .values(**values)
            )

    def _takeable(self, older_than: dt.timedelta, max_attempts: int | None, max_errors: int) -> Any:
        """The condition an entry must meet to be taken for a new attempt, at this moment.

        Failed entries once their retry time has come; entries still "received" once their
        attempt is abandoned: its lease ran out, or the process that held it stopped beating.
        """
        now = self._now()
        cutoff = now - older_than
        live = select(channel_workers.c.owner).where(
            channel_workers.c.heartbeat_at > now - self.stale_after
        )
        lapsed = channel_inbox.c.attempted_at <= cutoff
        abandoned = and_(
            channel_inbox.c.status == RECEIVED,
            or_(
                lapsed,
                and_(channel_inbox.c.owner.isnot(None), channel_inbox.c.owner.notin_(live)),
            ),
        )
        due = and_(
            channel_inbox.c.status == FAILED,
            or_(
                and_(channel_inbox.c.retry_at.is_(None), lapsed),
                channel_inbox.c.retry_at <= now,
            ),
        )
        conditions = [or_(abandoned, due), channel_inbox.c.errors < max_errors]
        if max_attempts is not None:
            conditions.append(channel_inbox.c.attempts < max_attempts)
        return and_(*conditions)

    def pending(
        self,
        older_than: dt.timedelta,
        *,
        channel: str | None = None,
        limit: int | None = 500,
        max_attempts: int | None = None,
        max_errors: int = DEFAULT_MAX_ERRORS,
    ) -> list[InboxEntry]:
        """Entries not done that may be taken for a new attempt now (see :meth:`_takeable`).

        Args:
            older_than: How long an attempt may run before it counts as abandoned (the lease;
                an attempt whose process stopped beating is abandoned sooner).
            channel: Only this channel's entries.
            limit: At most this many, oldest first (None: all).
            max_attempts: Entries tried this often are left alone (None: no such limit).
            max_errors: Entries that failed this often by the bot's own fault are left alone
                (they wait for a person); a server being down is not the bot's fault.

        Returns:
            The entries, oldest first. Take each with :meth:`claim` before processing it.
        """
        query = (
            select(channel_inbox)
            .where(channel_inbox.c.status != DONE)
            .where(self._takeable(older_than, max_attempts, max_errors))
            .order_by(channel_inbox.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        if channel is not None:
            query = query.where(channel_inbox.c.channel == channel)
        with self._transaction() as connection:
            return [_entry(row) for row in connection.execute(query)]

    def claim(
        self,
        entry_id: int,
        older_than: dt.timedelta,
        owner: str | None = None,
        *,
        max_errors: int = DEFAULT_MAX_ERRORS,
    ) -> bool:
        """Starts a new attempt on a pending entry, unless someone else just did.

        Taking over an abandoned attempt counts as an error of the bot: a message that kills
        the server every time is tried ``max_errors`` times, not for ever.

        Args:
            entry_id: The entry.
            older_than: The same lease as given to :meth:`pending`.
            owner: The process taking it (see :meth:`record`).
            max_errors: As for :meth:`pending`.

        Returns:
            True when this caller now owns the attempt.
        """
        now = self._now()
        abandoned = case((channel_inbox.c.status == RECEIVED, 1), else_=0)
        with self._transaction() as connection:
            result = connection.execute(
                update(channel_inbox)
                .where(
                    channel_inbox.c.id == entry_id,
                    channel_inbox.c.status != DONE,
                    self._takeable(older_than, None, max_errors),
                )
                .values(
                    status=RECEIVED,
                    attempts=channel_inbox.c.attempts + 1,
                    errors=channel_inbox.c.errors + abandoned,
                    attempted_at=now,
                    owner=owner,
                    retry_at=None,
                )
            )
            return result.rowcount == 1

    def renew(self, entry_ids: list[int]) -> int:
        """Renews the leases of entries still being worked on (``attempted_at`` = now).

        Args:
            entry_ids: The entries this process holds (queued or running).

        Returns:
            How many were renewed (done ones are not).
        """
        if not entry_ids:
            return 0
        with self._transaction() as connection:
            result = connection.execute(
                update(channel_inbox)
                .where(channel_inbox.c.id.in_(entry_ids), channel_inbox.c.status != DONE)
                .values(attempted_at=self._now())
            )
            return int(result.rowcount)

    def get(self, entry_id: int) -> InboxEntry | None:
        """One entry, or None."""
        with self._transaction() as connection:
            row = connection.execute(
                select(channel_inbox).where(channel_inbox.c.id == entry_id)
            ).first()
        return _entry(row) if row is not None else None

    def find(self, channel: str, platform_id: str) -> InboxEntry | None:
        """The entry of a platform id, or None."""
        with self._transaction() as connection:
            row = connection.execute(
                select(channel_inbox).where(
                    channel_inbox.c.channel == channel,
                    channel_inbox.c.platform_id == str(platform_id),
                )
            ).first()
        return _entry(row) if row is not None else None

    def counts(self, channel: str | None = None) -> dict[str, int]:
        """How many entries are in each status (every status present, zero if none)."""
        query = select(channel_inbox.c.status, func.count()).group_by(channel_inbox.c.status)
        if channel is not None:
            query = query.where(channel_inbox.c.channel == channel)
        with self._transaction() as connection:
            found = {status: int(n) for status, n in connection.execute(query)}
        return {status: found.get(status, 0) for status in STATUSES}

    # -- cursors -----------------------------------------------------------------------------

    def get_cursor(self, name: str) -> str | None:
        """A connector's saved position (e.g. "telegram:offset"), or None."""
        with self._transaction() as connection:
            return connection.execute(
                select(channel_cursors.c.value).where(channel_cursors.c.name == name)
            ).scalar()

    def set_cursor(self, name: str, value: str) -> None:
        """Saves a connector's position."""
        with self._transaction() as connection:
            _upsert(
                connection,
                channel_cursors,
                ["name"],
                {"name": name, "value": str(value), "updated_at": self._now()},
            )

    # -- opt-outs ----------------------------------------------------------------------------

    def opted_out(self, channel: str, sender: str) -> bool:
        """Whether ``sender`` opted out of ``channel`` (and has not opted back in)."""
        with self._transaction() as connection:
            value = connection.execute(
                select(channel_opt_outs.c.opted_out).where(
                    channel_opt_outs.c.channel == channel, channel_opt_outs.c.sender == sender
                )
            ).scalar()
            if value is None:  # an erased customer's opt-out is kept as a keyed hash only
                return opt_out_hashes.is_opted_out(connection, channel, sender)
        return bool(value)

    def set_opt_out(
        self,
        channel: str,
        sender: str,
        opted_out: bool,
        at: dt.datetime,
        keyword: str | None = None,
    ) -> None:
        """Records that a sender opted out (STOP) or back in (START), and when.

        Args:
            channel: The channel ("sms").
            sender: The sender as the channel knows them (an E.164 number).
            opted_out: True to stop everything to them, False to allow it again.
            at: When they asked.
            keyword: The word they sent, for the record.
        """
        with self._transaction() as connection:
            _upsert(
                connection,
                channel_opt_outs,
                ["channel", "sender"],
                {
                    "channel": channel,
                    "sender": sender,
                    "opted_out": opted_out,
                    "keyword": keyword,
                    "changed_at": naive_is_utc(at),
                },
            )
            opt_out_hashes.forget(connection, channel, sender)  # this row decides from now on

    def dispose(self) -> None:
        """Closes the database connections."""
        self.engine.dispose()
