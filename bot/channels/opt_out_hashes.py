"""Erased customers' SMS opt-outs, kept only as keyed hashes of their numbers.

Erasing a customer (desk/privacy.py) removes their number everywhere; a STOP they sent must still
be honoured. The number is kept as an HMAC-SHA256 under a secret that lives outside the database
(``$AFTERHOURS_PRIVACY_KEY``): the table alone cannot be turned back into numbers, yet the SMS
connector, which knows the number of a new message, can recompute the hash and find the opt-out.
The key must stay set and unchanged wherever the SMS connector runs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

from sqlalchemy import delete, exists, func, select
from sqlalchemy.engine import Connection

from bot.channels.schema import channel_opt_out_hashes

__all__ = ["PRIVACY_KEY_ENV", "forget", "is_opted_out", "opt_out_hash"]

logger = logging.getLogger(__name__)

#: The secret of the keyed hashes.
PRIVACY_KEY_ENV = "AFTERHOURS_PRIVACY_KEY"
_warned: set[str] = set()


def opt_out_hash(sender: str, key: str | None = None) -> str | None:
    """The keyed hash under which an erased customer's opt-out is kept (HMAC-SHA256, hex).

    Args:
        sender: The sender as the channel knows them (an E.164 number).
        key: The secret; defaults to ``$AFTERHOURS_PRIVACY_KEY``.

    Returns:
        The hash, or None when there is no key.
    """
    secret = key if key is not None else os.environ.get(PRIVACY_KEY_ENV, "")
    if not secret:
        return None
    return hmac.new(secret.encode("utf-8"), sender.encode("utf-8"), hashlib.sha256).hexdigest()


def is_opted_out(connection: Connection, channel: str, sender: str) -> bool:
    """Whether an erased customer with this number had opted out of ``channel``.

    Without a key the hashes cannot be checked: said once per channel and process in the log
    (an error, when hashed opt-outs exist), and False.
    """
    digest = opt_out_hash(sender)
    if digest is None:
        if channel not in _warned:
            _warned.add(channel)
            stored = connection.execute(
                select(func.count()).where(channel_opt_out_hashes.c.channel == channel)
            ).scalar()
            if stored:
                logger.error(
                    "%d erased customers' %s opt-outs are kept as keyed hashes but %s is not "
                    "set: they cannot be honoured",
                    stored,
                    channel,
                    PRIVACY_KEY_ENV,
                )
        return False
    found = connection.execute(
        select(
            exists().where(
                channel_opt_out_hashes.c.channel == channel,
                channel_opt_out_hashes.c.sender_hash == digest,
            )
        )
    ).scalar()
    return bool(found)


def forget(connection: Connection, channel: str, sender: str) -> None:
    """Drops the hashed opt-out of ``sender``: their own row decides from now on."""
    digest = opt_out_hash(sender)
    if digest is not None:
        connection.execute(
            delete(channel_opt_out_hashes).where(
                channel_opt_out_hashes.c.channel == channel,
                channel_opt_out_hashes.c.sender_hash == digest,
            )
        )
