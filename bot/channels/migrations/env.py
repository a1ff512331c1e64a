"""Alembic environment of the channels' inbox (version table `channels_alembic_version`).

`bot.channels.inbox.migrate` passes an open connection; the ``alembic`` command line uses
``sqlalchemy.url`` or ``CHANNELS_DATABASE_URL``.
"""

from alembic import context

from bot.channels.inbox import VERSION_TABLE
from bot.channels.schema import metadata
from handoff.db import run_alembic_env

run_alembic_env(context, metadata, VERSION_TABLE, "CHANNELS_DATABASE_URL")
