"""Alembic revisions of the channels' inbox."""
