"""Fixtures of the desk's tests: a migrated database, a fake Rasa HTTP API, a served desk.

PostgreSQL runs use a schema of their own (dropped afterwards), like tests/handoff; unreachable
means skipped, unless HANDOFF_REQUIRE_POSTGRES is set (then they fail).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from argon2 import PasswordHasher

from desk.app import Desk, create_app
from desk.db import migrate as migrate_desk
from desk.intents import known_intents
from desk.rasa import RasaClient
from desk.seed import seed_canned
from desk.server import ThreadedServer, serve_in_thread
from desk.store import DeskStore
from handoff.queue import HandoffQueue
from handoff.transcript import Entry
from tests.postgres import postgres_schema

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc
PASSWORD = "correct horse battery"
# Cheap Argon2 parameters: the tests sign in dozens of times.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HOSTILE = (
    "<script>alert('x')</script><img src=x onerror=alert(1)> '; DROP TABLE handoff_tickets; --"
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}"
    else:
        with postgres_schema("desk_test") as url:
            yield url


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database (the HTTP tests do not depend on the database)."""
    return f"sqlite:///{tmp_path / 'queue.db'}"


@dataclass
class FakeRasa:
    """Rasa's HTTP API on loopback: records every POST; ``status`` is what it answers.

    It stands for a Rasa whose connectors run: a desk answer (a bot event with a
    ``delivery_id``) is recorded in ``engine``'s ``channel_deliveries`` as ``delivery`` (None:
    nothing recorded, as Rasa's collecting output when the channel is not running), and a failed
    one gets a 500, as the connector raises. ``known`` are the conversations in which the
    customer wrote (None: all of them); ``gets`` the tracker GETs.
    """

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    gets: list[str] = field(default_factory=list)
    known: set[str] | None = None
    delivery: str | None = "delivered"
    reason: str | None = None
    engine: Any = None

    def record_delivery(self, path: str, body: dict[str, Any]) -> int:
        """What the channel's output does with a desk answer; returns the HTTP status."""
        delivery_id = (body.get("metadata") or {}).get("delivery_id")
        if not delivery_id or self.engine is None or self.delivery is None:
            return self.status
        from bot.channels import deliveries

        channel = path.split("/")[2].split(":")[0]
        deliveries.record(self.engine, delivery_id, channel, self.delivery, self.reason)
        return 500 if self.delivery == "failed" else self.status

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The recorded tracker-events POSTs whose event is ``kind``."""
        return [r for r in self.requests if r["body"].get("event") == kind]


@pytest.fixture
def fake_rasa() -> Iterator[FakeRasa]:
    """A fake Rasa server that records tracker-events POSTs."""
    fake = FakeRasa(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            parts = urlsplit(self.path)
            fake.requests.append({"path": parts.path, "query": parse_qs(parts.query), "body": body})
            status = fake.status
            if fake.status == 200 and body.get("event") == "bot":
                status = fake.record_delivery(parts.path, body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            fake.gets.append(path)
            conversation = path.split("/")[2]
            events = (
                []
                if fake.known is not None and conversation not in fake.known
                else [{"event": "user", "text": "hello"}]
            )
            body = json.dumps({"sender_id": conversation, "events": events}).encode()
            self.send_response(fake.status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def make_desk(db_url: str, rasa_url: str) -> Desk:
    """A desk on a migrated database, with the shipped canned answers and brand."""
    from bot.settings import load_brand

    queue = HandoffQueue.from_url(db_url)
    migrate_desk(queue.engine)
    store = DeskStore(queue.engine, hasher=CHEAP_HASHER)
    seed_canned(store)
    return Desk(
        queue=queue,
        store=store,
        rasa=RasaClient(rasa_url, timeout=5),
        brand=load_brand(ROOT / "brand.yml"),
        intents=known_intents(ROOT),
        poll_seconds=2,
    )


def serve_channels(
    desk: Desk, fake: FakeRasa, channels: tuple[str, ...] = ("telegram", "sms", "x")
) -> None:
    """The channel tables in the desk's database, a live worker serving ``channels``."""
    from bot.channels.inbox import migrate as migrate_channels
    from bot.channels.workers import Workers

    migrate_channels(desk.queue.engine)
    workers = Workers(desk.queue.engine, lambda: dt.datetime.now(UTC))
    for channel in channels:
        workers.beat("desk-tests:1:fake", channel)
    fake.engine = desk.queue.engine


@pytest.fixture
def desk(db_url: str, fake_rasa: FakeRasa) -> Iterator[Desk]:
    """The desk with accounts ana, bruno (agents), sofia (supervisor), tiago (trainer)."""
    service = make_desk(db_url, fake_rasa.url)
    serve_channels(service, fake_rasa)
    service.store.create_agent("ana", PASSWORD, "agent", "Ana")
    service.store.create_agent("bruno", PASSWORD, "agent", "Bruno")
    service.store.create_agent("sofia", PASSWORD, "supervisor", "Sofia")
    service.store.create_agent("tiago", PASSWORD, "trainer", "Tiago")
    try:
        yield service
    finally:
        service.queue.dispose()


@pytest.fixture
def server(desk: Desk) -> Iterator[ThreadedServer]:
    """The desk served on a free loopback port."""
    running = serve_in_thread(create_app(desk))
    try:
        yield running
    finally:
        running.stop()


_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


class Client:
    """A browser-like HTTP client of the desk (cookies kept, CSRF token read from the page)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.csrf = ""

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        answer = self.http.get(self.base + path, allow_redirects=True, timeout=10, **kwargs)
        found = _CSRF_META.search(answer.text)
        if found and found.group(1):
            self.csrf = found.group(1)
        return answer

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None, **kw: Any
    ) -> requests.Response:
        form = {"csrf_token": self.csrf if csrf is None else csrf, **(data or {})}
        kw.setdefault("allow_redirects", True)
        return self.http.post(self.base + path, data=form, timeout=10, **kw)

    def login(self, username: str, password: str = PASSWORD) -> requests.Response:
        form = self.get("/login")
        token = _CSRF_FIELD.search(form.text)
        assert token is not None
        answer = self.http.post(
            self.base + "/login",
            data={"csrf_token": token.group(1), "username": username, "password": password},
            timeout=10,
        )
        self.get("/")  # picks the session's CSRF token up
        return answer


@pytest.fixture
def client(server: ThreadedServer) -> Callable[[str | None], Client]:
    """Make a client, signed in as the given user (or not signed in for None)."""

    def make(username: str | None = None) -> Client:
        made = Client(server.url)
        if username:
            answer = made.login(username)
            assert answer.status_code == 200, answer.text[:500]
        return made

    return make


T0 = dt.datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


def add_ticket(queue: HandoffQueue, **overrides: Any) -> Any:
    """Open a ticket with sensible defaults (an IBAN in the customer's message)."""
    created = overrides.pop("created_at", T0)
    text_ = overrides.pop("text", "My IBAN is PT50000201231234567890154, charge me back")
    customer = overrides.pop("customer", "1001")
    channel = overrides.pop("channel", "telegram")
    spans = overrides.pop(
        "personal_data",
        [{"kind": "iban", "start": 11, "end": 36}] if "PT500002" in text_ else [],
    )
    values: dict[str, Any] = {
        "channel": channel,
        "conversation_id": f"{channel}:{customer}",
        "customer": customer,
        "public": False,
        "language": "en",
        "locale": "en_GB",
        "reasons": ["private"],
        "need": 3,
        "department": "billing",
        "topic": "account_request",
        "suggested_answer": "We are checking your bill.",
        "reply_eta": dt.datetime.now(UTC) + dt.timedelta(hours=5),
        "created_at": created,
        "transcript": [
            Entry(
                at=created,
                author="customer",
                text=text_,
                personal_data=spans,
                metadata={"channel": channel},
            ),
            Entry(at=created, author="bot", text="A colleague answers tomorrow at 09:00."),
        ],
    }
    values.update(overrides)
    return queue.open_ticket(**values)


# -- the browser tests (Debian's chromium driven by Playwright) ------------------------------

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A fresh chromium page (1280x800); a script error, dialog or external fetch fails the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        problems: list[str] = []
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
        # Nothing may be fetched from anywhere but the desk itself.
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("http://127.0.0.1")
                else (problems.append(f"external fetch: {route.request.url}"), route.abort())
            ),
        )
        try:
            yield page
        finally:
            context.close()
            browser.close()
        assert problems == []
