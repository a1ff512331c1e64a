"""The desk as its own process (what `afterhours run` starts), and its imports stay light."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bot.servers import wait_until_healthy
from tests.desk.conftest import ROOT

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_desk_server_process(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ, AFTERHOURS_DB_URL=f"sqlite:///{tmp_path / 'queue.db'}")
    process = subprocess.Popen(
        [sys.executable, "-m", "desk.server", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", process, timeout=60)
        login = requests.get(f"http://127.0.0.1:{port}/queue", timeout=5)
        assert login.url.endswith("/login?next=%2Fqueue") and "Sign in" in login.text
        css = requests.get(f"http://127.0.0.1:{port}/static/desk.css", timeout=5)
        assert css.status_code == 200 and "--accent" in css.text
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_desk_imports_no_tensorflow() -> None:
    code = (
        "import sys\n"
        "import desk.app, desk.cli, desk.digest, desk.export, afterhours.bench.desk, desk.server\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'rasa')))\n"
        "import afterhours.cli\n"
        "afterhours.cli.build_parser()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-2:] == ["[]", "[]"]
