"""Schema migrations of the desk's tables, in the queue's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from handoff.db import make_engine

__all__ = ["MIGRATIONS_DIR", "VERSION_TABLE", "migrate"]

#: The desk's Alembic scripts, shipped inside the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The desk's own version table: the queue keeps ``handoff_alembic_version`` in the same database.
VERSION_TABLE = "desk_alembic_version"
# Serialises concurrent `migrate` calls on one PostgreSQL (a different key from the queue's).
_PG_MIGRATION_LOCK_KEY = 0x6465736B  # "desk"


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config  # imported late: only migrations need Alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def migrate(url_or_engine: str | Engine) -> None:
    """Bring the desk's tables to the newest migration (``alembic upgrade head``).

    Safe to call at every start-up; on PostgreSQL concurrent callers wait for each other.

    Args:
        url_or_engine: A database URL or an engine.
    """
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
                )
            command.upgrade(_alembic_config(connection), "head")
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()
