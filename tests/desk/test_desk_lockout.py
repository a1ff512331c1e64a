"""The lock-out holds under parallel guesses: at most five passwords checked, then locked.

Forty sign-ins at once on one account, through the store with threads and through the real HTTP
app on loopback, on SQLite and on PostgreSQL. The hasher counts its verifications and takes as
long as a real Argon2 check, so the guesses really overlap.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher

from desk.app import Desk, create_app
from desk.db import migrate as migrate_desk
from desk.lockout import reserve_attempt
from desk.server import serve_in_thread
from desk.store import LOCKOUT_AFTER, LOCKOUT_FOR, DeskStore, SignIn
from handoff.db import make_engine
from tests.desk.conftest import PASSWORD, Client, FakeRasa, make_desk

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

PARALLEL = 40
UTC = dt.timezone.utc


class CountingHasher(PasswordHasher):
    """Cheap Argon2 parameters, but each check takes about as long as a real one, and is counted.

    Args:
        delay: Seconds added to each verification (argon2-cffi's defaults take ~50 ms here).
        gate: When given, every verification waits for it first (to hold a check in flight).
    """

    def __init__(self, delay: float = 0.05, gate: threading.Event | None = None) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.delay = delay
        self.gate = gate
        self.verifications = 0
        self._count = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Any:  # noqa: A002 - argon2's
        with self._count:
            self.verifications += 1
        if self.gate is not None:
            self.gate.wait(timeout=30)
        time.sleep(self.delay)
        return super().verify(hash, password)


@pytest.fixture
def store(any_db_url: str) -> Iterator[DeskStore]:
    """A desk store with the account ``ana`` on SQLite and PostgreSQL, counting verifications."""
    engine = make_engine(any_db_url)
    migrate_desk(engine)
    made = DeskStore(engine, hasher=CountingHasher())
    made.create_agent("ana", PASSWORD)
    try:
        yield made
    finally:
        engine.dispose()


def _at_once(attempt: Callable[[int], Any], count: int = PARALLEL) -> list[Any]:
    """Run ``attempt(i)`` for i in range(count) from `count` threads released together."""
    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait(timeout=30)
        try:
            return attempt(i)
        except Exception as error:  # reported as an outcome: the test shows what went wrong
            return error

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def _outcome(result: Any) -> str:
    if isinstance(result, SignIn):
        return result.outcome
    return str(result) if isinstance(result, int) else type(result).__name__


def _counts(results: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[_outcome(result)] = counts.get(_outcome(result), 0) + 1
    return counts


def test_forty_parallel_guesses_check_at_most_five_passwords(store: DeskStore) -> None:
    hasher: Any = store.hasher
    results = _at_once(lambda i: store.authenticate("ana", f"wrong guess {i}"))
    checked = hasher.verifications
    agent = store.agent("ana")
    # Then the right password five times among forty guesses at once, while locked.
    again = _at_once(lambda i: store.authenticate("ana", PASSWORD if i % 8 == 0 else f"w{i}"))
    granted = sum(1 for r in again if _outcome(r) == "ok")
    print(
        f"\n40 parallel wrong guesses: {checked} verifications, outcomes {_counts(results)}; "
        f"then 40 with 5 right: {granted} sessions, {hasher.verifications - checked} "
        f"verifications, outcomes {_counts(again)}"
    )
    assert checked <= LOCKOUT_AFTER, _counts(results)
    assert set(_counts(results)) <= {"bad", "locked"}, _counts(results)
    assert agent is not None and agent.locked_until is not None
    assert agent.locked_until > dt.datetime.now(UTC)
    # Locked: the right password opens nothing, and nothing more is checked.
    assert granted == 0 and _counts(again) == {"locked": PARALLEL}
    assert hasher.verifications == checked


def test_the_right_password_in_flight_when_the_account_locks_is_refused(store: DeskStore) -> None:
    gate = threading.Event()
    hasher = CountingHasher(delay=0, gate=gate)
    store.hasher = hasher
    with ThreadPoolExecutor(1) as pool:
        right = pool.submit(store.authenticate, "ana", PASSWORD)
        while hasher.verifications < 1:  # the right password holds a slot, its check pending
            time.sleep(0.005)
        hasher.gate = None
        try:
            outcomes = [store.authenticate("ana", f"wrong {i}").outcome for i in range(5)]
        finally:
            gate.set()
        # The four other slots fail; the last of them finds every slot spent and locks.
        assert outcomes == ["bad"] * (LOCKOUT_AFTER - 2) + ["locked", "locked"]
        assert right.result(timeout=30).outcome == "locked"
    assert hasher.verifications == LOCKOUT_AFTER


def test_sequential_sign_ins_keep_their_rules(store: DeskStore) -> None:
    t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    for _ in range(LOCKOUT_AFTER - 1):
        assert store.authenticate("ana", "wrong password", now=t0).outcome == "bad"
    # Success resets the count: five more wrong ones in a row are needed to lock.
    assert store.authenticate("ana", PASSWORD, now=t0).outcome == "ok"
    for _ in range(LOCKOUT_AFTER - 1):
        assert store.authenticate("ana", "wrong password", now=t0).outcome == "bad"
    assert store.authenticate("ana", "wrong password", now=t0).outcome == "locked"
    assert store.authenticate("ana", PASSWORD, now=t0).outcome == "locked"
    later = t0 + LOCKOUT_FOR - dt.timedelta(seconds=1)
    assert store.authenticate("ana", PASSWORD, now=later).outcome == "locked"
    assert store.authenticate("ana", PASSWORD, now=t0 + LOCKOUT_FOR).outcome == "ok"
    # After the lock, the count starts again from zero.
    after = t0 + LOCKOUT_FOR
    for _ in range(LOCKOUT_AFTER - 1):
        assert store.authenticate("ana", "wrong password", now=after).outcome == "bad"
    assert store.authenticate("ana", PASSWORD, now=after).outcome == "ok"
    assert store.unlock("ana")


def test_checks_that_never_finished_lock_the_account_until_the_lock_ends(store: DeskStore) -> None:
    # A desk process killed mid-check leaves its slot taken: counted as a failure, never lost.
    t0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    agent = store.agent("ana")
    assert agent is not None
    for _ in range(LOCKOUT_AFTER):
        with store._transaction() as session:
            assert reserve_attempt(session, agent.id, t0) is not None
    assert store.authenticate("ana", PASSWORD, now=t0).outcome == "locked"
    assert store.authenticate("ana", PASSWORD, now=t0 + LOCKOUT_FOR).outcome == "ok"


def test_unknown_and_inactive_accounts_are_never_locked_and_cost_a_check(store: DeskStore) -> None:
    hasher: Any = store.hasher
    for _ in range(LOCKOUT_AFTER + 2):
        assert store.authenticate("nobody", PASSWORD).outcome == "bad"
    assert hasher.verifications >= LOCKOUT_AFTER + 2


@pytest.fixture
def served_desk(any_db_url: str, fake_rasa: FakeRasa) -> Iterator[tuple[Desk, str]]:
    """The real desk app on loopback over SQLite and PostgreSQL, with ``ana`` and a slow hasher."""
    desk = make_desk(any_db_url, fake_rasa.url)
    desk.store.hasher = CountingHasher()
    desk.store.create_agent("ana", PASSWORD, "agent", "Ana")
    running = serve_in_thread(create_app(desk))
    try:
        yield desk, running.url
    finally:
        running.stop()
        desk.queue.dispose()


def _sign_in(base: str, password: str) -> int:
    """One browser's sign-in through HTTP; the status of the POST (302: a session)."""
    browser = Client(base)
    form = browser.get("/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = browser.http.post(
        base + "/login",
        data={"csrf_token": token, "username": "ana", "password": password},
        allow_redirects=False,
        timeout=60,
    )
    return answer.status_code


def test_forty_parallel_sign_ins_over_http(served_desk: tuple[Desk, str]) -> None:
    desk, base = served_desk
    hasher: Any = desk.store.hasher
    statuses = _at_once(lambda i: _sign_in(base, f"wrong guess {i}"))
    checked = hasher.verifications
    again = _at_once(lambda i: _sign_in(base, PASSWORD if i % 8 == 0 else f"w{i}"))
    sessions = sum(1 for s in again if s == 302)
    print(
        f"\nHTTP, 40 parallel wrong guesses: {checked} verifications, statuses {_counts(statuses)}"
        f"; then 40 with 5 right: {sessions} sessions, {hasher.verifications - checked} "
        f"verifications"
    )
    assert checked <= LOCKOUT_AFTER
    assert set(statuses) == {401}
    assert sessions == 0 and set(again) == {401}
    assert hasher.verifications == checked
    failures = desk.store.audit_log(action="sign_in_failed", limit=1000)
    assert len(failures) == 2 * PARALLEL  # every refusal is in the audit log
    assert requests.get(base + "/queue", allow_redirects=False, timeout=5).status_code == 302
