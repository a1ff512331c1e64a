"""Alembic environment of the desk's tables (version table `desk_alembic_version`).

`desk.db.migrate` passes an open connection; the ``alembic`` command line uses
``sqlalchemy.url`` or ``DESK_DATABASE_URL``.
"""

from alembic import context

from desk.db import VERSION_TABLE
from desk.models import Base
from handoff.db import run_alembic_env

run_alembic_env(context, Base.metadata, VERSION_TABLE, "DESK_DATABASE_URL")
