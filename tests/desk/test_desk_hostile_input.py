"""No input gives a 5xx: every route of the desk, hostile paths, queries and bodies, any role.

The routes are taken from the Sanic app's router, so a new route is walked without editing this
test. Requests go through the real app on loopback with ``http.client`` (``requests`` would
normalise ``..`` and re-quote the paths), signed out and signed in as each role, with the
session's CSRF token so the handlers themselves see the hostile values. Runs on SQLite and on
PostgreSQL: PostgreSQL refuses NUL characters in text, SQLite integers beyond 64 bits.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest

from desk.app import COOKIE, LOGIN_COOKIE, Desk, create_app
from desk.server import serve_in_thread
from tests.desk.conftest import PASSWORD, Client, FakeRasa, add_ticket, make_desk

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

_PARAM = re.compile(r"<([^:>]+)(?::([^>]+))?>")
# Ids: too large for any integer column, negative, zero, not numbers, Unicode digits, odd paths.
HOSTILE_IDS = [
    "99999999999999999999999",
    "9223372036854775808",
    "2147483648",
    "-1",
    "-99999999999999999999999",
    "0",
    "00000000000000000000001",
    "abc",
    "1.5",
    "1e9",
    "%00",
    "1%00",
    "..",
    "%2e%2e",
    "%2F",
    "1%2F2",
    "%EF%BC%91",  # a full-width digit one
    "%C2%B2",  # a superscript two
    "%FF",
    "%201",
    "1" * 5000,
]
# Files under /static: NUL bytes, climbing out, encoded slashes and backslashes.
HOSTILE_FILES = [
    "desk.css%00.py",
    "desk.css%00",
    "%00",
    "../../desk/app.py",
    "..%2F..%2Fdesk%2Fapp.py",
    "%2e%2e/%2e%2e/desk/app.py",
    "%2e%2e%2f%2e%2e%2fdesk%2fapp.py",
    "..%5C..%5Cdesk%5Capp.py",
    "desk.css/",
    "desk.css%2F..%2F..%2Fapp.py",
    "//etc/passwd",
    "nothing-here.css",
    "%FF%FE",
    "%C0%AE%C0%AE/%C0%AE%C0%AE/desk/app.py",
    "a" * 5000,
]
HOSTILE_TEXT = "\x00<script>alert(1)</script>\udcff'; DROP TABLE desk_agents; --\u202e"
HOSTILE_QUERIES = [
    "",
    "next=%00&q=%00&msg=%00",
    "next=//evil.example/&msg=..%2F..%2F",
    "department=%00&language=%FF&channel=%2e%2e&reason=%C0%AE",
    "q=" + "%FF" * 200 + "&q=a&q=b",
    "%00=%00&ticket=99999999999999999999999&id=-1",
    "msg=" + "x" * 10_000,
    "a=%ZZ&b=%&c=%%",
]
FORM_FIELDS = (
    "username",
    "password",
    "text",
    "agent",
    "intent",
    "new_intent",
    "id",
    "language",
    "title",
    "body",
    "next",
    "q",
)


@dataclass
class Body:
    """A request body: its bytes, content type, and whether it carries the CSRF token."""

    data: bytes
    content_type: str


def form_bodies(csrf: str) -> list[Body]:
    """Hostile form and JSON bodies, each carrying `csrf` so the handler is reached."""
    urlencoded = "application/x-www-form-urlencoded"

    def form(value: str, **extra: str) -> Body:
        fields = {name: value for name in FORM_FIELDS} | extra | {"csrf_token": csrf}
        return Body(urlencode(fields, errors="surrogatepass").encode("ascii"), urlencoded)

    def as_json(value: Any) -> Body:
        return Body(json.dumps(value).encode("utf-8"), "application/json")

    raw_csrf = quote(csrf).encode("ascii")
    return [
        form(HOSTILE_TEXT),
        form("\x00"),
        form("99999999999999999999999"),
        form("-1", id="99999999999999999999999", language="en"),
        form("²", id="²", language="en", intent="__new__"),
        form("１", id="１", language="pt", intent="__new__", new_intent="\x00"),
        form("x" * 200_000, language="en", agent="ana"),
        Body(b"csrf_token=" + raw_csrf + b"&text=%FF%FE&id=%ED%A0%80&title=\xff\xfe", urlencoded),
        Body(b"csrf_token=" + raw_csrf + b"&" + b"&".join([b"text=a"] * 2000), urlencoded),
        Body(
            b'--x\r\nContent-Disposition: form-data; name="text"\r\n\r\n\x00\xff',
            ("multipart/form-data; boundary=x"),
        ),
        Body(b"garbage", "multipart/form-data"),
        as_json({"ticket": "99999999999999999999999", "text": HOSTILE_TEXT}),
        as_json({"ticket": 99999999999999999999999, "text": "hi"}),
        as_json({"ticket": -1, "text": None}),
        as_json([1, 2, 3]),
        Body(b'{"ticket": 1e999, "text": "\\ud800"}', "application/json"),
        Body(b'{"ticket": NaN}', "application/json"),
        Body(b"not json at all \x00\xff", "application/json"),
    ]


class Walker:
    """Sends raw requests to the served desk and remembers every answer of 500 or more."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.failures: list[str] = []
        self.sent = 0

    def send(
        self,
        method: str,
        path: str,
        body: Body | None = None,
        cookies: dict[str, str] | None = None,
        csrf: str = "",
    ) -> int:
        """One request; returns its status (and records it when it is a server error)."""
        headers = {"Connection": "close"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if body is not None:
            headers["Content-Type"] = body.content_type
        if csrf:
            headers["X-CSRF-Token"] = csrf
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            # Refused before the whole body was read (413): the answer is waiting all the same.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.request(method, path, body=body.data if body else None, headers=headers)
            answer = connection.getresponse()
            answer.read()
            status = answer.status
        finally:
            connection.close()
        self.sent += 1
        if status >= 500:
            what = body.data[:60] if body else b""
            self.failures.append(f"{status} {method} {path[:100]} {what!r}")
        return status

    def raw(self, request: bytes) -> str:
        """A request the HTTP client would refuse to send (bytes straight on the socket).

        Returns:
            The status line's code, or ``closed`` when Sanic's HTTP parser drops a request line
            it cannot decode (no answer is not a server error; a proxy refuses these anyway).
        """
        with socket.create_connection((self.host, self.port), timeout=30) as sock:
            sock.sendall(request)
            head = sock.recv(64)
        self.sent += 1
        found = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if found is None:
            if head:
                self.failures.append(f"raw {request[:80]!r} -> {head[:40]!r}")
            return "closed"
        if int(found.group(1)) >= 500:
            self.failures.append(f"raw {request[:80]!r} -> {head[:40]!r}")
        return found.group(1).decode()


def paths_of(route_uri: str, values: dict[str, list[str]]) -> Iterator[str]:
    """The route's path with its parameters replaced by each hostile value in turn."""
    params = _PARAM.findall(route_uri)
    if not params:
        yield route_uri
        return

    def filled(name: str, value: str) -> str:
        return _PARAM.sub(lambda m: value if m.group(1) == name else "1", route_uri)

    for name, kind in params:
        for value in values["path" if kind == "path" else "id"]:
            yield filled(name, value)


@pytest.fixture
def served(any_db_url: str, fake_rasa: FakeRasa) -> Iterator[tuple[Desk, Any, str]]:
    """The desk on loopback (SQLite and PostgreSQL) with a few cases, accounts of every role."""
    desk = make_desk(any_db_url, fake_rasa.url)
    for name, role in (("ana", "agent"), ("sofia", "supervisor"), ("tiago", "trainer")):
        desk.store.create_agent(name, PASSWORD, role, name.title())
    add_ticket(desk.queue)
    add_ticket(desk.queue, channel="sms", customer="+351912345678", public=False)
    app = create_app(desk)
    running = serve_in_thread(app)
    try:
        yield desk, app, running.url
    finally:
        running.stop()
        desk.queue.dispose()


def test_no_input_gives_a_server_error(served: tuple[Desk, Any, str]) -> None:
    desk, app, base = served
    walker = Walker(base)
    routes = sorted(
        (
            (r.uri if r.uri.startswith("/") else "/" + r.uri, m)
            for r in app.router.routes
            for m in r.methods
        ),
        key=lambda rm: (rm[0] == "/logout", rm),  # signing out last: it ends the session
    )
    assert len(routes) >= 20 and any("<" in uri for uri, _ in routes)
    values = {"id": HOSTILE_IDS, "path": HOSTILE_FILES}
    for who in (None, "ana", "sofia", "tiago"):
        browser = Client(base)
        if who:
            assert browser.login(who).status_code == 200
        login_page = Client(base)
        login_page.get("/login")
        login_csrf = login_page.http.cookies.get(LOGIN_COOKIE) or ""
        cookies = {k: v for k, v in browser.http.cookies.items() if k == COOKIE}
        csrf = browser.csrf if who else login_csrf
        cookies[LOGIN_COOKIE] = login_csrf
        bodies = form_bodies(csrf)
        queries = itertools.cycle(HOSTILE_QUERIES)
        cycled = itertools.cycle(bodies)
        for uri, method in routes:
            for path in paths_of(uri, values):
                body = next(cycled) if method == "POST" else None
                walker.send(method, f"{path}?{next(queries)}", body, cookies, csrf)
            good = next(paths_of(uri, {"id": ["1"], "path": ["desk.css"]}))
            for body, query in zip(bodies, itertools.cycle(HOSTILE_QUERIES)):
                walker.send(
                    method, f"{good}?{query}", body if method != "GET" else None, cookies, csrf
                )
            walker.send("PUT", good, bodies[0], cookies, csrf)
    for name in HOSTILE_FILES:  # beside the routes: static files are one route each
        for method in ("GET", "HEAD"):
            walker.send(method, f"/static/{name}?{next(queries)}")
    for request in (
        b"GET /static/desk.css\x00.py HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /cases/1\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /static/../app.py HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /cases/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /queue?\xff=\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET \x00 HTTP/1.1\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"GET /queue HTTP/1.1\r\nHost: x\r\nCookie: " + COOKIE.encode() + b"=\xff\x00\r\n\r\n",
    ):
        walker.raw(request)
    print(f"\n{walker.sent} hostile requests, {len(walker.failures)} server errors")
    assert not walker.failures, "\n".join(walker.failures[:40])
    # Still serving, nothing broken for the next agent.
    assert Client(base).login("ana").status_code == 200
    assert desk.store.agent("ana") is not None


def test_the_reported_inputs_and_what_they_get(served: tuple[Desk, Any, str]) -> None:
    desk, _app, base = served
    walker = Walker(base)
    browser = Client(base)
    assert browser.login("sofia").status_code == 200
    cookies = {COOKIE: browser.http.cookies.get(COOKIE) or ""}
    for who in ({}, cookies):
        for path in ("/cases/99999999999999999999999", "/cases/-1", "/cases/0", "/cases/abc"):
            assert walker.send("GET", path, cookies=who) == 404, path
        for path in ("/static/desk.css%00.py", "/static/..%2F..%2Fdesk%2Fapp.py", "/static/x"):
            assert walker.send("GET", path, cookies=who) in (400, 404), path
    assert walker.send("GET", "/cases/1", cookies=cookies) == 200
    assert walker.send("GET", "/cases/2147483647", cookies=cookies) == 404
    assert walker.send("GET", "/queue?q=%00", cookies=cookies) == 400
    nul = Body(urlencode({"csrf_token": browser.csrf, "text": "hi\x00"}).encode(), "")
    nul.content_type = "application/x-www-form-urlencoded"
    assert walker.send("POST", "/cases/1/reply", nul, cookies) == 400
    measured = Body(json.dumps({"ticket": 10**30, "text": "hi"}).encode(), "application/json")
    assert walker.send("POST", "/api/measure", measured, cookies, browser.csrf) == 400
    # The static files are still served, with their types, GET and HEAD.
    css = browser.get("/static/desk.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "body" in css.text
    assert "javascript" in browser.get("/static/desk.js").headers["content-type"]
    assert walker.send("HEAD", "/static/desk.css") == 200
    assert not walker.failures
