"""Alembic environment of the desk's tables.

`desk.db.migrate` passes an open connection in ``config.attributes["connection"]``; the
``alembic`` command line uses the ``DESK_DATABASE_URL`` environment variable instead.
"""

from __future__ import annotations

import os

from alembic import context

from desk.db import VERSION_TABLE
from desk.models import Base
from handoff.db import make_engine

config = context.config
target_metadata = Base.metadata


def _include(obj, name, type_, reflected, compare_to) -> bool:
    # The queue's tables share the database; they belong to handoff's migrations.
    return not (type_ == "table" and not str(name).startswith("desk_"))


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=_include,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("DESK_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set DESK_DATABASE_URL to migrate the desk's tables")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()
