"""Engines, sessions and schema migrations for the queue's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "DatabaseUnavailable",
    "check_connection",
    "make_engine",
    "migrate",
    "session_factory",
]

#: The Alembic scripts shipped inside the package (so migrating works from an installed wheel).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Alembic's version table; named for the queue so it can share a database with the tracker store.
VERSION_TABLE = "handoff_alembic_version"
# Any constant: serialises concurrent `migrate` calls of several servers on one PostgreSQL.
_PG_MIGRATION_LOCK_KEY = 0x68616E64  # "hand"
# How long a SQLite writer waits for another one before giving up, in seconds.
_SQLITE_BUSY_TIMEOUT = 30
#: The databases the queue runs on (its SQL uses SQLite's and PostgreSQL's dialects only).
SUPPORTED_BACKENDS = ("postgresql", "sqlite")
#: How long the start-up check waits for a PostgreSQL server, in seconds.
CHECK_TIMEOUT_SECONDS = 5
_URL_FORMS = "postgresql://USER@HOST:PORT/DATABASE or sqlite:///PATH"
# libpq's wording of the failures an operator meets, and how the one-line error says them.
_PG_REASONS = (
    ("connection refused", "connection refused"),
    ("timeout expired", "timed out"),
    ("could not translate host name", "unknown host"),
    ("name or service not known", "unknown host"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
)
_PG_FATAL = re.compile(r"FATAL:\s+(.+)", re.DOTALL)
_PG_PREFIX = re.compile(r'^connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ failed:\s*')


class DatabaseUnavailable(Exception):
    """The database URL cannot be used; the message never contains the URL or its password."""


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Set up a SQLite connection: WAL lets readers run beside the writer; FKs cascade."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT * 1000}")
    finally:
        cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for the queue's database.

    SQLite gets WAL, foreign keys and a busy timeout on every connection and may be used from
    several threads; an in-memory SQLite database is shared by all threads (one connection).
    Other databases get ``pool_pre_ping`` so a restarted server does not break the first request.

    Args:
        url: A SQLAlchemy URL, e.g. ``sqlite:///queue.db`` or ``postgresql://user@host/db``.

    Returns:
        A 2.0-style (``future=True``) engine.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": _SQLITE_BUSY_TIMEOUT}
        }
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(parsed, future=True, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return create_engine(parsed, future=True, pool_pre_ping=True)


def check_connection(url: str, timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
    """Checks once, before anything starts, that the queue's database can be used.

    PostgreSQL is connected to (one connection, ``SELECT 1``); SQLite is looked at without
    creating anything: an existing file must be a SQLite database, a new one's folder must exist
    and be writable.

    Args:
        url: The SQLAlchemy URL.
        timeout: Seconds to wait for a PostgreSQL server.

    Raises:
        DatabaseUnavailable: In one line, e.g. ``cannot connect to PostgreSQL at
            127.0.0.1:5999 (connection refused)``: host and port named, never the password.
    """
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy's message would repeat the URL and its password
        raise DatabaseUnavailable(f"not a database URL (expected {_URL_FORMS})") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise DatabaseUnavailable(
            f"unsupported database {backend!r} (the queue runs on PostgreSQL or SQLite: "
            f"{_URL_FORMS})"
        )
    _check_driver(parsed)
    if backend == "sqlite":
        _check_sqlite(parsed.database)
    else:
        _check_postgresql(parsed, timeout)


def _check_driver(parsed: URL) -> None:
    driver = parsed.drivername
    try:
        dialect = parsed.get_dialect()
    except Exception:  # noqa: BLE001 - NoSuchModuleError and the like
        raise DatabaseUnavailable(f"unknown database driver {driver!r}") from None
    if getattr(dialect, "is_async", False):
        raise DatabaseUnavailable(f"{driver!r} is an asyncio driver; use {_URL_FORMS}")
    try:
        dialect.dbapi()
    except ImportError:
        raise DatabaseUnavailable(f"the driver of {driver!r} is not installed") from None


def _check_sqlite(database: str | None) -> None:
    if database in (None, "", ":memory:"):
        return
    path = Path(str(database))
    if path.exists():
        if not path.is_file():
            raise DatabaseUnavailable(f"SQLite database {path} is not a file")
        try:
            # Read-only: the check must not create or change anything.
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                connection.execute("PRAGMA schema_version").fetchone()
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise DatabaseUnavailable(f"cannot open SQLite database {path} ({error})") from None
        return
    folder = path.parent
    if not folder.is_dir():
        raise DatabaseUnavailable(f"the folder of SQLite database {path} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseUnavailable(f"cannot create SQLite database {path} (folder not writable)")


def _check_postgresql(parsed: URL, timeout: float) -> None:
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    connect_args: dict[str, Any] = {}
    if parsed.get_driver_name() == "psycopg2":
        connect_args["connect_timeout"] = max(1, int(timeout))
    engine = create_engine(parsed, future=True, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - every failure becomes one line
        reason = _pg_reason(str(getattr(error, "orig", None) or error), parsed.password)
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {where} ({reason})") from None
    finally:
        engine.dispose()


def _pg_reason(message: str, password: str | None) -> str:
    """The error of libpq in a few words: ``connection refused``, ``role "x" does not exist`` ..."""
    lowered = message.lower()
    for needle, reason in _PG_REASONS:
        if needle in lowered:
            return reason
    fatal = _PG_FATAL.search(message)
    found = fatal.group(1) if fatal else _PG_PREFIX.sub("", message.strip())
    reason = " ".join(found.split())[:200] or "unknown error"
    if password:
        reason = reason.replace(password, "***")
    return reason


def session_factory(engine: Engine) -> sessionmaker:
    """Return a session factory whose objects stay usable after commit and close.

    Args:
        engine: The queue's engine.

    Returns:
        A ``sessionmaker`` producing 2.0-style sessions with ``expire_on_commit=False``.
    """
    return sessionmaker(bind=engine, class_=Session, future=True, expire_on_commit=False)


def _alembic_config(connection: Any, migrations_dir: Path) -> Any:
    from alembic.config import Config  # imported late: only migrations need Alembic

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["connection"] = connection
    return config


def upgrade(url_or_engine: str | Engine, migrations_dir: Path, lock_key: int) -> None:
    """Bring one Alembic tree to its newest migration (``alembic upgrade head``).

    The queue, the channels' inbox and the desk each keep their own tree and version table in
    the same database; they share this runner. Safe to call at every start-up: on PostgreSQL,
    concurrent callers with the same `lock_key` wait for each other.

    Args:
        url_or_engine: A database URL or an engine.
        migrations_dir: The tree's folder (its env.py names the version table).
        lock_key: The PostgreSQL advisory lock that serialises this tree's upgrades.
    """
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Held until commit: two servers starting together must not both create tables.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
            command.upgrade(_alembic_config(connection, migrations_dir), "head")
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def migrate(url_or_engine: str | Engine) -> None:
    """Bring the queue's schema to the newest migration (see :func:`upgrade`).

    Args:
        url_or_engine: A database URL or an engine.
    """
    upgrade(url_or_engine, MIGRATIONS_DIR, _PG_MIGRATION_LOCK_KEY)


def run_alembic_env(context: Any, metadata: Any, version_table: str, url_env: str) -> None:
    """The body of an Alembic ``env.py``, shared by the queue's, the inbox's and the desk's trees.

    :func:`upgrade` passes an open connection in ``config.attributes["connection"]``; the
    ``alembic`` command line uses ``sqlalchemy.url`` or the environment variable `url_env`.
    Each tree compares and migrates only its own tables: they share one database.

    Args:
        context: ``alembic.context`` of the running env.py.
        metadata: The tree's SQLAlchemy metadata.
        version_table: The tree's own version table.
        url_env: The environment variable with the database URL for the command line.
    """
    config = context.config

    def own_tables_only(obj: Any, name: Any, type_: Any, reflected: bool, compare_to: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    def url() -> str:
        value = os.environ.get(url_env) or config.get_main_option("sqlalchemy.url")
        if not value:
            raise RuntimeError(f"set {url_env} or sqlalchemy.url to run these migrations")
        return str(value)

    def configure(connection: Any) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            include_object=own_tables_only,
            # SQLite can only alter tables by copying them: let future migrations do that.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )

    def run_on(connection: Any) -> None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():  # `alembic upgrade head --sql`: emit the SQL instead
        context.configure(
            url=url(), target_metadata=metadata, version_table=version_table, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = make_engine(url())
    try:
        with engine.begin() as new_connection:
            run_on(new_connection)
    finally:
        engine.dispose()
