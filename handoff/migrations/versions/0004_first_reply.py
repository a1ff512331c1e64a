"""Each ticket's first agent reply on the ticket itself, kept by the database, for the reports.

The reports need, per ticket opened in a range, when an agent first answered and who: looked up
in the transcript per ticket, that was most of a report's time. Two columns now hold them,
``first_reply_at`` (the earliest ``at`` of the ticket's ``agent`` lines) and ``first_replier``
(that line's ``metadata.agent``). Triggers keep them true whoever writes the transcript (the
desk's replies, incident posts, bulk inserts, erasure, retention): every insert, update or delete
of an ``agent`` line recomputes them from the transcript, so they cannot drift from it. The
upgrade back-fills them from the transcripts already there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The first agent line of ticket ``{ticket}``: earliest ``at``, then the earliest written.
_FIRST = (
    "SELECT e.at, {agent} FROM handoff_transcript_entries e "
    "WHERE e.ticket_id = {ticket} AND e.author = 'agent' ORDER BY e.at, e.id LIMIT 1"
)
_SQLITE_AGENT = """json_extract(e.metadata, '$."agent"')"""
_PG_AGENT = "(e.metadata ->> 'agent')"
_SET = "UPDATE handoff_tickets SET (first_reply_at, first_replier) = ({first}) WHERE id = {ticket}"
_SQLITE_TRIGGERS = {
    "insert": ("AFTER INSERT", "NEW.author = 'agent'", ["NEW"]),
    "delete": ("AFTER DELETE", "OLD.author = 'agent'", ["OLD"]),
    "update": (
        "AFTER UPDATE OF ticket_id, author, at, metadata",
        "OLD.author = 'agent' OR NEW.author = 'agent'",
        ["OLD", "NEW"],
    ),
}
_PG_FUNCTION = f"""
CREATE FUNCTION handoff_first_reply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.author = 'agent' THEN
        {
    _SET.format(
        first=_FIRST.format(agent=_PG_AGENT, ticket="OLD.ticket_id"), ticket="OLD.ticket_id"
    )
};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.author = 'agent' THEN
        {
    _SET.format(
        first=_FIRST.format(agent=_PG_AGENT, ticket="NEW.ticket_id"), ticket="NEW.ticket_id"
    )
};
    END IF;
    RETURN NULL;
END
$$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER handoff_first_reply AFTER INSERT OR DELETE "
    "OR UPDATE OF ticket_id, author, at, metadata ON handoff_transcript_entries "
    "FOR EACH ROW EXECUTE FUNCTION handoff_first_reply()"
)


def _sqlite_trigger(name: str, when: str, condition: str, rows: list[str]) -> str:
    body = "; ".join(
        _SET.format(
            first=_FIRST.format(agent=_SQLITE_AGENT, ticket=f"{row}.ticket_id"),
            ticket=f"{row}.ticket_id",
        )
        for row in rows
    )
    return (
        f"CREATE TRIGGER handoff_first_reply_{name} {when} ON handoff_transcript_entries "
        f"FOR EACH ROW WHEN {condition} BEGIN {body}; END"
    )


def upgrade() -> None:
    """Add the columns, back-fill them, and install the triggers that keep them."""
    # Plain ALTER TABLE on both databases (SQLite adds and drops columns in place since 3.35): a
    # batch copy of the table would drop the old one, and with it, by cascade, every transcript.
    op.add_column(
        "handoff_tickets", sa.Column("first_reply_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "handoff_tickets", sa.Column("first_replier", sa.String(length=128), nullable=True)
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    agent = _PG_AGENT if postgres else _SQLITE_AGENT
    op.execute(
        _SET.format(first=_FIRST.format(agent=agent, ticket="handoff_tickets.id"), ticket="id")
        + " AND EXISTS (SELECT 1 FROM handoff_transcript_entries a "
        "WHERE a.ticket_id = handoff_tickets.id AND a.author = 'agent')"
    )
    if postgres:
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        for name, (when, condition, rows) in _SQLITE_TRIGGERS.items():
            op.execute(_sqlite_trigger(name, when, condition, rows))


def downgrade() -> None:
    """Drop the triggers and the columns."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER handoff_first_reply ON handoff_transcript_entries")
        op.execute("DROP FUNCTION handoff_first_reply()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER handoff_first_reply_{name}")
    op.drop_column("handoff_tickets", "first_replier")
    op.drop_column("handoff_tickets", "first_reply_at")
