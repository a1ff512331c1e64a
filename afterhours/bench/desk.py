"""`afterhours bench desk`: the queue and reports pages with many tickets; contended claims.

1. Queue page: fills a fresh database with N waiting tickets (10,000 by default), serves the desk on
   loopback, signs in and times ``GET /queue`` (the whole page, rendered) and ``GET /api/queue``
   (the live update): p50 / p95 / max over the repeats.
2. Reports page: the same tickets, six in ten answered by an agent, and as many rows in the turn
   log (a SQLite tracker database of its own); signs in as a supervisor and times ``GET /reports``
   over the tickets' whole range, the default last night, the CSV, and a chart (drawn, then
   cached), plus the report alone (``desk.reports.build_report``: the server's work, no HTTP).
3. Claims: on PostgreSQL (a schema of its own, dropped afterwards), A concurrent agents (20), each
   with its own engine as if on separate desk servers, take cases until none is left — with
   "take the next case" (``claim_next``, ``SKIP LOCKED``) and, separately, all racing for the same
   case (``claim``). Prints claims per second and checks that no case was claimed twice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

__all__ = ["add_arguments", "run"]

DEFAULT_PG = os.environ.get(
    "HANDOFF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_REASONS = ["private", "emotional", "complex", "human_requested", "in_hours"]
_DEPARTMENTS = ["billing", "technical", "sales", "general"]
_LANGUAGES = ["en", "pt", "es", "it"]
_CHANNELS = ["x", "telegram", "sms"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--tickets", type=int, default=10_000, help="waiting tickets (10000)")
    parser.add_argument("--repeats", type=int, default=15, help="page loads timed (15)")
    parser.add_argument("--db", default=None, help="database for the page test (temp SQLite)")
    parser.add_argument("--agents", type=int, default=20, help="concurrent agents (20)")
    parser.add_argument("--claim-tickets", type=int, default=2_000, help="cases to claim (2000)")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server for the claims")
    parser.add_argument("--skip-page", action="store_true", help="only the claims")
    parser.add_argument("--skip-claims", action="store_true", help="only the pages")


def _fill(engine: Any, count: int, seed: int = 7) -> None:
    """Insert ``count`` waiting tickets with a short transcript each, in bulk."""
    from sqlalchemy import func, select, text

    from handoff.models import Ticket, TranscriptEntry

    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:
        start = connection.execute(select(func.coalesce(func.max(Ticket.id), 0))).scalar_one()
        tickets, entries = [], []
        for i in range(1, count + 1):
            created = now - dt.timedelta(minutes=rng.randint(10, 60 * 40))
            channel = rng.choice(_CHANNELS)
            tid = start + i
            tickets.append(
                {
                    "id": tid,
                    "channel": channel,
                    "conversation_id": f"{channel}:bench{tid}",
                    "customer": f"bench{tid}",
                    "public": channel == "x" and rng.random() < 0.5,
                    "language": rng.choice(_LANGUAGES),
                    "locale": "en_GB",
                    "reasons": [rng.choice(_REASONS)],
                    "need": rng.randint(1, 4),
                    "department": rng.choice(_DEPARTMENTS),
                    "topic": None,
                    "suggested_answer": None,
                    "status": "open",
                    "created_at": created,
                    "updated_at": created,
                    "reply_eta": created + dt.timedelta(hours=rng.randint(1, 30)),
                    "claimed_by": None,
                    "claimed_at": None,
                    "resolved_at": None,
                    "resolved_intent": None,
                    "last_customer_message_at": created,
                }
            )
            for position, author in enumerate(("customer", "bot")):
                entries.append(
                    {
                        "ticket_id": tid,
                        "position": position,
                        "at": created,
                        "author": author,
                        "text": f"message {tid} from the {author} about my bill and my router",
                        "personal_data": [],
                        "metadata": {"channel": channel},
                    }
                )
        connection.execute(Ticket.__table__.insert(), tickets)
        connection.execute(TranscriptEntry.__table__.insert(), entries)
        if connection.dialect.name == "postgresql":
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('handoff_tickets', 'id'), "
                    "(SELECT max(id) FROM handoff_tickets))"
                )
            )


def _fill_answers(engine: Any, share: float = 0.6, seed: int = 11) -> None:
    """Give ``share`` of the tickets a first agent reply (and the agent's claim), in bulk."""
    from sqlalchemy import select, update

    from handoff.models import Ticket, TranscriptEntry

    rng = random.Random(seed)
    agents = [f"agent{i}" for i in range(8)]
    with engine.begin() as connection:
        tickets = connection.execute(select(Ticket.id, Ticket.created_at)).all()
        chosen = [(tid, created) for tid, created in tickets if rng.random() < share]
        replies = []
        for tid, created in chosen:
            agent = rng.choice(agents)
            replies.append(
                {
                    "ticket_id": tid,
                    "position": 2,
                    "at": created + dt.timedelta(minutes=rng.randint(5, 900)),
                    "author": "agent",
                    "text": "Hello, I am looking at your bill now.",
                    "personal_data": [],
                    "metadata": {"agent": agent},
                }
            )
            connection.execute(
                update(Ticket)
                .where(Ticket.id == tid)
                .values(status="claimed", claimed_by=agent, claimed_at=created)
            )
        connection.execute(TranscriptEntry.__table__.insert(), replies)


def _fill_turn_log(url: str, count: int, seed: int = 13) -> Any:
    """A tracker database with ``count`` turn log rows over the last 40 hours."""
    from sqlalchemy import create_engine

    from bot import turn_log

    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    engine = create_engine(url, future=True)
    turn_log.create_table(engine)
    rows = []
    for i in range(count):
        decision = rng.choices(["answer", "handoff", "ignore"], [6, 3, 1])[0]
        at = now - dt.timedelta(minutes=rng.randint(1, 60 * 40))
        rows.append(
            {
                "conversation_id": f"bench{i}",
                "channel": rng.choice(_CHANNELS),
                "public": False,
                "language": rng.choice(_LANGUAGES),
                "decision": decision,
                "followup": decision == "handoff" and rng.random() < 0.2,
                "reason": None if decision == "answer" else rng.choice(_REASONS),
                "topic": "faq/roaming",
                "department": rng.choice(_DEPARTMENTS) if decision == "handoff" else None,
                "ticket_id": None,
                "message_at": at,
                "stored_at": at,
            }
        )
    with engine.begin() as connection:
        turn_log.insert_rows(connection, rows)
    return engine


def _time(call: Any, repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats):
        begin = time.perf_counter()
        call()
        timings.append(time.perf_counter() - begin)
    return timings


def _reports_benchmark(
    args: argparse.Namespace, desk: Any, turns: Any, base: str, password: str
) -> None:
    """Times the reports page, its CSV and a chart, and the report alone (see the docstring)."""
    import requests

    from desk.reports import build_report, last_night

    http = requests.Session()
    form = http.get(base + "/login", timeout=60).text
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    http.post(
        base + "/login",
        data={"csrf_token": token, "username": "boss", "password": password},
        timeout=60,
    )
    now = dt.datetime.now(dt.timezone.utc)
    since, until = now - dt.timedelta(days=2), now + dt.timedelta(minutes=1)
    night = last_night(desk.brand.calendar(), now)

    def query(start: dt.datetime, end: dt.datetime) -> str:
        return urlencode({"since": start.isoformat(), "until": end.isoformat()})

    span = query(since, until)
    count = itertools.count(1)
    # A report is kept for a minute: each load but the cached ones asks for a range of its own
    # (one second longer), so the databases are counted every time.
    for label, path_of in (
        ("/reports, 2 days (every ticket)", lambda i: f"/reports?{query(since, until + i)}"),
        ("/reports, last night", lambda i: f"/reports?{query(night[0], night[1] + i)}"),
        ("/reports, 2 days, cached", lambda _i: f"/reports?{span}"),
        ("/reports.csv, 2 days", lambda i: f"/reports.csv?{query(since, until + i)}"),
    ):
        size = 0
        served: list[float] = []

        def load(path_of: Any = path_of, count: Any = count, served: Any = served) -> None:
            nonlocal size
            answer = http.get(base + path_of(dt.timedelta(seconds=next(count))), timeout=120)
            answer.raise_for_status()
            size = len(answer.content)
            served.append(_server_seconds(answer))

        timings = _time(load, args.repeats)
        print(f"  GET {label:<40} {_percentiles(timings)}  ({size // 1024} KiB)")
        print(f"      {'server side':<40} {_percentiles(served)}")
    chart = f"/reports/charts/daily.svg?{span}"
    first = _time(lambda: http.get(base + chart, timeout=120).raise_for_status(), 1)
    cached = _time(lambda: http.get(base + chart, timeout=120).raise_for_status(), args.repeats)
    print(f"  GET /reports/charts/daily.svg: drawn {first[0] * 1000:.0f} ms (report cached)")
    print(f"  GET {'/reports/charts/daily.svg, cached':<40} {_percentiles(cached)}")
    engine = desk.queue.engine
    timings = _time(
        lambda: build_report(engine, turns, desk.brand.timezone, since, until), args.repeats
    )
    print(
        f"  the report alone (build_report, all {args.tickets} in range): {_percentiles(timings)}"
    )


def _server_seconds(answer: Any) -> float:
    """The desk's own time for a request, from its Server-Timing header (``app;dur=12.3``)."""
    header = answer.headers.get("Server-Timing", "")
    return float(header.split("dur=")[1]) / 1000 if "dur=" in header else float("nan")


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


def _page_benchmark(args: argparse.Namespace) -> None:
    import requests
    from argon2 import PasswordHasher

    from bot.settings import load_brand
    from desk.app import Desk, create_app
    from desk.db import migrate as migrate_desk
    from desk.rasa import RasaClient
    from desk.server import serve_in_thread
    from desk.store import DeskStore
    from handoff.desk_side import DeskQueue

    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'bench.db'}"
        queue = DeskQueue.from_url(url)
        migrate_desk(queue.engine)
        started = time.perf_counter()
        _fill(queue.engine, args.tickets)
        print(
            f"queue page: {args.tickets} waiting tickets on {queue.engine.dialect.name} "
            f"(filled in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        store = DeskStore(queue.engine, PasswordHasher(time_cost=1, memory_cost=1024))
        password = uuid.uuid4().hex
        store.create_agent("bench", password, "agent")
        store.create_agent("boss", password, "supervisor")
        desk = Desk(queue, store, RasaClient("http://127.0.0.1:9"), load_brand())
        turns = _fill_turn_log(f"sqlite:///{Path(folder) / 'trackers.db'}", args.tickets)
        app = create_app(desk)
        app.ctx.turn_log = turns
        server = serve_in_thread(app)
        try:
            http = requests.Session()
            form = http.get(server.url + "/login", timeout=60).text
            token = form.split('name="csrf_token" value="')[1].split('"')[0]
            http.post(
                server.url + "/login",
                data={"csrf_token": token, "username": "bench", "password": password},
                timeout=60,
            )
            for path in ("/queue", "/api/queue", "/queue?language=pt&department=billing"):
                timings, served = [], []
                size = 0
                for _ in range(args.repeats):
                    begin = time.perf_counter()
                    answer = http.get(server.url + path, timeout=120)
                    timings.append(time.perf_counter() - begin)
                    answer.raise_for_status()
                    served.append(_server_seconds(answer))
                    size = len(answer.content)
                print(f"  GET {path:<40} {_percentiles(timings)}  ({size // 1024} KiB)")
                print(f"      {'server side':<40} {_percentiles(served)}")
            _fill_answers(queue.engine)
            print(
                f"reports page: the same tickets, 60% answered, {args.tickets} turn log rows",
                flush=True,
            )
            _reports_benchmark(args, desk, turns, server.url, password)
        finally:
            server.stop()
            queue.dispose()
            turns.dispose()


@contextmanager
def _pg_schema(base: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(base, future=True, connect_args={"connect_timeout": 3})
    schema = f"desk_bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _claims_benchmark(args: argparse.Namespace) -> None:
    from handoff.desk_side import DeskQueue

    with _pg_schema(args.pg) as url:
        main = DeskQueue.from_url(url)
        queues = [DeskQueue.from_url(url, migrate=False) for _ in range(args.agents)]
        try:
            _fill(main.engine, args.claim_tickets)
            print(
                f"claims: {args.agents} concurrent agents on PostgreSQL, "
                f"{args.claim_tickets} waiting cases",
                flush=True,
            )
            barrier = threading.Barrier(args.agents)

            def take_all(i: int) -> list[int]:
                barrier.wait()
                taken = []
                while (ticket_id := queues[i].claim_next(f"agent{i}")) is not None:
                    taken.append(ticket_id)
                return taken

            begin = time.perf_counter()
            with ThreadPoolExecutor(args.agents) as pool:
                per_agent = list(pool.map(take_all, range(args.agents)))
            seconds = time.perf_counter() - begin
            claimed = Counter(t for taken in per_agent for t in taken)
            twice = sum(1 for n in claimed.values() if n > 1)
            print(
                f"  take the next case (claim_next, SKIP LOCKED): {sum(claimed.values())} claims "
                f"in {seconds:.2f} s = {sum(claimed.values()) / seconds:.0f} claims/s; "
                f"claimed twice: {twice}; busiest agent {max(map(len, per_agent))}, "
                f"idlest {min(map(len, per_agent))}"
            )

            # Everybody clicks the same case at once, case after case.
            held = main.list_tickets(status="claimed", limit=200)
            for ticket in held:
                main.release_claim(ticket.id, ticket.claimed_by or "")
            ids = [t.id for t in held]
            winners: Counter[int] = Counter()
            attempts = 0
            lock = threading.Lock()
            barrier = threading.Barrier(args.agents)

            def race(i: int) -> None:
                nonlocal attempts
                barrier.wait()
                for ticket_id in ids:
                    won = queues[i].claim(ticket_id, f"agent{i}")
                    with lock:
                        attempts += 1
                        if won:
                            winners[ticket_id] += 1

            begin = time.perf_counter()
            with ThreadPoolExecutor(args.agents) as pool:
                list(pool.map(race, range(args.agents)))
            seconds = time.perf_counter() - begin
            print(
                f"  all racing for the same case (claim): {attempts} attempts on {len(ids)} cases "
                f"in {seconds:.2f} s = {attempts / seconds:.0f} attempts/s; "
                f"cases with exactly one winner: {sum(1 for n in winners.values() if n == 1)}"
                f"/{len(ids)}; with more: {sum(1 for n in winners.values() if n > 1)}"
            )
        finally:
            for queue in queues:
                queue.dispose()
            main.dispose()


def run(args: argparse.Namespace) -> int:
    """Run the desk's benchmarks and print the numbers."""
    if not args.skip_page:
        _page_benchmark(args)
    if not args.skip_claims:
        _claims_benchmark(args)
    return 0
