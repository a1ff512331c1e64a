"""`afterhours run`: the Rasa server, the action server and the scheduler as one product.

Each server is its own process (Rasa's way: `rasa run` and the rasa_sdk action server); the
runner starts them in order, waits until each answers, prints where they are, and on Ctrl-C or
SIGTERM stops them all — politely first, then for good.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from afterhours.models import newest_model
from bot.servers import (
    RASA_TOKEN_ENV,
    action_server_command,
    rasa_run_command,
    rasa_status_url,
    rasa_token,
    stop,
    wait_until_healthy,
)
from bot.settings import BRAND_ENV, DB_ENV, brand_path, check_database, database_url, load_brand
from handoff.queue import HandoffQueue


def runtime_endpoints(
    action_port: int,
    source: Path = Path("endpoints.yml"),
    folder: Path = Path("var"),
    tracker_db: Path | None = None,
) -> Path:
    """endpoints.yml with the action server's actual port (and, for scratch runs, SQLite file)."""
    endpoints: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    endpoints.setdefault("action_endpoint", {})["url"] = f"http://127.0.0.1:{action_port}/webhook"
    tracker = endpoints.get("tracker_store") or {}
    if tracker_db is not None and tracker.get("dialect") == "sqlite":
        tracker["db"] = str(tracker_db)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "endpoints.runtime.yml"
    target.write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    return target


def rasa_server_alone(
    endpoints: Path, port: int = 5005, interface: str = "127.0.0.1", model: str | None = None
) -> int:
    """Replaces this process with one `rasa run` of the scaled set-up (see README "Scaling out").

    Its HTTP API always needs the token: servers behind one balancer share
    ``$AFTERHOURS_RASA_TOKEN``, so this refuses to start without it. Only the channels whose
    variables are set are served, as with `afterhours run`.

    Raises:
        ConfigError: No token, or a channel with only some of its variables.
    """
    from bot.channels.config import live_channels, load_credentials, write_runtime_credentials
    from bot.settings import ConfigError

    if not os.environ.get(RASA_TOKEN_ENV):
        raise ConfigError(
            f"{RASA_TOKEN_ENV}: set it to the same random token on every Rasa server and desk "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    if not endpoints.is_file():
        raise ConfigError(f"--endpoints: {endpoints} does not exist")
    load_brand()
    live, report = live_channels(load_credentials("credentials.yml"))
    credentials = write_runtime_credentials(live, Path("var") / "credentials.runtime.yml")
    print("channels: " + "; ".join(report), flush=True)
    command = rasa_run_command(
        Path(model) if model else newest_model(), port, endpoints, credentials, interface=interface
    )
    os.execv(command[0], command)  # noqa: S606 - our own interpreter, our own arguments
    return 0  # pragma: no cover - execv does not return


def _api_token(folder: Path = Path("var")) -> str:
    """Makes sure Rasa's HTTP API has a token; says where an operator finds it (never its value).

    ``$AFTERHOURS_RASA_TOKEN`` if set; otherwise a new random one for this run, written to
    ``var/rasa.token`` (readable by this user only) for scripts that call the API.
    """
    if os.environ.get(RASA_TOKEN_ENV):
        return f"token: ${RASA_TOKEN_ENV}"
    token = rasa_token()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rasa.token"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return f"token for this run in {path}"


def _desk_has_accounts(queue: HandoffQueue) -> bool:
    """Whether anyone can sign in to the desk yet."""
    from desk.store import DeskStore

    return bool(DeskStore(queue.engine).agents())


def _banner(
    brand: str, ports: dict[str, int], token_note: str, db_url: str, channels: list[str]
) -> str:
    """What is running where, once everything answers (channels: which are live, which not)."""
    return (
        f"\nafterhours is running for {brand}:\n"
        f"  REST channel   POST http://127.0.0.1:{ports['rasa']}/webhooks/rest/webhook\n"
        f"  Rasa HTTP API  http://127.0.0.1:{ports['rasa']}/ ({token_note})\n"
        f"  action server  http://127.0.0.1:{ports['actions']}/health\n"
        f"  agent desk     http://127.0.0.1:{ports['desk']}/  (afterhours desk add-agent)\n"
        f"  queue          {db_url}  (afterhours queue list)\n"
        f"  scheduler      morning digest at each desk opening, promise watch every 5 min\n"
        "Press Ctrl-C to stop.\n"
        "channels: " + "; ".join(channels)
    )


def run_all(
    rasa_port: int = 5005,
    action_port: int = 5055,
    model: str | None = None,
    desk_port: int | None = None,
) -> int:
    """Runs everything until Ctrl-C; returns the exit code."""
    check_database(database_url())  # AFTERHOURS_DB_URL named, in one line, before anything starts
    brand = load_brand()  # a configuration error stops us before anything starts
    # -- channels (bot/channels/config.py): the live ones, variable names only, no secrets -------
    from bot.channels.config import live_channels, load_credentials, write_runtime_credentials

    # A channel with only some of its environment variables stops us here, naming the missing one.
    live, channel_report = live_channels(load_credentials("credentials.yml"))
    credentials_file = write_runtime_credentials(live, Path("var") / "credentials.runtime.yml")
    # -- end of the channels' part ---------------------------------------------------------------
    db_url = database_url()
    queue = HandoffQueue.from_url(db_url, migrate=True)
    # -- the agent desk (desk/): its tables, its port, where it finds Rasa's HTTP API ----------
    from desk.db import migrate as migrate_desk
    from desk.server import DEFAULT_PORT, PORT_ENV

    migrate_desk(queue.engine)
    desk_port = desk_port or int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
    os.environ.setdefault("AFTERHOURS_RASA_URL", f"http://127.0.0.1:{rasa_port}")
    # -- end of the desk's part ----------------------------------------------------------------
    model_path = Path(model) if model else newest_model()
    token_note = _api_token()
    env = dict(os.environ, **{DB_ENV: db_url, BRAND_ENV: str(brand_path().resolve())})
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    Path("var").mkdir(exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    console = Console(stderr=True)

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # Handle both explicitly: a runner started in the background inherits an ignored SIGINT.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = None
    try:
        print(f"starting the action server on 127.0.0.1:{action_port} ...", flush=True)
        actions = subprocess.Popen(action_server_command(action_port), env=env)
        processes.append(actions)
        wait_until_healthy(f"http://127.0.0.1:{action_port}/health", actions)

        # The agent desk is its own process too (it talks to Rasa over the HTTP API).
        print(f"starting the agent desk on 127.0.0.1:{desk_port} ...", flush=True)
        desk = subprocess.Popen(
            [sys.executable, "-m", "desk.server", "--port", str(desk_port)], env=env
        )
        processes.append(desk)
        wait_until_healthy(f"http://127.0.0.1:{desk_port}/health", desk)

        print(
            f"starting the Rasa server on 127.0.0.1:{rasa_port} with {model_path.name} ...",
            flush=True,
        )
        rasa = subprocess.Popen(
            rasa_run_command(
                model_path, rasa_port, runtime_endpoints(action_port), credentials_file
            ),
            env=env,
        )
        processes.append(rasa)
        # /status answers 200 only once the model is loaded.
        with console.status(
            f"starting the Rasa server on 127.0.0.1:{rasa_port} with {model_path.name} ..."
        ):
            wait_until_healthy(rasa_status_url(f"http://127.0.0.1:{rasa_port}"), rasa, timeout=300)

        from afterhours.scheduler import start_scheduler

        scheduler = start_scheduler(brand.calendar(), queue)
        ports = {"rasa": rasa_port, "actions": action_port, "desk": desk_port}
        print(_banner(brand.name, ports, token_note, db_url, channel_report), flush=True)
        if not _desk_has_accounts(queue):
            print(
                "No desk accounts yet: create one with "
                "`afterhours desk add-agent NAME --role supervisor`.",
                flush=True,
            )
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        failed = next(p for p in processes if p.poll() is not None)
        print(
            f"a server stopped unexpectedly (exit code {failed.returncode}); stopping the rest",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        stop(processes)
        queue.dispose()
