"""AtomicRedisLockStore on the real Redis at 127.0.0.1:6379: unique tickets under contention."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import AtomicRedisLockStore
from tests.redis import REDIS_HOST, REDIS_PORT, require_redis

REDIS_DB = 14  # a database of its own; keys carry a per-test prefix as well


@pytest.fixture
def store() -> Iterator[AtomicRedisLockStore]:
    require_redis()
    prefix = f"test{uuid.uuid4().hex[:10]}"
    config = EndpointConfig(url=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, key_prefix=prefix)
    lock_store = AtomicRedisLockStore(endpoint_config=config)
    yield lock_store
    for key in lock_store.red.scan_iter(f"{prefix}*"):
        lock_store.red.delete(key)


def test_tickets_issued_at_the_same_moment_are_all_different(store: AtomicRedisLockStore) -> None:
    # Rasa's RedisLockStore reads, changes and writes: threads racing like this got equal
    # tickets, so two servers handled one conversation at once.
    tickets: list[int] = []
    start = threading.Barrier(8)

    def take(count: int) -> None:
        start.wait()
        for _ in range(count):
            tickets.append(store.issue_ticket("customer"))

    threads = [threading.Thread(target=take, args=(25,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(tickets) == list(range(200))
    assert len(store.get_lock("customer").tickets) == 200


def test_release_keeps_the_lock_while_someone_waits(store: AtomicRedisLockStore) -> None:
    first, second = store.issue_ticket("c"), store.issue_ticket("c")
    assert store.get_lock("c").now_serving == first
    store.cleanup("c", first)
    lock = store.get_lock("c")
    assert lock is not None and lock.now_serving == second
    store.cleanup("c", second)
    assert store.get_lock("c") is None  # the last ticket takes the lock with it


def test_expired_tickets_are_removed(store: AtomicRedisLockStore) -> None:
    store.issue_ticket("c", lock_lifetime=-1)  # already expired
    live = store.issue_ticket("c")
    store.update_lock("c")
    assert [t.number for t in store.get_lock("c").tickets] == [live]


def test_messages_of_one_conversation_are_served_one_at_a_time(
    store: AtomicRedisLockStore,
) -> None:
    inside, most = 0, 0

    async def handle() -> None:
        nonlocal inside, most
        async with store.lock("c", wait_time_in_seconds=0.01):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    async def together() -> None:
        await asyncio.gather(*(handle() for _ in range(6)))

    asyncio.run(together())
    assert most == 1
    assert store.get_lock("c") is None


def test_a_held_ticket_outlives_its_lifetime_and_a_dead_holders_does_not(
    store: AtomicRedisLockStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live holder renews its ticket; one that died (never renews) frees the lock soon."""
    import time

    import bot.lock_store as lock_store

    monkeypatch.setattr(lock_store, "TICKET_SECONDS", 0.6)

    async def scenario() -> tuple[float, float]:
        order: list[str] = []

        async def holder() -> None:
            async with store.lock("ana", wait_time_in_seconds=0.05):
                order.append("first in")
                await asyncio.sleep(1.5)  # 2.5 lifetimes: only the renewals keep it
                order.append("first out")

        async def second() -> None:
            await asyncio.sleep(0.1)
            async with store.lock("ana", wait_time_in_seconds=0.05):
                order.append("second in")

        await asyncio.gather(holder(), second())
        assert order == ["first in", "first out", "second in"]
        # A server killed while holding a ticket: issued, never renewed, never released.
        store.issue_ticket("bea", 0.6)
        started = time.monotonic()
        async with store.lock("bea", wait_time_in_seconds=0.05):
            waited = time.monotonic() - started
        return waited, 0.6

    waited, lifetime = asyncio.run(scenario())
    assert 0.3 < waited < lifetime + 0.5
