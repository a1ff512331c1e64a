"""Alembic scripts of the handoff queue (a package so that they ship with the wheel)."""
