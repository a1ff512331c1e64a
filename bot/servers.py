"""The product's servers as processes: how each is started, waited for and stopped.

- the Rasa server (``rasa run``) always with its HTTP API behind a token (``--auth-token``): only
  the webhooks (``/webhooks/*``) and Rasa's hello page answer without it;
- the action server (rasa_sdk) on loopback unless ``AFTERHOURS_ACTION_HOST`` says otherwise,
  since anyone who reaches it can run the custom actions;
- :func:`wait_until_healthy` and :func:`stop`, shared by ``afterhours run``, replay and the
  benchmarks.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bot.action_server import ACTION_HOST_ENV

__all__ = [
    "ACTION_HOST_ENV",
    "RASA_TOKEN_ENV",
    "action_server_command",
    "free_port",
    "rasa_api_url",
    "rasa_run_command",
    "rasa_status_url",
    "rasa_token",
    "stop",
    "wait_until_healthy",
]

#: Rasa's ``--auth-token``: set it for servers started elsewhere; otherwise one is made per run.
RASA_TOKEN_ENV = "AFTERHOURS_RASA_TOKEN"
#: How long a stopping server gets after SIGTERM before SIGKILL.
STOP_GRACE_SECONDS = 15


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rasa_token() -> str:
    """The token of Rasa's HTTP API: ``$AFTERHOURS_RASA_TOKEN``, or a new random one.

    A new one is put in this process's environment, so the servers it starts (the desk) share it.
    """
    token = os.environ.get(RASA_TOKEN_ENV)
    if not token:
        token = secrets.token_urlsafe(32)
        os.environ[RASA_TOKEN_ENV] = token
    return token


def action_server_command(port: int) -> list[str]:
    """The command that starts the project's action server (see :mod:`bot.action_server`)."""
    return [sys.executable, "-m", "bot.action_server", "--actions", "actions", "--port", str(port)]


def rasa_run_command(
    model: Path, port: int, endpoints: Path, credentials: Path, *, interface: str = "127.0.0.1"
) -> list[str]:
    """``rasa run`` (through :mod:`bot.rasa_server`) with its HTTP API behind :func:`rasa_token`."""
    return [
        sys.executable, "-m", "bot.rasa_server", "run",
        "--model", str(model),
        "--enable-api",
        "--auth-token", rasa_token(),
        "--port", str(port),
        "--interface", interface,
        "--endpoints", str(endpoints),
        "--credentials", str(credentials),
    ]  # fmt: skip


def rasa_api_url(base_url: str, path: str, **query: str) -> str:
    """A URL of Rasa's HTTP API with the token, e.g. ``rasa_api_url(url, "/status")``."""
    return (
        f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode({**query, 'token': rasa_token()})}"
    )


def rasa_status_url(base_url: str) -> str:
    """Rasa's ``/status`` with the token: 200 once the model is loaded."""
    return rasa_api_url(base_url, "/status")


def _shown(url: str) -> str:
    """The URL without its query: a token never reaches a message."""
    return url.split("?", 1)[0]


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes] | None, timeout: float = 60.0
) -> None:
    """Waits for a server's health endpoint to answer 200.

    Raises:
        RuntimeError: the process died or the time ran out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{_shown(url)} exited with code {process.returncode} before it was ready"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{_shown(url)} did not become healthy within {timeout:.0f} s")


def stop(processes: Sequence[subprocess.Popen[bytes]], grace: float = STOP_GRACE_SECONDS) -> None:
    """Stops child processes: SIGTERM, a grace period, then SIGKILL."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
