"""A customer's data on request: export everything held about them, or erase it everywhere.

GDPR articles 15, 17 and 20 and Brazil's LGPD give a customer the right to see, take and erase
what the brand holds about them. Their words live in several stores (:mod:`desk.privacy_stores`):

- the tracker store: Rasa's ``events`` (messages, the bot's replies, the triage decisions) and
  the turn log (``afterhours_turn_log``: the conversation id, no text);
- the channels' tables: ``channel_inbox`` (each message as received), ``channel_replies``,
  ``channel_deliveries``, ``channel_opt_outs`` (SMS numbers);
- the queue: ``handoff_tickets``, ``handoff_transcript_entries``, ``handoff_csat`` and the
  incident tables (``handoff_incident*``, whose rows carry conversation ids);
- the desk: ``desk_notes``, ``desk_training_examples`` and ``desk_audit_log``.

:func:`export` gathers all of it into one JSON document. :func:`erase` removes it, under the
conversation's lock (Rasa's lock store from endpoints.yml), idempotently:

- events, inbox rows, their replies and deliveries, notes, labelled examples and incident rows
  are deleted;
- tickets are kept as anonymous husks so the supervisors' figures stay true: the conversation id
  and customer become a random ``erased:…`` token, the bot's suggested answer goes, every
  transcript line's text becomes ``[erased]`` (author and time stay, for reply times), an open
  ticket is closed; the CSAT score stays, attached to the anonymous ticket; the turn log's rows get
  the same token;
- audit entries stay, with any detail naming the customer replaced by ``[erased]``;
- an SMS opt-out becomes a keyed hash of the number (``channel_opt_out_hashes``) so it is still
  honoured; erasing an opted-out number without ``$AFTERHOURS_PRIVACY_KEY`` is refused.

The erasure's own audit entry says when, by whom, which stores and how many rows, and names the
customers only by keyed hashes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from bot.channels.opt_out_hashes import PRIVACY_KEY_ENV, opt_out_hash
from bot.channels.schema import channel_opt_outs
from desk.privacy_erase import ERASED, erase_once, erase_rows, erased_token
from desk.privacy_export import EXPORT_SCHEMA, INCIDENT_PREFIX, export, summary
from desk.privacy_stores import (
    Customer,
    PrivacyError,
    Stores,
    find_conversations,
)
from handoff.clock import utc_now

__all__ = [
    "ERASED",
    "EXPORT_SCHEMA",
    "INCIDENT_PREFIX",
    "PRIVACY_KEY_ENV",
    "Customer",
    "Erasure",
    "PrivacyError",
    "Stores",
    "audit_export",
    "erase",
    "erase_rows",
    "erased_token",
    "export",
    "find_conversations",
    "subject_hashes",
    "summary",
]

logger = logging.getLogger(__name__)

# With an in-memory lock store the running Rasa server's lock is not ours: a turn in flight may
# write its events after the first pass; the second pass, this much later, removes them.
SETTLE_SECONDS = 2.0


# -- erasure -----------------------------------------------------------------------------------


@dataclass
class Erasure:
    """What an erasure did.

    Attributes:
        conversations: How many conversations were erased.
        counts: Rows deleted or anonymised, per ``store.table``.
        late: Rows a turn in flight wrote during the first pass, removed by the second (an
            in-memory lock store only).
        lock: The lock store's type.
        subjects: Keyed hashes of the customers (empty without a key).
    """

    conversations: int
    counts: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)
    lock: str = "in_memory"
    subjects: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Rows changed in all."""
        return sum(self.counts.values()) + sum(self.late.values())


def subject_hashes(customers: Iterable[Customer], key: str | None = None) -> list[str]:
    """Keyed hashes of the customers' ids (the audit's only trace of who was erased)."""
    hashes = [opt_out_hash(c.conversation_id, key) for c in customers]
    return sorted(h[:16] for h in hashes if h)


def _check_opt_outs(stores: Stores, customers: Sequence[Customer]) -> None:
    if os.environ.get(PRIVACY_KEY_ENV) or not stores.has(stores.channels, channel_opt_outs.name):
        return
    with stores.channels.connect() as connection:
        for customer in customers:
            opted = connection.execute(
                sa.select(channel_opt_outs.c.opted_out).where(
                    channel_opt_outs.c.channel == customer.channel,
                    channel_opt_outs.c.sender == customer.sender,
                )
            ).scalar()
            if opted:
                raise PrivacyError(
                    f"{customer.channel}: this customer opted out; set {PRIVACY_KEY_ENV} (a long "
                    "random secret, the same wherever the channels run) so the opt-out is kept "
                    "as a keyed hash, then erase again"
                )


def erase(
    stores: Stores,
    customers: Sequence[Customer],
    by: str,
    *,
    now: dt.datetime | None = None,
    settle: float = SETTLE_SECONDS,
) -> Erasure:
    """Removes or irreversibly anonymises the customers everywhere, then audits it.

    Safe while the servers run: the conversations' locks are taken through Rasa's lock store
    (endpoints.yml ``lock_store``). A Redis lock store is shared with the Rasa servers, who then
    wait; the in-memory one is each process's own, so a turn in flight may still write after the
    first pass: a second pass ``settle`` seconds later removes what it wrote. Running it again
    changes nothing more (idempotent) but records the request.

    Args:
        stores: The databases.
        customers: The customer, once per channel.
        by: Who asked (the audit's user).
        now: The time of the erasure.
        settle: Seconds before the second pass (in-memory lock store only).

    Returns:
        What was done.

    Raises:
        PrivacyError: No customer, or an opted-out number and no ``$AFTERHOURS_PRIVACY_KEY``.
    """
    if not customers:
        raise PrivacyError("name at least one customer")
    _check_opt_outs(stores, customers)
    at = now or utc_now()
    ids = find_conversations(stores, customers)
    lock = stores.lock_kind()
    counts = _under_locks(stores, ids, lambda: erase_once(stores, customers, ids, at))
    late: dict[str, int] = {}
    if lock == "in_memory":
        if settle > 0:
            time.sleep(settle)
        late = {k: v for k, v in erase_once(stores, customers, ids, at).items() if v}
    done = Erasure(
        conversations=len(ids),
        counts=counts,
        late=late,
        lock=lock,
        subjects=subject_hashes(customers),
    )
    _audit(stores, by, done, at)
    logger.info(
        "privacy erasure: %d conversations, %d rows changed (lock store %s)",
        done.conversations,
        done.total,
        lock,
    )
    return done


def _under_locks(
    stores: Stores, ids: Sequence[str], work: Callable[[], dict[str, int]]
) -> dict[str, int]:
    """Runs ``work`` holding every conversation's lock from the configured lock store."""
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import read_endpoint_config

    config = (
        read_endpoint_config(str(stores.endpoints), "lock_store")
        if stores.endpoints and stores.endpoints.is_file()
        else None
    )
    try:
        lock_store = LockStore.create(config)
    except Exception as error:  # noqa: BLE001 - Redis down, a bad setting: say so, change nothing
        raise PrivacyError(
            f"the lock store ({stores.lock_kind()}) cannot be used ({type(error).__name__}): "
            "nothing was erased"
        ) from error

    async def locked() -> dict[str, int]:
        async with AsyncExitStack() as stack:
            for conversation in sorted(ids):  # one order everywhere: no deadlock between two
                try:
                    await stack.enter_async_context(
                        lock_store.lock(conversation, lock_lifetime=120, wait_time_in_seconds=0.1)
                    )
                except Exception as error:  # noqa: BLE001 - a lock not taken: change nothing
                    raise PrivacyError(
                        f"a conversation's lock could not be taken ({type(error).__name__}): "
                        "nothing was erased; try again"
                    ) from error
            return await asyncio.to_thread(work)

    return asyncio.run(locked())


def _audit(stores: Stores, by: str, done: Erasure, at: dt.datetime) -> None:
    from desk.store import DeskStore

    detail: dict[str, Any] = {
        "customers": len(done.subjects) or None,
        "subjects": done.subjects,
        "conversations": done.conversations,
        "rows": {k: v for k, v in done.counts.items() if v},
        "lock": done.lock,
    }
    if done.late:
        detail["written_during"] = done.late
    DeskStore(stores.queue).audit(by[:64], "privacy_erase", None, detail, now=at)


def audit_export(
    stores: Stores, by: str, customers: Sequence[Customer], document: dict[str, Any]
) -> None:
    """Writes the audit entry of an export (who, when, how much; the customer as keyed hashes)."""
    from desk.store import DeskStore

    parts = document["stores"]
    detail = {
        "subjects": subject_hashes(customers),
        "conversations": len(document["conversations"]),
        "messages": len(parts["tracker_store"]["messages"]),
        "tickets": len(parts["queue"]["tickets"]),
    }
    DeskStore(stores.queue).audit(by[:64], "privacy_export", None, detail)
