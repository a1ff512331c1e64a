"""Alembic environment of the channels' inbox (version table `channels_alembic_version`).

`bot.channels.inbox.migrate` passes an open connection in ``config.attributes["connection"]``;
the ``alembic`` command line uses ``sqlalchemy.url`` or ``CHANNELS_DATABASE_URL`` instead.
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context

from bot.channels.inbox import VERSION_TABLE, metadata
from handoff.db import make_engine

config = context.config
target_metadata = metadata


def _url() -> str:
    url = os.environ.get("CHANNELS_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set CHANNELS_DATABASE_URL or sqlalchemy.url to migrate the inbox")
    return url


def _include_object(obj: Any, name: Any, type_: Any, reflected: bool, compare_to: Any) -> bool:
    # The database also holds the handoff queue: compare only the inbox's own tables.
    return type_ != "table" or name in target_metadata.tables


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=_include_object,
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
