"""deploy/nginx/afterhours.conf as shipped: the webhooks pass, nothing else reaches Rasa.

nginx (Debian's, installed by `make test`) runs the shipped server block with only its listen
port, certificate and upstream port changed, in front of a stand-in upstream that records every
request it receives.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
NGINX = Path("/usr/sbin/nginx")
SHIPPED = ROOT / "deploy" / "nginx" / "afterhours.conf"

pytestmark = pytest.mark.skipif(not NGINX.exists(), reason="nginx is not installed")


class Upstream(http.server.ThreadingHTTPServer):
    """Answers 200 to anything and remembers the paths it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.seen.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Upstream]]:
    upstream = Upstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    folder = tmp_path_factory.mktemp("nginx")
    port = free_port()
    server = SHIPPED.read_text(encoding="utf-8")
    # Plain HTTP on a free port in front of the stand-in; everything else as shipped.
    server = server.replace("server 127.0.0.1:5005;", f"server 127.0.0.1:{upstream.server_port};")
    server = re.sub(r"listen 443 ssl;", f"listen 127.0.0.1:{port};", server)
    server = re.sub(r"\n\s*ssl_certificate(_key)? [^\n]+;", "", server)
    (folder / "nginx.conf").write_text(
        "pid nginx.pid;\nerror_log error.log;\ndaemon off;\nworker_processes 1;\n"
        "events {}\nhttp {\n  access_log off;\n"
        "  client_body_temp_path tmp; proxy_temp_path tmp;\n" + server + "\n}\n",
        encoding="utf-8",
    )
    (folder / "tmp").mkdir()
    nginx = subprocess.Popen([str(NGINX), "-p", str(folder), "-c", "nginx.conf"])
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/webhooks/sms/", timeout=1)  # noqa: S310
                break
            except OSError:
                threading.Event().wait(0.05)
        yield base, upstream
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        upstream.shutdown()


def status(url: str, method: str = "GET") -> int:
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (loopback)
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/webhooks/sms/webhook"),
        ("POST", "/webhooks/telegram/webhook"),
        ("GET", "/webhooks/x/webhook?crc_token=abc"),
        ("POST", "/webhooks/x/webhook"),
        ("GET", "/webhooks/telegram/"),
    ],
)
def test_the_webhooks_pass(proxy: tuple[str, Upstream], method: str, path: str) -> None:
    base, upstream = proxy
    assert status(base + path, method) == 200
    assert upstream.seen[-1] == path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/conversations/sms:+351910000000/tracker"),
        ("POST", "/conversations/sms:+351910000000/tracker/events?execute_side_effects=true"),
        ("GET", "/status"),
        ("POST", "/model/parse"),
        ("GET", "/"),
        ("POST", "/webhooks/rest/webhook"),
        ("GET", "/webhooks/sms/webhook/../../conversations/x/tracker"),
        ("GET", "/webhooks/%2e%2e/conversations/x/tracker"),
        ("GET", "/webhooks/sms/webhookx"),
        ("DELETE", "/webhooks/sms/webhook"),
    ],
)
def test_nothing_else_reaches_rasa(proxy: tuple[str, Upstream], method: str, path: str) -> None:
    base, upstream = proxy
    before = len(upstream.seen)
    assert status(base + path, method) in (403, 404, 405)
    assert len(upstream.seen) == before
