"""Alembic environment of the handoff queue (version table `handoff_alembic_version`).

`handoff.db.migrate` passes an open connection; the ``alembic`` command line
(``alembic -c handoff/alembic.ini ...``) uses ``sqlalchemy.url`` or ``HANDOFF_DATABASE_URL``.
"""

from alembic import context

from handoff.db import VERSION_TABLE, run_alembic_env
from handoff.models import Base

run_alembic_env(context, Base.metadata, VERSION_TABLE, "HANDOFF_DATABASE_URL")
