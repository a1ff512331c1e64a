"""Alembic environment of the handoff queue.

`handoff.db.migrate` passes an open connection in ``config.attributes["connection"]``; the
``alembic`` command line (``alembic -c handoff/alembic.ini ...``) uses ``sqlalchemy.url`` or the
``HANDOFF_DATABASE_URL`` environment variable instead.
"""

from __future__ import annotations

import os

from alembic import context

from handoff.db import VERSION_TABLE, make_engine
from handoff.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = os.environ.get("HANDOFF_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set HANDOFF_DATABASE_URL or sqlalchemy.url to migrate the queue")
    return url


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        # SQLite can only alter tables by copying them: let future migrations do that.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
