"""Schema migrations of the desk's tables, in the queue's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from handoff.db import upgrade

__all__ = ["MIGRATIONS_DIR", "VERSION_TABLE", "migrate"]

#: The desk's Alembic scripts, shipped inside the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The desk's own version table: the queue keeps ``handoff_alembic_version`` in the same database.
VERSION_TABLE = "desk_alembic_version"
# Serialises concurrent `migrate` calls on one PostgreSQL (a different key from the queue's).
_PG_MIGRATION_LOCK_KEY = 0x6465736B  # "desk"


def migrate(url_or_engine: str | Engine) -> None:
    """Bring the desk's tables to the newest migration (its own Alembic tree and version table).

    Args:
        url_or_engine: A database URL or an engine.
    """
    upgrade(url_or_engine, MIGRATIONS_DIR, _PG_MIGRATION_LOCK_KEY)
