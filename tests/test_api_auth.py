"""Rasa's HTTP API is never open: every route but the webhooks and the hello page needs the token.

The server is started as `afterhours run` starts it (bot.servers.rasa_run_command), and every
route Rasa's own app registers is tried without the token, with a wrong one, and with the right
one; the attacks of the security review are tried by name. The action server listens on loopback.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.servers import rasa_api_url, rasa_token

pytestmark = pytest.mark.slow

#: What answers without a token: the webhooks (public by design) and Rasa's hello and version.
PUBLIC = re.compile(r"^/($|version$|webhooks/)")


def call(url: str, method: str = "GET", body: object | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def rasa_routes() -> list[tuple[str, str]]:
    """(method, path) of every route Rasa's HTTP API registers, with placeholders filled."""
    from rasa.server import create_app

    app = create_app(agent=None, auth_token="x")  # noqa: S106 - built to read its routes
    found = []
    for route in app.router.routes:
        path = "/" + route.path.lstrip("/")
        path = re.sub(r"<[^>]+>", "sms:+351910000000", path)
        for method in route.methods:
            if method not in ("HEAD", "OPTIONS"):
                found.append((method, path))
    return sorted(set(found))


def test_nothing_but_the_webhooks_answers_without_the_token(trained_model: Path) -> None:
    from afterhours.bench.serve import started_server

    routes = rasa_routes()
    assert ("GET", "/conversations/sms:+351910000000/tracker") in routes
    with started_server(str(trained_model)) as (url, _):
        opened = []
        for method, path in routes:
            if PUBLIC.match(path):
                continue
            body = {} if method in ("POST", "PUT") else None
            for shown in (f"{url}{path}", f"{url}{path}?token=wrong"):
                status = call(shown, method, body)
                if status < 400 or status >= 500:
                    opened.append((method, path, status))
        assert opened == []

        # The two attacks of the review, by name.
        tracker = "/conversations/sms:+351910000000/tracker"
        assert call(f"{url}{tracker}") == 401
        send = f"{url}{tracker}/events?output_channel=sms&execute_side_effects=true"
        event = {"event": "bot", "text": "pay here: https://evil.example"}
        assert call(send, "POST", event) == 401
        # The webhooks stay public, and the token opens the API.
        assert call(f"{url}/webhooks/rest/webhook", "POST", {"sender": "t", "message": "hi"}) == 200
        assert call(rasa_api_url(url, tracker)) == 200
        assert call(rasa_api_url(url, "/status")) == 200
        assert len(rasa_token()) >= 32


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a TCP port listens on, from /proc/net/tcp ("0.0.0.0" = everywhere)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_the_action_server_listens_on_loopback_only() -> None:
    import subprocess

    from bot.servers import action_server_command, free_port, stop, wait_until_healthy

    port = free_port()
    process = subprocess.Popen(action_server_command(port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", process)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        stop([process], grace=5)
