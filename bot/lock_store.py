"""A Redis lock store whose ticket changes are atomic, for several Rasa servers or workers.

Rasa's lock store hands out numbered tickets per conversation, so that one server at a time
handles a customer's messages, in order. Open-source Rasa 3.6's `RedisLockStore` changes a lock by
reading it, changing it in Python and writing it back: two servers issuing a ticket at the same
moment both read "no tickets", both take ticket 0 and both go ahead. Then both save the tracker and
one of the customer's messages disappears from the conversation (tests/test_scaled_setup.py caught
exactly that with two workers). Here every change of a lock is one optimistic Redis transaction
(WATCH, MULTI, EXEC), retried when another server changed the lock in between.

A ticket also lives only :data:`TICKET_SECONDS` unless the server holding it, alive, renews it
(every third of that) for as long as it handles the message. Rasa's tickets live a fixed minute
(``TICKET_LOCK_LIFETIME``): a server killed while it held one kept the customer's conversation
locked for a minute, and another server took over its unfinished messages only then
(`afterhours bench faults --scaled`: 57 s from the restart to the last reply, before this).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: How long a ticket lives without its holder renewing it.
TICKET_SECONDS = 15.0
# A lock change returns the lock to keep (None deletes it) and what the caller wants to know.
Change = Callable[[TicketLock | None], tuple[TicketLock | None, T]]


class AtomicRedisLockStore(RedisLockStore):
    """`RedisLockStore` with atomic ticket issuing, expiry and release.

    Configured in endpoints.yml as `type: bot.lock_store.AtomicRedisLockStore` with the same keys
    as Rasa's `redis` lock store (`url`, `port`, `db`, `password`, `key_prefix`, ...).
    """

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        """Connects to the Redis that `endpoint_config` names (Rasa's custom-store signature)."""
        super().__init__(host=endpoint_config.url or "localhost", **endpoint_config.kwargs)

    def _change(self, conversation_id: str, change: Change[T]) -> T:
        """Applies `change` to the stored lock as one transaction, retrying on interference."""
        from redis.exceptions import WatchError

        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    stored = pipe.get(key)
                    lock = TicketLock.from_dict(_loads(stored)) if stored else None
                    kept, result = change(lock)
                    pipe.multi()
                    if kept is None or not kept.is_someone_waiting():
                        pipe.delete(key)
                    else:
                        pipe.set(key, kept.dumps())
                    pipe.execute()
                    return result
                except WatchError:
                    logger.debug("lock of %s changed meanwhile; retrying", conversation_id)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Rasa's lock, with a short-lived ticket that this server renews while it holds it."""
        lifetime = min(float(lock_lifetime), TICKET_SECONDS)
        ticket = self.issue_ticket(conversation_id, lifetime)
        keeper = asyncio.get_running_loop().create_task(
            self._keep(conversation_id, ticket, lifetime)
        )
        try:
            yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            keeper.cancel()
            self.cleanup(conversation_id, ticket)

    async def _keep(self, conversation_id: str, ticket: int, lifetime: float) -> None:
        """Renews a ticket every third of its lifetime until cancelled."""
        while True:
            await asyncio.sleep(lifetime / 3)
            try:
                self.renew(conversation_id, ticket, lifetime)
            except Exception:  # noqa: BLE001 - tried again at the next tick
                logger.warning("could not renew a lock ticket; trying again")

    def renew(self, conversation_id: str, ticket_number: int, lifetime: float) -> None:
        """Moves a ticket's expiry to ``lifetime`` seconds from now (if it still exists)."""

        def extend(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            for ticket in lock.tickets if lock is not None else ():
                if ticket.number == ticket_number:
                    ticket.expires = time.time() + lifetime
            return lock, None

        self._change(conversation_id, extend)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issues the next ticket of the conversation's lock, creating the lock if needed."""

        def issue(lock: TicketLock | None) -> tuple[TicketLock | None, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        return self._change(conversation_id, issue)

    def update_lock(self, conversation_id: str) -> None:
        """Removes the expired tickets of the conversation's lock."""

        def expire(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, expire)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Removes the ticket; the lock goes when no one else holds one."""

        def release(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, release)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Releases the ticket (in one transaction: no check-then-delete between servers)."""
        self.finish_serving(conversation_id, ticket_number)


def _loads(stored: Any) -> dict[str, Any]:
    import json

    return dict(json.loads(stored))
