"""The servers a channel benchmark runs, on loopback: fake platforms, action server, `rasa run`.

:func:`channel_stack` starts what `afterhours run` starts — the action server and `rasa run` with
the given channels in its credentials — on free loopback ports, pointing each connector at its
fake platform (a :class:`Driver`). By default everything is on scratch SQLite files; with a
PostgreSQL database it is the scaled set-up (``deploy/endpoints.scaled.yml``: trackers, queue and
inbox in PostgreSQL, the Redis lock store), and it may run several Rasa servers side by side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NIGHT_BRAND = Path(__file__).with_name("brand_night.yml")


class Driver:
    """A channel's side of the benchmark: its fake platform and how customers write.

    Subclasses: :class:`TelegramDriver`, :class:`SmsDriver`.
    """

    name = ""
    class_path = ""

    def start(self) -> None:
        """Starts the fake platform."""

    def stop(self) -> None:
        """Stops it."""

    def options(self, rasa_url: str) -> dict[str, Any]:
        """The channel's credentials.yml entry (variable names, not values)."""
        raise NotImplementedError

    def secrets(self) -> dict[str, str]:
        """The environment variables the entry names."""
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the channel is ready once the server is (e.g. its webhook registered)."""
        return True

    def customer(self, index: int) -> str:
        """The key of the index-th customer of a run."""
        raise NotImplementedError

    def send(self, messages: Sequence[tuple[str, str]]) -> dict[str, float]:
        """Sends (customer, text) messages all at once; returns when each was sent."""
        raise NotImplementedError

    def replies(self) -> dict[str, list[tuple[float, str]]]:
        """Every reply received so far, by customer."""
        raise NotImplementedError

    def violations(self) -> int:
        """Sends that broke the platform's limits."""
        return 0


@dataclass
class ChannelStack:
    """The fake platforms, the action server and `rasa run` with their channels."""

    drivers: list[Driver]
    scratch: Path
    db_url: str
    rasa_port: int
    log_path: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ready_seconds: float | None = None
    #: How each server was started ("actions", "rasa"): the fault benchmark restarts them.
    commands: dict[str, list[str]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        """The Rasa server (HTTP API enabled)."""
        return f"http://127.0.0.1:{self.rasa_port}"

    def inbox(self) -> Any:
        """The inbox the server writes to (close it with ``dispose``)."""
        from bot.channels.inbox import Inbox

        return Inbox.from_url(self.db_url, migrate=False)

    def log_tail(self, lines: int = 80) -> str:
        """The end of the servers' log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_gently(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """Stops a server as Ctrl-C would (listeners run, tasks drain), killing it after ``grace``."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does: listeners run, tasks drain
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def channel_stack(
    drivers: Sequence[Driver],
    model: Path,
    *,
    brand: Path | None = None,
    keep_dir: Path | None = None,
    timeout: float = 300.0,
    database_url: str | None = None,
    servers: int = 1,
) -> Iterator[ChannelStack]:
    """Runs the fakes and the servers for the duration of the block.

    Args:
        drivers: The channels (every Rasa server serves them all).
        model: The trained model.
        brand: The brand file (default $AFTERHOURS_BRAND or brand.yml).
        keep_dir: Keep the logs and databases here instead of a temporary folder.
        timeout: Seconds to wait for the model to load.
        database_url: A PostgreSQL database: the scaled set-up (see the module). None: SQLite.
        servers: Rasa servers side by side (the scaled set-up only). The i-th driver's platform
            calls the webhooks of server ``i % servers``, as a load balancer would spread them.

    Raises:
        RuntimeError: A server did not start (the log's end is in the message).
    """
    from bot.servers import action_server_command, free_port, wait_until_healthy

    if servers > 1 and not database_url:
        raise ValueError("several Rasa servers need the scaled set-up (a PostgreSQL database)")
    with tempfile.TemporaryDirectory(prefix="afterhours-ch-") as tmp, ExitStack() as cleanup:
        scratch = keep_dir or Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        for driver in drivers:
            driver.start()
            cleanup.callback(driver.stop)
        action_port, ports = free_port(), [free_port() for _ in range(servers)]
        env, db_url, endpoints = _environment(drivers, scratch, action_port, database_url, brand)
        credentials = _credentials(drivers, scratch, ports)
        log_path = scratch / "servers.log"
        log = cleanup.enter_context(open(log_path, "w", encoding="utf-8"))
        stack = ChannelStack(list(drivers), scratch, db_url, ports[0], log_path)
        stack.env = env
        stack.commands = {"actions": action_server_command(action_port)}
        started = time.perf_counter()
        actions = subprocess.Popen(
            stack.commands["actions"], env=env, cwd=REPO, stdout=log, stderr=log
        )
        stack.processes.append(actions)
        cleanup.callback(stop_gently, actions, 10.0)
        wait_until_healthy(f"http://127.0.0.1:{action_port}/health", actions)
        for number, port in enumerate(ports):
            role = "rasa" if number == 0 else f"rasa-{number + 1}"
            stack.commands[role] = _rasa_command(model, port, endpoints, credentials)
            rasa = subprocess.Popen(stack.commands[role], env=env, cwd=REPO, stdout=log, stderr=log)
            stack.processes.append(rasa)
            cleanup.callback(stop_gently, rasa)
            _wait_ready(stack, rasa, port, timeout, log)
        stack.ready_seconds = time.perf_counter() - started
        yield stack


def _rasa_command(model: Path, port: int, endpoints: Path, credentials: Path) -> list[str]:
    from bot.servers import rasa_run_command

    return rasa_run_command(model, port, endpoints, credentials)


def _environment(
    drivers: Sequence[Driver],
    scratch: Path,
    action_port: int,
    database_url: str | None,
    brand: Path | None,
) -> tuple[dict[str, str], str, Path]:
    """The servers' environment, the queue's database and the endpoints file."""
    from afterhours.runner import runtime_endpoints
    from bot.settings import BRAND_ENV, DB_ENV, brand_path

    env = dict(os.environ)
    for driver in drivers:
        env.update(driver.secrets())
    if database_url:
        from afterhours.bench.serve import SCALED_ENDPOINTS, scaled_environment

        action_url = f"http://127.0.0.1:{action_port}/webhook"
        env.update(scaled_environment(database_url, action_url))
        db_url, endpoints = database_url, SCALED_ENDPOINTS
    else:
        db_url = f"sqlite:///{scratch / 'queue.db'}"
        endpoints = runtime_endpoints(
            action_port, REPO / "endpoints.yml", scratch, tracker_db=scratch / "trackers.db"
        )
    env.update({DB_ENV: db_url, BRAND_ENV: str((brand or brand_path()).resolve())})
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env, db_url, endpoints


def _credentials(drivers: Sequence[Driver], scratch: Path, ports: Sequence[int]) -> Path:
    """credentials.yml: the REST channel and each driver's, pointed at its server."""
    import yaml

    entries: dict[str, Any] = {"rest": None}
    for index, driver in enumerate(drivers):
        entries[driver.class_path] = driver.options(f"http://127.0.0.1:{ports[index % len(ports)]}")
    path = scratch / "credentials.yml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
    return path


def _wait_ready(
    stack: ChannelStack, rasa: subprocess.Popen[bytes], port: int, timeout: float, log: Any
) -> None:
    """Waits for a Rasa server's model and for every channel to be ready."""
    from bot.servers import rasa_status_url, wait_until_healthy

    try:
        wait_until_healthy(rasa_status_url(f"http://127.0.0.1:{port}"), rasa, timeout=timeout)
        deadline = time.monotonic() + 60
        while not all(d.ready() for d in stack.drivers):
            if rasa.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("a channel did not get ready")
            time.sleep(0.05)
    except RuntimeError as error:
        log.flush()
        raise RuntimeError(f"{error}\n--- servers' log ---\n{stack.log_tail()}") from error
