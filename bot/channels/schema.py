"""The channels' tables: inbox, reply ledger, workers, cursors, opt-outs (their own Alembic tree).

- ``channel_inbox``: every inbound message, recorded before it is acknowledged (see
  :mod:`bot.channels.inbox`);
- ``channel_replies``: which replies of an inbound message went out (entry id, reply index), so a
  message processed again after a crash never sends a reply twice;
- ``channel_workers``: the processes working on the inbox and their heartbeats, so the entries of
  a process that died are taken over in seconds rather than after their lease;
- ``channel_cursors`` and ``channel_opt_outs``: pollers' positions and SMS opt-outs;
- ``channel_opt_out_hashes``: the opt-outs of erased customers, as keyed hashes of their numbers
  only (see :mod:`desk.privacy`), still honoured by the SMS connector;
- ``channel_deliveries``: what became of each agent's answer the desk sent (see
  :mod:`bot.channels.deliveries`);
- ``channel_private_links``: the start tokens that let a customer leave a Telegram group for a
  private chat in the same conversation (see :mod:`bot.channels.private_links`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "channel_cursors",
    "channel_deliveries",
    "channel_inbox",
    "channel_opt_out_hashes",
    "channel_opt_outs",
    "channel_private_links",
    "channel_replies",
    "channel_workers",
    "metadata",
]

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

channel_inbox = Table(
    "channel_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("platform_id", String(255), nullable=False),
    Column("conversation_id", String(255), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("error", Text, nullable=True),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    # The process holding the current attempt (see channel_workers), and when a failed entry
    # may be tried again.
    Column("owner", String(128), nullable=True),
    Column("retry_at", DateTime(timezone=True), nullable=True),
    # Failures of the bot itself (not of a server it depends on): five and it waits for a person.
    Column("errors", Integer, nullable=False, server_default="0"),
    UniqueConstraint("channel", "platform_id", name="uq_channel_inbox_platform_id"),
    CheckConstraint("status IN ('received', 'done', 'failed')", name="status"),
)
Index("ix_channel_inbox_pending", channel_inbox.c.status, channel_inbox.c.attempted_at)
Index("ix_channel_inbox_conversation_id", channel_inbox.c.conversation_id)

channel_cursors = Table(
    "channel_cursors",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

channel_opt_outs = Table(
    "channel_opt_outs",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("sender", String(255), primary_key=True),
    Column("opted_out", Boolean, nullable=False),
    Column("keyword", String(64), nullable=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

channel_opt_out_hashes = Table(
    "channel_opt_out_hashes",
    metadata,
    Column("channel", String(32), primary_key=True),
    # HMAC-SHA256 of the sender with $AFTERHOURS_PRIVACY_KEY (bot.channels.inbox.opt_out_hash).
    Column("sender_hash", String(64), primary_key=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)


channel_replies = Table(
    "channel_replies",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

channel_workers = Table(
    "channel_workers",
    metadata,
    Column("owner", String(128), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    # The connectors this process serves, comma-separated ("sms,telegram"): the desk sends an
    # answer only on a channel some live process serves.
    Column("channels", Text, nullable=True),
)

channel_deliveries = Table(
    "channel_deliveries",
    metadata,
    # The desk's uuid, carried in the bot event's metadata as `delivery_id`.
    Column("delivery_id", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(32), nullable=True),
    # Short and without personal data: a platform's error class or code, never its wording.
    Column("detail", String(200), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("state IN ('delivered', 'failed', 'queued')", name="state"),
)

channel_private_links = Table(
    "channel_private_links",
    metadata,
    # Random, URL-safe, single use (a Telegram start parameter: at most 64 characters).
    Column("token", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    # The conversation the private chat joins, and its ticket when one was open.
    Column("conversation_id", String(255), nullable=False),
    Column("ticket_id", Integer, nullable=True),
    # The private line that could not be delivered: sent when the chat opens.
    Column("pending", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # The private chat that took the token, and when.
    Column("used_by", String(64), nullable=True),
    Column("used_at", DateTime(timezone=True), nullable=True),
)
Index("ix_channel_private_links_used_by", channel_private_links.c.used_by)
