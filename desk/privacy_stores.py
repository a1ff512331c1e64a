"""Where a customer's data lives, for export, erasure and retention (see :mod:`desk.privacy`).

Three databases at most: the tracker store's (Rasa's ``events`` and the turn log), the queue's
(tickets, transcripts, CSAT, incidents, the desk's tables) and the channels' inbox (the queue's
by default). :class:`Stores` opens them from the same settings as the servers: the queue's URL
(``$AFTERHOURS_DB_URL``), ``endpoints.yml``'s ``tracker_store`` and ``lock_store``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection, Engine

from bot import turn_log
from bot.channels.schema import channel_inbox
from handoff.models import Ticket

__all__ = [
    "ENDPOINTS_ENV",
    "EVENTS",
    "Customer",
    "PrivacyError",
    "Stores",
    "chunks",
    "default_endpoints",
    "find_conversations",
    "open_tracker",
    "other_channel_tables",
    "rows_of",
    "secure_delete",
]

logger = logging.getLogger(__name__)

#: Where the desk and the commands find endpoints.yml (as the desk's reports do).
ENDPOINTS_ENV = "AFTERHOURS_ENDPOINTS"
_CHECKOUT = Path(__file__).resolve().parent.parent
_CUSTOMER = re.compile(r"^([a-z][a-z0-9_]{0,31}):(\S.{0,253})$")

#: Rasa's SQLTrackerStore table (rasa.core.tracker_store.SQLTrackerStore.SQLEvent), read as Core.
EVENTS = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("sender_id", sa.String),
    sa.column("type_name", sa.String),
    sa.column("timestamp", sa.Float),
    sa.column("intent_name", sa.String),
    sa.column("action_name", sa.String),
    sa.column("data", sa.Text),
)


class PrivacyError(ValueError):
    """A privacy request cannot be carried out as asked (the message says why)."""


@dataclass(frozen=True)
class Customer:
    """A customer as a channel knows them: ``<channel>:<sender>``, Rasa's conversation id.

    X direct messages and public posts share the sender (the handle), so one customer is one
    conversation per channel; a Telegram user also writes in groups as ``<chat>/<user>``.
    """

    channel: str
    sender: str

    @property
    def conversation_id(self) -> str:
        """Rasa's sender id of the customer's conversation on this channel."""
        return f"{self.channel}:{self.sender}"

    @classmethod
    def parse(cls, text: str) -> Customer:
        """Reads ``CHANNEL:SENDER`` (``sms:+351912000003``, ``x:handle``, ``telegram:42``).

        Raises:
            PrivacyError: It is not of that form.
        """
        found = _CUSTOMER.match((text or "").strip())
        if not found:
            raise PrivacyError(
                "a customer is CHANNEL:SENDER, like sms:+351912000003, telegram:81234 or x:handle"
            )
        channel, sender = found.group(1), found.group(2).strip()
        if channel == "x":
            sender = sender.lstrip("@")
        if channel == "sms":  # as the connector stores it: E.164, no spaces or dashes
            sender = re.sub(r"[\s().-]", "", sender)
        return cls(channel, sender)


def default_endpoints() -> Path:
    """endpoints.yml: ``$AFTERHOURS_ENDPOINTS``, else ./endpoints.yml, else the checkout's."""
    given = os.environ.get(ENDPOINTS_ENV)
    if given:
        return Path(given)
    here = Path.cwd() / "endpoints.yml"
    return here if here.is_file() else _CHECKOUT / "endpoints.yml"


def open_tracker(endpoints: Path) -> Engine | None:
    """The tracker store's database (None: no SQL store, or its SQLite file does not exist)."""
    if not endpoints.is_file():
        return None
    try:
        url = sa.engine.make_url(turn_log.tracker_store_url(endpoints))
    except (ValueError, sa.exc.ArgumentError):
        return None
    if url.get_backend_name() == "sqlite" and (
        not url.database or not Path(url.database).is_file()
    ):
        return None  # nothing stored yet; not created by looking
    return sa.create_engine(url, future=True, pool_pre_ping=True)


def _lock_settings(endpoints: Path) -> dict[str, Any]:
    if not endpoints.is_file():
        return {}
    raw = yaml.safe_load(endpoints.read_text(encoding="utf-8")) or {}
    return dict(raw.get("lock_store") or {})


@dataclass
class Stores:
    """The databases holding customers' data.

    Attributes:
        queue: The queue's database (``handoff_*``, ``desk_*``).
        tracker: The tracker store's database (``events``, ``afterhours_turn_log``), if any.
        inbox: The channels' tables (``channel_*``); the queue's by default.
        endpoints: The endpoints file whose ``lock_store`` guards conversations (None: an
            in-memory lock of this process only).
    """

    queue: Engine
    tracker: Engine | None = None
    inbox: Engine | None = None
    endpoints: Path | None = None
    _tables: dict[int, set[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def open(
        cls, db_url: str | None = None, endpoints: Path | None = None, inbox_url: str | None = None
    ) -> Stores:
        """Opens the product's stores, migrating the queue's, desk's and channels' schemas.

        Args:
            db_url: The queue's database (default: ``$AFTERHOURS_DB_URL``, var/queue.db).
            endpoints: Rasa's endpoints file (default: :func:`default_endpoints`).
            inbox_url: The channels' database when it is not the queue's.
        """
        from bot.channels.inbox import migrate as migrate_channels
        from bot.settings import database_url
        from desk.db import migrate as migrate_desk
        from handoff.db import make_engine
        from handoff.db import migrate as migrate_queue

        queue = make_engine(db_url or database_url())
        migrate_queue(queue)
        migrate_desk(queue)
        inbox = None
        if inbox_url:
            inbox = make_engine(inbox_url)
        migrate_channels(inbox or queue)
        path = endpoints or default_endpoints()
        return cls(queue=queue, tracker=open_tracker(path), inbox=inbox, endpoints=path)

    @property
    def channels(self) -> Engine:
        """The engine of the channels' tables."""
        return self.inbox or self.queue

    def engines(self) -> list[Engine]:
        """Every distinct engine."""
        found = [self.queue, self.channels, self.tracker]
        unique: list[Engine] = []
        for engine in found:
            if engine is not None and all(engine is not e for e in unique):
                unique.append(engine)
        return unique

    def has(self, engine: Engine | None, table: str) -> bool:
        """Whether ``engine``'s database holds ``table`` (looked up once per engine)."""
        if engine is None:
            return False
        key = id(engine)
        if key not in self._tables:
            self._tables[key] = set(sa.inspect(engine).get_table_names())
        return table in self._tables[key]

    def reflect(self, engine: Engine, prefix: str, column: str) -> list[sa.Table]:
        """The tables named ``prefix*`` that have ``column`` (tables other features add)."""
        self.has(engine, prefix)  # fills the cache of the engine's table names
        tables = []
        for name in sorted(self._tables.get(id(engine), ())):
            if name.startswith(prefix):
                table = sa.Table(name, sa.MetaData(), autoload_with=engine)
                if column in table.c:
                    tables.append(table)
        return tables

    def lock_kind(self) -> str:
        """The lock store's type (``in_memory`` when none is configured)."""
        settings = _lock_settings(self.endpoints) if self.endpoints else {}
        return str(settings.get("type") or "in_memory")

    def dispose(self) -> None:
        """Closes every engine."""
        for engine in self.engines():
            engine.dispose()


@contextmanager
def secure_delete(engine: Engine, vacuum: bool = False) -> Iterator[Connection]:
    """A transaction whose deleted or overwritten rows leave no bytes in a SQLite file.

    SQLite keeps a deleted row's bytes in free pages until they are reused: with
    ``secure_delete`` it zeroes them. A WAL is checkpointed and truncated afterwards so that the
    old pages leave the ``-wal`` file too. ``vacuum`` also rebuilds the file, dropping the stale
    copies that earlier, ordinary updates of a row left in free space (an erasure asks for it).
    PostgreSQL's dead rows are reclaimed by (auto)vacuum.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        with connection.begin():
            if sqlite:  # a setting of the connection, not of the transaction
                connection.exec_driver_sql("PRAGMA secure_delete = ON")
            yield connection
        if sqlite:
            try:
                if vacuum:
                    connection.exec_driver_sql("VACUUM")
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except sa.exc.OperationalError as error:  # busy: the rows are gone all the same
                logger.warning("SQLite file not compacted after an erasure (%s)", error.orig)
            finally:
                connection.exec_driver_sql("PRAGMA secure_delete = OFF")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(column: Any, pattern: str) -> Any:
    return column.like(pattern, escape="\\")


def _lower_is(column: Any, value: str) -> Any:
    return sa.func.lower(column) == value


def find_conversations(stores: Stores, customers: Sequence[Customer]) -> list[str]:
    """The conversation ids of these customers in every store.

    Besides ``<channel>:<sender>``: a Telegram user's group conversations
    (``telegram:<chat>/<user>``) and an X handle written in another case, as found in the inbox,
    the tickets and the turn log.
    """
    found = {c.conversation_id for c in customers}
    probes: list[Callable[[Any], Any]] = []
    for customer in customers:
        if customer.channel == "telegram" and "/" not in customer.sender:
            pattern = f"telegram:%/{_like_escape(customer.sender)}"
            probes.append(partial(_like, pattern=pattern))
        if customer.channel == "x":
            probes.append(partial(_lower_is, value=customer.conversation_id.lower()))
    if not probes:
        return sorted(found)
    places = [
        (stores.channels, channel_inbox, "channel_inbox"),
        (stores.queue, Ticket.__table__, "handoff_tickets"),
        (stores.tracker, turn_log.TURN_LOG, turn_log.TURN_LOG.name),
    ]
    for engine, table, name in places:
        if engine is None or not stores.has(engine, name):
            continue
        column = table.c.conversation_id
        with engine.connect() as connection:
            for probe in probes:
                found.update(
                    connection.execute(sa.select(column).where(probe(column)).distinct()).scalars()
                )
    return sorted(found)


def other_channel_tables(stores: Stores) -> list[sa.Table]:
    """The channels' tables other features add whose rows name a conversation.

    Like ``channel_private_links`` (a group conversation's move to a private chat, ``used_by``
    that chat): handled by their columns, whatever else they hold.
    """
    known = {channel_inbox.name}
    tables = stores.reflect(stores.channels, "channel_", "conversation_id")
    return [t for t in tables if t.name not in known]


def rows_of(table: sa.Table, ids: Sequence[str], customers: Sequence[Customer]) -> Any:
    """The condition picking a customer's rows of such a table (by conversation, or by user)."""
    picks: list[Any] = [table.c.conversation_id.in_(list(ids))]
    if "used_by" in table.c and "channel" in table.c:
        picks += [
            sa.and_(table.c.channel == c.channel, table.c.used_by == c.sender) for c in customers
        ]
    return sa.or_(*picks)


def chunks(values: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
    """``values`` in lists of at most ``size`` (keeps IN lists short on every database)."""
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
