"""The human handoff queue: tickets, transcripts, the desk's calendar, priority and departments.

Knows SQLAlchemy only, nothing of Rasa or channels. Import the module you need
(``handoff.queue``, ``handoff.calendar``, ...): this package itself imports nothing, so
``import handoff.calendar`` (used by the policy) does not load SQLAlchemy or Alembic.
"""
