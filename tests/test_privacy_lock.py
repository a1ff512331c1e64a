"""The erasure takes the conversation's lock in the scaled set-up's Redis lock store, and waits."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from pathlib import Path

import pytest
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import AtomicRedisLockStore
from desk.privacy import PRIVACY_KEY_ENV, PrivacyError, erase
from tests.privacy_support import CUSTOMERS, PHONE, build, scan
from tests.redis import REDIS_HOST, REDIS_PORT, require_redis

REDIS_DB = 14


def test_the_erasure_waits_for_a_turn_holding_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_redis()
    monkeypatch.setenv(PRIVACY_KEY_ENV, "a-long-random-secret-for-the-tests")
    prefix = f"test{uuid.uuid4().hex[:10]}"
    tracker = tmp_path / "trackers.db"
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: bot.tracker_store.LeanSQLTrackerStore\n  dialect: sqlite\n"
        f"  db: {tracker}\nlock_store:\n  type: bot.lock_store.AtomicRedisLockStore\n"
        f"  url: {REDIS_HOST}\n  port: {REDIS_PORT}\n  db: {REDIS_DB}\n  key_prefix: {prefix}\n",
        encoding="utf-8",
    )
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    built = build(f"sqlite:///{tmp_path / 'queue.db'}", f"sqlite:///{tracker}", endpoints, at, None)
    # A Rasa server handling one of the customer's messages holds the conversation's lock.
    server = AtomicRedisLockStore(
        EndpointConfig(url=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, key_prefix=prefix)
    )
    held, released = threading.Event(), []

    def turn() -> None:
        async def handle() -> None:
            async with server.lock(f"sms:{PHONE}", lock_lifetime=30):
                held.set()
                await asyncio.sleep(1.5)
                released.append(time.monotonic())

        asyncio.run(handle())

    thread = threading.Thread(target=turn)
    thread.start()
    try:
        assert held.wait(5)
        done = erase(built.stores, CUSTOMERS, "dpo", settle=0)
        finished = time.monotonic()
    finally:
        thread.join()
        for key in server.red.scan_iter(f"{prefix}*"):
            server.red.delete(key)
        built.stores.dispose()
    assert released and finished >= released[0]  # it waited for the turn to end
    assert done.lock == "bot.lock_store.AtomicRedisLockStore" and done.late == {}
    assert scan(built.stores) == []


def test_a_lock_store_out_of_reach_erases_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRIVACY_KEY_ENV, "a-long-random-secret-for-the-tests")
    tracker = tmp_path / "trackers.db"
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: bot.tracker_store.LeanSQLTrackerStore\n  dialect: sqlite\n"
        f"  db: {tracker}\nlock_store:\n  type: bot.lock_store.AtomicRedisLockStore\n"
        "  url: 127.0.0.1\n  port: 1\n  db: 14\n  socket_timeout: 1\n",
        encoding="utf-8",
    )
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    built = build(f"sqlite:///{tmp_path / 'queue.db'}", f"sqlite:///{tracker}", endpoints, at, None)
    try:
        with pytest.raises(PrivacyError, match="nothing was erased"):
            erase(built.stores, CUSTOMERS, "dpo", settle=0)
        assert len({n for _, n in scan(built.stores)}) > 5  # all still there
    finally:
        built.stores.dispose()
