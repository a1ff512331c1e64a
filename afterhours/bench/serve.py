"""`afterhours bench serve`: the running product end to end through its REST channel.

Each message is a held-out text (tests/heldout/, four languages: a realistic night's mix of
answers, handoffs and ignores) from a new conversation — a conversation with an open ticket would
only append to it — with the metadata a connector gives it (channel, public, sender, time). It
goes through the REST channel, the NLU pipeline, the policies, the action server (tickets in a
scratch queue) and rendering. Latency is per HTTP request; messages per second is the number
answered over the wall time, at each number of concurrent senders. CPU per message is the whole
machine's busy CPU time during a level (every process: Rasa, the action server, the databases,
this client) over the messages answered: with the number of cores it says how many messages a
second the machine could make at that cost.

Every request opens its own connection, as webhook deliveries from many customers do: with
kept-alive connections the kernel pins each sender to one Sanic worker when it connects, and a run
with several workers measured the luck of that draw (8 senders: 38 to 65 messages/s on the same
set-up).

Without `--url` the benchmark starts the action server and `rasa run` the way `afterhours run`
does, on free loopback ports, with a scratch queue and tracker database, and stops them after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from afterhours.bench.results import REPO, RESULTS_FILE, append_run, command_line

HELDOUT = REPO / "tests" / "heldout"
LANGUAGES = ("en", "pt", "es", "it")


@dataclass(frozen=True)
class LevelResult:
    """What one concurrency level measured."""

    senders: int
    messages: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]
    # The machine's busy CPU seconds during the level (None where /proc/stat is not there).
    cpu_seconds: float | None = None
    # CPU seconds of the benchmark's own processes (client and the servers it started).
    process_cpu_seconds: float | None = None

    @property
    def per_second(self) -> float:
        """Messages answered per second of wall time."""
        return (self.messages - self.errors) / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_message(self) -> float | None:
        """The machine's busy CPU time per message answered, in ms."""
        answered = self.messages - self.errors
        if self.cpu_seconds is None or not answered:
            return None
        return 1000 * self.cpu_seconds / answered

    @property
    def process_cpu_ms_per_message(self) -> float | None:
        """The benchmark's own processes' CPU time per message answered, in ms."""
        answered = self.messages - self.errors
        if self.process_cpu_seconds is None or not answered:
            return None
        return 1000 * self.process_cpu_seconds / answered

    def percentile(self, q: float) -> float:
        """Latency percentile in ms (NaN without samples)."""
        from afterhours.bench.scoring import percentile

        return percentile(list(self.latencies_ms), q)


def load_messages(folder: Path = HELDOUT) -> list[dict[str, Any]]:
    """The held-out lines (text, channel, public, sender, at, expect), language by language."""
    cases = []
    for language in LANGUAGES:
        path = folder / f"{language}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                cases.append(json.loads(line))
    return cases


def payload(case: dict[str, Any], run_id: str, index: int) -> dict[str, Any]:
    """The REST channel request for one case, from a conversation of its own."""
    sender = f"bench-{run_id}-{index}"
    return {
        "sender": f"{case['channel']}:{sender}",
        "message": case["text"],
        "metadata": {
            "channel": case["channel"],
            "public": case["public"],
            "sender": sender,
            "at": case["at"],
        },
    }


def expected_mix(cases: Sequence[dict[str, Any]]) -> str:
    """The decisions the held-out set expects for these cases, e.g. `answer 40%, handoff 45%`."""
    counts = Counter(c.get("expect", {}).get("decision", "?") for c in cases)
    total = sum(counts.values()) or 1
    return ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in counts.most_common())


async def run_level(
    url: str, cases: Sequence[dict[str, Any]], senders: int, messages: int, run_id: str
) -> LevelResult:
    """Sends `messages` cases with `senders` concurrent senders and times every request."""
    import aiohttp

    endpoint = url.rstrip("/") + "/webhooks/rest/webhook"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(messages):
        queue.put_nowait(index)
    latencies: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=120)
    # One connection per request (module docstring): requests spread over the server's workers.
    connector = aiohttp.TCPConnector(limit=senders, force_close=True)

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = payload(cases[index % len(cases)], f"{run_id}-{senders}", index)
            started = time.perf_counter()
            try:
                async with session.post(endpoint, json=body) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                        continue
            except (aiohttp.ClientError, asyncio.TimeoutError):
                errors += 1
                continue
            latencies.append(1000 * (time.perf_counter() - started))

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(senders)))
        seconds = time.perf_counter() - started
    return LevelResult(senders, messages, errors, seconds, tuple(latencies))


def busy_cpu_seconds(stat: Path = Path("/proc/stat")) -> float | None:
    """CPU seconds the machine has spent busy since boot, over all cores (Linux)."""
    try:
        first = stat.read_text(encoding="ascii").splitlines()[0].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    ticks = [int(value) for value in first[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def measured_level(
    url: str,
    cases: Sequence[dict[str, Any]],
    senders: int,
    messages: int,
    run_id: str,
    cpu: bool = True,
) -> LevelResult:
    """`run_level` with the CPU time spent during it (`cpu`: the servers run here).

    Both the machine's busy time and the benchmark's own process tree's (proc_cpu.py:
    what other people's jobs on a shared machine do not change).
    """
    from afterhours.bench.proc_cpu import tree_cpu_seconds

    before = busy_cpu_seconds() if cpu else None
    own_before = tree_cpu_seconds() if cpu else None
    result = asyncio.run(run_level(url, cases, senders, messages, run_id))
    after = busy_cpu_seconds() if cpu else None
    own_after = tree_cpu_seconds() if cpu else None
    if before is not None and after is not None:
        result = replace(result, cpu_seconds=after - before)
    if own_before is not None and own_after is not None:
        result = replace(result, process_cpu_seconds=own_after - own_before)
    return result


def _cpu_cell(result: LevelResult) -> str:
    cost = result.cpu_ms_per_message
    return "–" if cost is None else f"{cost:.1f}"


def _own_cpu_cell(result: LevelResult) -> str:
    cost = result.process_cpu_ms_per_message
    return "–" if cost is None else f"{cost:.1f}"


def table(results: Sequence[LevelResult]) -> str:
    """The levels as a Markdown table."""
    lines = [
        "| senders | messages | errors | p50 ms | p99 ms | messages/s | CPU ms/message "
        "| process CPU ms/message |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.senders} | {r.messages} | {r.errors} | {r.percentile(50):.0f} | "
            f"{r.percentile(99):.0f} | {r.per_second:.1f} | {_cpu_cell(r)} | {_own_cpu_cell(r)} |"
        )
    return "\n".join(lines)


POSTGRES_ENV = "AFTERHOURS_BENCH_POSTGRES_URL"
REDIS_ENV = "AFTERHOURS_BENCH_REDIS_URL"
SCALED_ENDPOINTS = REPO / "deploy" / "endpoints.scaled.yml"
# What each Rasa worker logs once its model is loaded (rasa.core.run.load_agent_on_start).
WORKER_READY = "Rasa server is up and running."


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A PostgreSQL database of its own (trackers and queue), dropped afterwards.

    The server comes from AFTERHOURS_BENCH_POSTGRES_URL (default: the local one, trust auth).

    Yields:
        The scratch database's URL.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(
        os.environ.get(POSTGRES_ENV, "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    name = f"afterhours_bench_{uuid.uuid4().hex[:10]}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    # pool_pre_ping: the fault benchmark restarts the server while this engine is open.
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", future=True, pool_pre_ping=True)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scaled_environment(database_url: str, action_url: str) -> dict[str, str]:
    """The variables deploy/endpoints.scaled.yml reads, for a database and the local Redis."""
    from urllib.parse import urlsplit

    from sqlalchemy.engine import make_url

    database = make_url(database_url)
    redis = urlsplit(os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379"))
    return {
        "AFTERHOURS_ACTION_URL": action_url,
        "AFTERHOURS_PG_HOST": database.host or "127.0.0.1",
        "AFTERHOURS_PG_PORT": str(database.port or 5432),
        "AFTERHOURS_PG_DB": database.database or "",
        "AFTERHOURS_PG_USER": database.username or "postgres",
        "AFTERHOURS_PG_PASSWORD": database.password or "",
        "AFTERHOURS_REDIS_HOST": redis.hostname or "127.0.0.1",
        "AFTERHOURS_REDIS_PORT": str(redis.port or 6379),
    }


@contextmanager
def started_server(
    model: str | None, database_url: str | None = None, workers: int = 1
) -> Iterator[tuple[str, float | None]]:
    """The action server and `rasa run` as `afterhours run` starts them, on scratch storage.

    Args:
        model: The model to serve (default: the newest in models/).
        database_url: A PostgreSQL database for the scaled set-up (deploy/endpoints.scaled.yml:
            trackers and queue in it, Redis lock store); None runs the embedded SQLite set-up on
            scratch files.
        workers: Sanic workers of the Rasa server (`SANIC_WORKERS`; more than one needs the
            scaled set-up's Redis lock store).

    Yields:
        (the Rasa server's URL, seconds from `rasa run` to every worker's loaded model).
    """
    if workers > 1 and not database_url:
        raise ValueError("several Rasa workers need the scaled set-up's Redis lock store")
    with (
        tempfile.TemporaryDirectory(prefix="afterhours-bench-serve-") as scratch_name,
        _servers(model, Path(scratch_name), database_url, workers) as served,
    ):
        yield served


def wait_for_workers(
    log_path: Path, workers: int, process: subprocess.Popen[bytes], timeout: float = 300.0
) -> None:
    """Waits until every Sanic worker has logged that its model is loaded.

    Raises:
        RuntimeError: the server died or the time ran out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Rasa server exited with code {process.returncode}")
        if log_path.read_text(encoding="utf-8").count(WORKER_READY) >= workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"not all {workers} Rasa workers were ready within {timeout:.0f} s")


@contextmanager
def _servers(
    model: str | None, scratch: Path, database_url: str | None, workers: int
) -> Iterator[tuple[str, float | None]]:
    from afterhours.models import newest_model
    from afterhours.runner import runtime_endpoints
    from bot.servers import (
        action_server_command,
        free_port,
        rasa_run_command,
        rasa_status_url,
        stop,
        wait_until_healthy,
    )
    from bot.settings import BRAND_ENV, DB_ENV, brand_path

    model_path = Path(model) if model else REPO / newest_model(REPO / "models")
    action_port, rasa_port = free_port(), free_port()
    action_url = f"http://127.0.0.1:{action_port}/webhook"
    env = dict(os.environ, **{BRAND_ENV: str(brand_path().resolve())})
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    if database_url:
        # The scaled set-up as README "Scaling out" runs it: every value from the environment.
        endpoints_path = SCALED_ENDPOINTS
        env.update(scaled_environment(database_url, action_url))
        env[DB_ENV] = database_url
        env["SANIC_WORKERS"] = str(workers)
    else:
        # The shipped SQLite set-up, on scratch files: realistic, and no trace left.
        endpoints_path = runtime_endpoints(
            action_port, REPO / "endpoints.yml", scratch, tracker_db=scratch / "trackers.db"
        )
        env[DB_ENV] = f"sqlite:///{scratch / 'queue.db'}"
    # Only the REST channel: it is what is measured, and the other connectors need secrets.
    credentials_path = scratch / "credentials.yml"
    credentials_path.write_text("rest:\n", encoding="utf-8")
    log = open(scratch / "servers.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        actions = subprocess.Popen(
            action_server_command(action_port), env=env, cwd=REPO, stdout=log, stderr=log
        )
        processes.append(actions)
        wait_until_healthy(f"http://127.0.0.1:{action_port}/health", actions)
        print(f"starting the Rasa server with {model_path.name} ...", flush=True)
        started = time.perf_counter()
        rasa = subprocess.Popen(
            rasa_run_command(model_path, rasa_port, endpoints_path, credentials_path),
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=log,
        )
        processes.append(rasa)
        wait_until_healthy(rasa_status_url(f"http://127.0.0.1:{rasa_port}"), rasa, timeout=300)
        if workers > 1:
            # /status answers as soon as one worker has its model; measure with all of them.
            log.flush()
            wait_for_workers(scratch / "servers.log", workers, rasa)
        yield f"http://127.0.0.1:{rasa_port}", time.perf_counter() - started
    except RuntimeError:
        log.flush()
        tail = (scratch / "servers.log").read_text(encoding="utf-8").splitlines()[-40:]
        print("\n".join(["the servers' log ends with:", *tail]), file=sys.stderr)
        raise
    finally:
        stop(processes)
        log.close()


@dataclass(frozen=True)
class ModelRun:
    """One model served under the benchmark's load (the shipped one, or stock Rasa beside it)."""

    label: str
    levels: tuple[LevelResult, ...]
    ready: float | None = None
    # Held-out set name -> (decision accuracy in %, wrong answers in %), when it was scored.
    heldout: tuple[tuple[str, float, float], ...] = ()


def heldout_scores(model: Path) -> tuple[tuple[str, float, float], ...]:
    """The model's decision accuracy and wrong answers on each shipped held-out set, in %.

    The same replay and scorer as `afterhours evaluate` (evaluation.py), in a process of its
    own, before any load is measured.
    """
    from afterhours.bench.evaluation import DEFAULT_SETS, evaluate, load_cases, rate, replay

    scores = []
    for folder in (f for f in DEFAULT_SETS if f.is_dir()):
        cases = load_cases(folder)
        overall = evaluate(replay(cases, str(model)), cases)["all"]
        scores.append(
            (
                folder.name,
                rate(overall.decision, overall.total),
                rate(overall.wrong_answers, overall.total),
            )
        )
    return tuple(scores)


def comparison_table(runs: Sequence[ModelRun]) -> str:
    """Every model's levels in one Markdown table, with its held-out scores on each row."""
    names = [name for name, _, _ in runs[0].heldout] if runs else []
    head = "| model | senders | messages | errors | p50 ms | p99 ms | messages/s | CPU ms/message |"
    head += " process CPU ms/message |"
    head += "".join(f" decision {n} | wrong answers {n} |" for n in names)
    lines = [head, "|---" * (9 + 2 * len(names)) + "|"]
    for model in runs:
        scores = "".join(f" {d:.1f}% | {w:.1f}% |" for _, d, w in model.heldout)
        for r in model.levels:
            lines.append(
                f"| {model.label} | {r.senders} | {r.messages} | {r.errors} | "
                f"{r.percentile(50):.0f} | {r.percentile(99):.0f} | {r.per_second:.1f} | "
                f"{_cpu_cell(r)} | {_own_cpu_cell(r)} |" + scores
            )
    return "\n".join(lines)


def _measure(
    args: argparse.Namespace, url: str, cases: Sequence[dict[str, Any]], run_id: str, label: str
) -> list[LevelResult]:
    if args.warmup:
        asyncio.run(run_level(url, cases, 1, args.warmup, f"{run_id}-warm"))
    results = []
    for senders in args.concurrency:
        # CPU only when the servers run on this machine (started here).
        result = measured_level(url, cases, senders, args.messages, run_id, cpu=not args.url)
        print(
            f"{label}: {senders:>3} senders: p50 {result.percentile(50):.0f} ms, "
            f"p99 {result.percentile(99):.0f} ms, {result.per_second:.1f} messages/s, "
            f"{result.errors} errors, machine CPU {_cpu_cell(result)} ms a message, "
            f"own processes {_own_cpu_cell(result)} ms",
            flush=True,
        )
        results.append(result)
    return results


def _serve_and_measure(
    args: argparse.Namespace,
    model: str | None,
    label: str,
    cases: Sequence[dict[str, Any]],
    run_id: str,
) -> tuple[list[LevelResult], float | None]:
    with ExitStack() as stack:
        if args.url:
            url, ready = args.url, None
        else:
            database_url = stack.enter_context(scratch_postgres_database()) if args.scaled else None
            url, ready = stack.enter_context(started_server(model, database_url, args.workers))
        return _measure(args, url, cases, f"{run_id}-{label.split()[0]}", label), ready


def _figures(args: argparse.Namespace, runs: Sequence[ModelRun], mix: str) -> dict[str, str]:
    figures: dict[str, str] = {}
    for model in runs:
        prefix = f"{model.label} " if len(runs) > 1 else ""
        for r in model.levels:
            figures[f"{prefix}{r.senders} sender{'s' if r.senders > 1 else ''}"] = (
                f"p50 {r.percentile(50):.0f} ms, p99 {r.percentile(99):.0f} ms, "
                f"{r.per_second:.1f} msg/s"
                + (f", {r.errors} errors" if r.errors else "")
                + (f", CPU {_cpu_cell(r)} ms/msg" if r.cpu_ms_per_message else "")
                + (
                    f", process CPU {_own_cpu_cell(r)} ms/msg"
                    if r.process_cpu_ms_per_message
                    else ""
                )
            )
        for name, decision, wrong in model.heldout:
            figures[f"{prefix}{name} decision"] = f"{decision:.1f}%, wrong answers {wrong:.1f}%"
        if model.ready is not None:
            figures[f"{prefix}server ready"] = f"{model.ready:.1f} s"
    figures["messages per level"] = str(args.messages)
    if not args.url:
        figures["set-up"] = (
            f"scaled (PostgreSQL, Redis), {args.workers} worker(s)"
            if args.scaled
            else "embedded (SQLite)"
        )
    figures["mix"] = mix
    figures["load avg"] = f"{os.getloadavg()[0]:.1f}"
    if args.note:
        figures["note"] = args.note
    return figures


def _usage_error(args: argparse.Namespace) -> str | None:
    if args.workers > 1 and not (args.scaled or args.url):
        return (
            "--workers above 1 needs --scaled (Rasa shares conversations between workers "
            "only through the Redis lock store)"
        )
    if args.stock and args.url:
        return "--stock starts stock Rasa's server itself: leave out --url"
    return None


def _models(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(label, model file) for each model to serve: the shipped one, then stock Rasa."""
    if not args.stock:
        return [("shipped", args.model)]
    from afterhours.bench.stock import stock_model
    from afterhours.models import newest_model

    shipped = Path(args.model) if args.model else REPO / newest_model(REPO / "models")
    stock = stock_model(Path(args.stock_cache) if args.stock_cache else None)
    return [("shipped", str(shipped)), ("stock Rasa", str(stock))]


def run(args: argparse.Namespace) -> int:
    """Runs every concurrency level, prints the table and appends it to the results file.

    With `--stock`, stock Rasa (stock.py) is trained once for the data, both models are
    scored on the held-out set first (so no replay runs while the load is measured), then each
    is served in turn under the same levels and messages.
    """
    problem = _usage_error(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    cases = load_messages()
    run_id = uuid.uuid4().hex[:8]
    models = _models(args)
    scores = {}
    if args.stock:
        for label, path in models:
            print(f"{label}: scoring {Path(str(path)).name} on the held-out sets ...", flush=True)
            scores[label] = heldout_scores(Path(str(path)))
    runs = []
    for label, path in models:
        levels, ready = _serve_and_measure(args, path, label, cases, run_id)
        runs.append(ModelRun(label, tuple(levels), ready, scores.get(label, ())))
    mix = expected_mix([cases[i % len(cases)] for i in range(args.messages)])
    print(comparison_table(runs) if args.stock else table(runs[0].levels))
    print(f"expected mix: {mix}")
    for model in runs:
        busiest = model.levels[-1] if model.levels else None
        cores = os.cpu_count() or 1
        for what, cost in (
            ("the machine's CPU", busiest.cpu_ms_per_message if busiest else None),
            ("its own processes' CPU", busiest.process_cpu_ms_per_message if busiest else None),
        ):
            if cost:
                # At the busiest level's cost, what the machine's cores would make flat out.
                print(
                    f"{model.label}: at {cost:.1f} ms of {what} a message, {cores} cores make "
                    f"at most {cores * 1000 / cost:.0f} messages/s"
                )
        if model.ready is not None:
            print(
                f"{model.label}: server ready {model.ready:.1f} s after `rasa run` started "
                "(model load included)"
            )
    if not args.no_record:
        target = Path(args.results) if args.results else RESULTS_FILE
        append_run("serve", command_line(), _figures(args, runs, mix), path=target)
        print(f"appended to {target}")
    failed = any(r.errors == r.messages for model in runs for r in model.levels)
    return 1 if failed else 0
