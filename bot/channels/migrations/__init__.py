"""Alembic scripts of the channels' inbox (a package so that they ship with the wheel)."""
