"""`afterhours bench serve`: the running product end to end through its REST channel.

Each message is a held-out text (tests/heldout/, four languages: a realistic night's mix of
answers, handoffs and ignores) from a new conversation — a conversation with an open ticket would
only append to it — with the metadata a connector gives it (channel, public, sender, time). It
goes through the REST channel, the NLU pipeline, the policies, the action server (tickets in a
scratch queue) and rendering. Latency is per HTTP request; messages per second is the number
answered over the wall time, at each number of concurrent senders.

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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.bench.results import REPO, RESULTS_FILE, append_run, command_line

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

    @property
    def per_second(self) -> float:
        """Messages answered per second of wall time."""
        return (self.messages - self.errors) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in ms (NaN without samples)."""
        from bot.bench.nlu import percentile

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
    connector = aiohttp.TCPConnector(limit=senders)

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


def table(results: Sequence[LevelResult]) -> str:
    """The levels as a Markdown table."""
    lines = [
        "| senders | messages | errors | p50 ms | p99 ms | messages/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.senders} | {r.messages} | {r.errors} | {r.percentile(50):.0f} | "
            f"{r.percentile(99):.0f} | {r.per_second:.1f} |"
        )
    return "\n".join(lines)


@contextmanager
def started_server(model: str | None) -> Iterator[tuple[str, float | None]]:
    """The action server and `rasa run` as `afterhours run` starts them, on scratch storage.

    Yields:
        (the Rasa server's URL, seconds from `rasa run` to a loaded model).
    """
    from bot.replay import (
        _free_port,
        action_server_command,
        newest_model,
        wait_until_healthy,
    )
    from bot.runner import stop
    from bot.settings import BRAND_ENV, DB_ENV, brand_path

    model_path = Path(model) if model else REPO / newest_model(REPO / "models")
    with tempfile.TemporaryDirectory(prefix="afterhours-bench-serve-") as scratch_name:
        scratch = Path(scratch_name)
        action_port, rasa_port = _free_port(), _free_port()
        endpoints: dict[str, Any] = (
            yaml.safe_load((REPO / "endpoints.yml").read_text(encoding="utf-8")) or {}
        )
        endpoints.setdefault("action_endpoint", {})["url"] = (
            f"http://127.0.0.1:{action_port}/webhook"
        )
        # The shipped SQLite tracker store, on a scratch file: realistic, and no trace left.
        tracker = endpoints.get("tracker_store") or {}
        if tracker.get("dialect") == "sqlite":
            tracker["db"] = str(scratch / "trackers.db")
        # Only the REST channel: it is what is measured, and the other connectors need secrets.
        credentials_path = scratch / "credentials.yml"
        credentials_path.write_text("rest:\n", encoding="utf-8")
        endpoints_path = scratch / "endpoints.yml"
        endpoints_path.write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
        env = dict(
            os.environ,
            **{
                DB_ENV: f"sqlite:///{scratch / 'queue.db'}",
                BRAND_ENV: str(brand_path().resolve()),
            },
        )
        env.setdefault("RASA_TELEMETRY_ENABLED", "false")
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
                [
                    sys.executable, "-m", "rasa", "run",
                    "--model", str(model_path),
                    "--enable-api",
                    "--port", str(rasa_port),
                    "--interface", "127.0.0.1",
                    "--endpoints", str(endpoints_path),
                    "--credentials", str(credentials_path),
                ],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=log,
            )  # fmt: skip
            processes.append(rasa)
            wait_until_healthy(f"http://127.0.0.1:{rasa_port}/status", rasa, timeout=300)
            yield f"http://127.0.0.1:{rasa_port}", time.perf_counter() - started
        except RuntimeError:
            log.flush()
            tail = (scratch / "servers.log").read_text(encoding="utf-8").splitlines()[-40:]
            print("\n".join(["the servers' log ends with:", *tail]), file=sys.stderr)
            raise
        finally:
            stop(processes)
            log.close()


def run(args: argparse.Namespace) -> int:
    """Runs every concurrency level, prints the table and appends it to the results file."""
    cases = load_messages()
    run_id = uuid.uuid4().hex[:8]
    with started_server(args.model) if not args.url else _given(args.url) as (url, ready):
        if args.warmup:
            asyncio.run(run_level(url, cases, 1, args.warmup, f"{run_id}-warm"))
        results = []
        for senders in args.concurrency:
            result = asyncio.run(run_level(url, cases, senders, args.messages, run_id))
            print(
                f"{senders:>3} senders: p50 {result.percentile(50):.0f} ms, "
                f"p99 {result.percentile(99):.0f} ms, {result.per_second:.1f} messages/s, "
                f"{result.errors} errors",
                flush=True,
            )
            results.append(result)
    mix = expected_mix([cases[i % len(cases)] for i in range(args.messages)])
    print(table(results))
    print(f"expected mix: {mix}")
    if ready is not None:
        print(f"server ready {ready:.1f} s after `rasa run` started (model load included)")
    if not args.no_record:
        figures: dict[str, str] = {
            f"{r.senders} sender{'s' if r.senders > 1 else ''}": (
                f"p50 {r.percentile(50):.0f} ms, p99 {r.percentile(99):.0f} ms, "
                f"{r.per_second:.1f} msg/s" + (f", {r.errors} errors" if r.errors else "")
            )
            for r in results
        }
        figures["messages per level"] = str(args.messages)
        figures["mix"] = mix
        if ready is not None:
            figures["server ready"] = f"{ready:.1f} s"
        figures["load avg"] = f"{os.getloadavg()[0]:.1f}"
        if args.note:
            figures["note"] = args.note
        target = Path(args.results) if args.results else RESULTS_FILE
        append_run("serve", command_line(), figures, path=target)
        print(f"appended to {target}")
    return 1 if any(r.errors == r.messages for r in results) else 0


@contextmanager
def _given(url: str) -> Iterator[tuple[str, float | None]]:
    yield url, None
