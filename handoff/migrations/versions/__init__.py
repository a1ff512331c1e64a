"""Alembic revisions of the handoff queue."""
