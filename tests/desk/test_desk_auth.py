"""Sign-in, sessions, lock-out, CSRF, and nothing without a session."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from desk.app import COOKIE, Desk
from desk.server import ThreadedServer
from desk.store import LOCKOUT_AFTER, AccountError, DeskStore
from tests.desk.conftest import CHEAP_HASHER, PASSWORD, Client, add_ticket

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


def test_passwords_are_stored_as_argon2id_hashes(desk: Desk) -> None:
    agent = desk.store.agent("ana")
    assert agent is not None
    assert agent.password_hash.startswith("$argon2id$")
    assert PASSWORD not in agent.password_hash


def test_accounts_are_validated(desk: Desk) -> None:
    with pytest.raises(AccountError, match="taken"):
        desk.store.create_agent("ana", PASSWORD)
    with pytest.raises(AccountError, match="at least"):
        desk.store.create_agent("new", "short")
    with pytest.raises(AccountError, match="role"):
        desk.store.create_agent("new", PASSWORD, role="admin")
    with pytest.raises(AccountError, match="username"):
        desk.store.create_agent("Bad Name", PASSWORD)


def test_sign_in_and_out(client: Callable[..., Client]) -> None:
    ana = client("ana")
    page = ana.get("/queue")
    assert page.status_code == 200 and "Ana" in page.text
    cookie = ana.http.cookies.get(COOKIE)
    assert cookie
    assert ana.post("/logout").url.endswith("/login")
    # The old cookie is dead on the server, not only in this browser.
    stolen = requests.get(
        ana.base + "/api/queue", cookies={COOKIE: cookie}, allow_redirects=False, timeout=5
    )
    assert stolen.status_code == 401


def test_session_cookie_is_http_only_and_strict(server: ThreadedServer) -> None:
    client = Client(server.url)
    form = client.get("/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.http.post(
        server.url + "/login",
        data={"csrf_token": token, "username": "ana", "password": PASSWORD},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    header = answer.headers["set-cookie"].lower()
    assert f"{COOKIE}=" in header and "httponly" in header and "samesite=strict" in header


def test_wrong_password_and_lock_out(client: Callable[..., Client], desk: Desk) -> None:
    browser = client()
    for _ in range(LOCKOUT_AFTER - 1):
        answer = browser.login("ana", "wrong password!")
        assert answer.status_code == 401 and "Wrong username or password" in answer.text
    answer = browser.login("ana", "wrong password!")
    assert "locked" in answer.text
    # Locked: even the right password is refused for now.
    answer = browser.login("ana", PASSWORD)
    assert answer.status_code == 401 and "locked" in answer.text
    assert browser.get("/queue").url.split("?")[0].endswith("/login")
    failures = desk.store.audit_log(action="sign_in_failed")
    assert len(failures) == LOCKOUT_AFTER + 1
    desk.store.unlock("ana")
    assert client("ana").get("/queue").status_code == 200


def test_unknown_user_gets_the_same_answer(client: Callable[..., Client]) -> None:
    answer = client().login("nobody", PASSWORD)
    assert answer.status_code == 401 and "Wrong username or password" in answer.text


PAGES = ["/", "/queue", "/api/queue", "/cases/1", "/resolved", "/canned", "/audit"]
POSTS = [
    "/logout",
    "/queue/next",
    "/cases/1/claim",
    "/cases/1/reveal",
    "/cases/1/reply",
    "/cases/1/resolve",
    "/cases/1/release",
    "/cases/1/reassign",
    "/api/measure",
    "/canned",
    "/canned/1/delete",
]


def test_nothing_without_a_session(server: ThreadedServer, desk: Desk) -> None:
    ticket = add_ticket(desk.queue)
    assert ticket.id == 1
    for path in PAGES:
        answer = requests.get(server.url + path, allow_redirects=False, timeout=5)
        assert answer.status_code in (302, 401), path
        assert "IBAN" not in answer.text and "PT50" not in answer.text
        if answer.status_code == 302:
            assert answer.headers["location"].startswith("/login")
    for path in POSTS:
        answer = requests.post(
            server.url + path, data={"text": "hi"}, allow_redirects=False, timeout=5
        )
        assert answer.status_code == 401, path
    assert desk.queue.get(1).status == "open"
    assert requests.get(server.url + "/health", timeout=5).json() == {"status": "ok"}


def test_every_post_needs_the_csrf_token(client: Callable[..., Client], desk: Desk) -> None:
    add_ticket(desk.queue)
    sofia = client("sofia")
    for path in POSTS:
        for token in ("", "forged-token"):
            answer = sofia.post(path, {"text": "hi", "agent": "ana"}, csrf=token)
            assert answer.status_code == 403, (path, token)
    assert desk.queue.get(1).status == "open"
    assert sofia.get("/queue").status_code == 200  # still signed in: logout was refused too


def test_a_token_from_another_session_is_refused(client: Callable[..., Client], desk: Desk) -> None:
    add_ticket(desk.queue)
    ana, bruno = client("ana"), client("bruno")
    answer = ana.post("/cases/1/claim", csrf=bruno.csrf)
    assert answer.status_code == 403
    assert desk.queue.get(1).status == "open"


def test_a_foreign_origin_is_refused(client: Callable[..., Client], desk: Desk) -> None:
    add_ticket(desk.queue)
    ana = client("ana")
    answer = ana.post("/cases/1/claim", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert ana.post("/cases/1/claim", headers={"Origin": ana.base}).status_code == 200


def test_sign_in_form_needs_its_csrf_cookie(server: ThreadedServer) -> None:
    answer = requests.post(
        server.url + "/login",
        data={"csrf_token": "x", "username": "ana", "password": PASSWORD},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 403


def test_security_headers(client: Callable[..., Client]) -> None:
    page = client("ana").get("/queue")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_open_redirect_is_not_followed(
    client: Callable[..., Client], server: ThreadedServer
) -> None:
    browser = client()
    form = browser.get("/login?next=//evil.example/")
    assert 'value="/"' in form.text


def test_add_agent_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from afterhours.cli import main

    db = f"sqlite:///{tmp_path / 'queue.db'}"
    argv = ["desk", "add-agent", "marta", "--role", "supervisor", "--name", "Marta"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main([*argv, "--password-stdin", "--db", db]) == 0
    assert "created supervisor marta (Marta)" in capsys.readouterr().out
    from handoff.db import make_engine

    store = DeskStore(make_engine(db), hasher=CHEAP_HASHER)
    assert store.authenticate("marta", PASSWORD).outcome == "ok"
    assert store.agent("marta").role == "supervisor"
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["desk", "add-agent", "marta", "--password-stdin", "--db", db]) == 1
    assert "taken" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["desk", "add-agent", "other", "--password-stdin", "--db", db]) == 1
    store.engine.dispose()
