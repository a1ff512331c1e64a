"""`afterhours bench faults`: kill the servers mid-burst and count what was lost or sent twice.

It runs what `afterhours run` runs — the action server and `rasa run` with the SMS and Telegram
connectors — on loopback against the fake platforms (``fakes/``), with the real client
libraries, inbox, NLU, policies, actions and queue. For each scenario it sends a burst of
messages, each from a new customer, half by SMS and half by Telegram, about a fifth of them
needing a person (a ticket and a promise), the rest routine questions. Once about a third has
been answered, it ``kill -9``s one server, waits a moment, starts it again and waits for the rest:

- ``rasa``: the Rasa server (connectors, inbox, NLU, policies) dies;
- ``actions``: the action server dies, so handoffs fail in Rasa until it is back;
- ``postgres`` (``--scaled`` only): PostgreSQL, which holds the trackers, the queue and the inbox,
  restarts (``pg_ctlcluster ... restart``, or ``$AFTERHOURS_BENCH_PG_RESTART``).

With ``--scaled`` it runs the scaled set-up instead (``deploy/endpoints.scaled.yml`` on a scratch
PostgreSQL database and the local Redis) with two Rasa servers: SMS webhooks reach the first,
Telegram's the second, and ``rasa`` kills the first — the second takes over its unfinished work.

For each it prints: messages sent, answered, handoffs expected, tickets, lost (no reply, or a
handoff without its ticket), duplicated replies (the same text twice to one customer), duplicate
tickets (two for one conversation), unfinished inbox entries, and the seconds from the restart to
the server being ready and to the last reply. Every figure must be 0 where it counts what went
wrong. Each run appends a row to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afterhours.bench.channels import QUESTIONS, SmsDriver, TelegramDriver
from afterhours.bench.stack import (
    NIGHT_BRAND,
    REPO,
    ChannelStack,
    Driver,
    channel_stack,
    stop_gently,
)

#: Messages that need a person with the night brand (a ticket and a promise), in four languages.
HANDOFFS = (
    "I want to talk to a real person please",
    "you charged me twice this month, my bill is wrong",
    "quero falar com uma pessoa, por favor",
    "quiero hablar con una persona",
    "voglio parlare con un operatore",
)
SCENARIOS = ("rasa", "actions", "postgres")
#: Restarts the local PostgreSQL (Debian's cluster tools); $AFTERHOURS_BENCH_PG_RESTART overrides.
PG_RESTART_ENV = "AFTERHOURS_BENCH_PG_RESTART"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the `bench faults` options."""
    parser.add_argument(
        "--messages", type=int, default=500, help="messages in each burst (default 500)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="which server to kill (repeatable; default: rasa, then actions; with --scaled: "
        "rasa, then postgres)",
    )
    parser.add_argument(
        "--scaled",
        action="store_true",
        help="the scaled set-up: PostgreSQL, Redis, two Rasa servers",
    )
    parser.add_argument(
        "--down", type=float, default=3.0, help="seconds a killed server stays down (default 3)"
    )
    parser.add_argument("--model", type=Path, default=None, help="model (default: the newest)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the logs and databases here")
    parser.add_argument("--note", default="", help="a word on the run, written with its row")
    parser.add_argument(
        "--no-record", action="store_true", help="do not append the rows to benchmarks/results.md"
    )


@dataclass(frozen=True)
class Message:
    """One customer's message in a burst."""

    driver: Driver
    key: str
    text: str
    handoff: bool

    @property
    def conversation(self) -> str:
        """Rasa's sender id (and the queue's conversation id)."""
        return f"{self.driver.name}:{self.key}"


@dataclass(frozen=True)
class FaultResult:
    """What one scenario counted."""

    scenario: str
    sent: int
    answered: int
    handoffs: int
    tickets: int
    lost: int
    duplicated: int
    duplicate_tickets: int
    unfinished: int
    ready_seconds: float
    recovery_seconds: float
    fault_seconds: float
    pickup_seconds: float
    #: How long before the fault the earliest duplicated reply first went out (ms): a reply the
    #: platform took in the instant before the crash, before the ledger could record it.
    duplicate_before_ms: float = math.nan

    def row(self) -> dict[str, object]:
        """The figures for benchmarks/results.md."""
        return {
            "fault": self.scenario,
            "sent": self.sent,
            "answered": self.answered,
            "handoffs": self.handoffs,
            "tickets": self.tickets,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "duplicate tickets": self.duplicate_tickets,
            "unfinished": self.unfinished,
            "ready after restart": f"{self.ready_seconds:.1f} s",
            "restart to last reply": f"{self.recovery_seconds:.1f} s",
            "fault to last reply": f"{self.fault_seconds:.1f} s",
            "restart to first reply of an unfinished one": f"{self.pickup_seconds:.1f} s",
            "duplicates first sent before the fault": (
                f"≤ {self.duplicate_before_ms:.0f} ms" if self.duplicated else "-"
            ),
        }

    @property
    def clean(self) -> bool:
        """Nothing lost, nothing twice, everything finished."""
        return not (self.lost or self.duplicated or self.duplicate_tickets or self.unfinished)


def burst(drivers: Sequence[Driver], count: int, first: int) -> list[Message]:
    """``count`` messages from new customers, alternating channels, one in five a handoff."""
    messages = []
    for index in range(count):
        driver = drivers[index % len(drivers)]
        handoff = index % 5 == 4
        pool = HANDOFFS if handoff else QUESTIONS
        text = pool[(index // 5 if handoff else index) % len(pool)]
        messages.append(Message(driver, driver.customer(first + index), text, handoff))
    return messages


def send(messages: Sequence[Message]) -> None:
    """Each driver delivers its share all at once, as its platform would."""
    for driver in {m.driver.name: m.driver for m in messages}.values():
        driver.send([(m.key, m.text) for m in messages if m.driver is driver])


def replies_of(messages: Sequence[Message]) -> dict[str, list[tuple[float, str]]]:
    """Every reply received so far by the burst's customers."""
    found: dict[str, list[tuple[float, str]]] = {}
    for driver in {m.driver.name: m.driver for m in messages}.values():
        for key, got in driver.replies().items():
            found[f"{driver.name}:{key}"] = got
    wanted = {m.conversation for m in messages}
    return {key: got for key, got in found.items() if key in wanted}


def wait_for(messages: Sequence[Message], share: float, timeout: float) -> None:
    """Waits until ``share`` of the customers got a reply (or the time is up)."""
    deadline = time.monotonic() + timeout
    while len(replies_of(messages)) < share * len(messages) and time.monotonic() < deadline:
        time.sleep(0.1)


def kill(stack: ChannelStack, role: str) -> None:
    """``kill -9`` of a server."""
    process = _process(stack, role)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def restart_postgres() -> None:
    """Restarts the local PostgreSQL server (every connection to it breaks)."""
    command = os.environ.get(PG_RESTART_ENV)
    if command:
        subprocess.run(command, shell=True, check=True)  # noqa: S602 - the operator's command
        return
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True
    )


def restart(stack: ChannelStack, role: str) -> subprocess.Popen[bytes]:
    """Starts a killed server again, as it was started, logging to the same file."""
    with open(stack.log_path, "a", encoding="utf-8") as log:
        process = subprocess.Popen(
            stack.commands[role], env=stack.env, cwd=REPO, stdout=log, stderr=log
        )
    index = stack.processes.index(_process(stack, role))
    stack.processes[index] = process
    return process


def _process(stack: ChannelStack, role: str) -> subprocess.Popen[bytes]:
    command = stack.commands[role]
    return next(p for p in stack.processes if p.args == command)


def _health_url(stack: ChannelStack, role: str) -> str:
    from bot.servers import rasa_status_url

    command = stack.commands[role]
    base = f"http://127.0.0.1:{command[command.index('--port') + 1]}"
    return rasa_status_url(base) if role.startswith("rasa") else f"{base}/health"


def _wait_for_postgres(db_url: str, timeout: float = 120.0) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url, future=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except Exception:  # noqa: BLE001 - still restarting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


def tickets_by_conversation(db_url: str) -> dict[str, int]:
    """How many tickets each conversation has in the queue."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url, future=True)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT conversation_id, count(*) FROM handoff_tickets GROUP BY 1")
            ).all()
    finally:
        engine.dispose()
    return {str(conversation): int(count) for conversation, count in rows}


def scenario(
    stack: ChannelStack, role: str, messages: Sequence[Message], down: float, timeout: float
) -> FaultResult:
    """Sends the burst, kills ``role`` a third of the way through, restarts it, counts."""
    from bot.servers import wait_until_healthy

    send(messages)
    wait_for(messages, 0.3, timeout)
    answered_before = set(replies_of(messages))
    fault_at = time.monotonic()
    if role == "postgres":
        restarted_at = fault_at
        restart_postgres()
        _wait_for_postgres(stack.db_url)
    else:
        kill(stack, role)
        time.sleep(down)
        restarted_at = time.monotonic()
        process = restart(stack, role)
        wait_until_healthy(_health_url(stack, role), process, timeout=300)
    ready = time.monotonic() - restarted_at
    wait_for(messages, 1.0, timeout)
    time.sleep(5.0)  # a late duplicate would come now
    result = count(stack, role, messages, (fault_at, restarted_at), ready)
    later = [
        min(at for at, _ in got)
        for key, got in replies_of(messages).items()
        if key not in answered_before and got
    ]
    pickup = max(0.0, min(later, default=math.nan) - restarted_at)
    return dataclasses.replace(result, pickup_seconds=pickup)


def count(
    stack: ChannelStack,
    role: str,
    messages: Sequence[Message],
    moments: tuple[float, float],
    ready: float,
) -> FaultResult:
    """Scores a scenario from the platforms' records, the queue and the inbox."""
    replies = replies_of(messages)
    tickets = tickets_by_conversation(stack.db_url)
    fault_at, restarted_at = moments
    lost = duplicated = 0
    before_fault: list[float] = []
    for message in messages:
        timed = sorted(replies.get(message.conversation, []))
        got = [text for _, text in timed]
        if len(got) != len(set(got)):
            duplicated += len(got) - len(set(got))
            before_fault.append(1000 * (fault_at - timed[0][0]))
        if not got or (message.handoff and not tickets.get(message.conversation)):
            lost += 1
    last = max((at for got in replies.values() for at, _ in got), default=math.nan)
    inbox = stack.inbox()
    try:
        unfinished = sum(
            inbox.counts(name)["received"] + inbox.counts(name)["failed"]
            for name in {m.driver.name for m in messages}
        )
    finally:
        inbox.dispose()
    ours = [tickets.get(m.conversation, 0) for m in messages]
    return FaultResult(
        scenario=role,
        sent=len(messages),
        answered=len(replies),
        handoffs=sum(1 for m in messages if m.handoff),
        tickets=sum(ours),
        lost=lost,
        duplicated=duplicated,
        duplicate_tickets=sum(n - 1 for n in ours if n > 1),
        unfinished=unfinished,
        ready_seconds=ready,
        recovery_seconds=max(0.0, last - restarted_at),
        fault_seconds=max(0.0, last - fault_at),
        pickup_seconds=math.nan,
        duplicate_before_ms=max(before_fault, default=math.nan),
    )


def run_faults(
    model: Path | None,
    messages: int,
    scenarios: Sequence[str],
    down: float = 3.0,
    keep: Path | None = None,
    database_url: str | None = None,
) -> list[FaultResult]:
    """Runs the scenarios one after the other on one stack (new customers for each).

    Args:
        model: The model (default: the newest in models/).
        messages: Messages in each scenario's burst.
        scenarios: Which faults, in order (see the module).
        down: Seconds a killed server stays down.
        keep: Keep the logs and databases here.
        database_url: A scratch PostgreSQL database: the scaled set-up with two Rasa servers.

    Returns:
        One result per scenario.
    """
    from afterhours.models import newest_model

    if "postgres" in scenarios and not database_url:
        raise ValueError("the postgres scenario needs --scaled")
    model_path = model or newest_model(REPO / "models")
    drivers: list[Driver] = [SmsDriver(), TelegramDriver()]
    results = []
    timeout = max(300.0, messages * 1.0)
    servers = 2 if database_url else 1
    with channel_stack(
        drivers,
        model_path,
        brand=NIGHT_BRAND,
        keep_dir=keep,
        database_url=database_url,
        servers=servers,
    ) as stack:
        warm = burst(drivers, len(drivers), 900_000)
        send(warm)
        wait_for(warm, 1.0, 300)
        try:
            for number, role in enumerate(scenarios):
                batch = burst(drivers, messages, number * 100_000)
                results.append(scenario(stack, role, batch, down, timeout))
        finally:
            # The restarted servers are ours to stop (the stack stops the ones it started).
            for process in stack.processes:
                stop_gently(process)
    return results


def table(results: Sequence[FaultResult]) -> str:
    """The figures, one column per scenario."""
    names = list(results[0].row()) if results else []
    rows = [(name, [str(r.row()[name]) for r in results]) for name in names]
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"  {name:<{width}}  " + "  ".join(f"{v:>22}" for v in values)
                     for name, values in rows)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark and prints its table.

    Returns:
        0 when nothing was lost, duplicated or left unfinished in any scenario, else 1.
    """
    if args.scaled:
        from afterhours.bench.serve import scratch_postgres_database

        scenarios = args.scenario or ["rasa", "postgres"]
        with scratch_postgres_database() as database_url:
            results = run_faults(
                args.model, args.messages, scenarios, args.down, args.keep, database_url
            )
    else:
        scenarios = args.scenario or ["rasa", "actions"]
        results = run_faults(args.model, args.messages, scenarios, args.down, args.keep)
    print(f"afterhours bench faults --messages {args.messages}{' --scaled' if args.scaled else ''}")
    print(table(results))
    if not args.no_record:
        from afterhours.bench.results import append_run, command_line

        for result in results:
            figures: dict[str, Any] = dict(result.row())
            figures["load"] = f"{os.getloadavg()[0]:.1f}"
            if args.note:
                figures["note"] = args.note
            append_run("faults", command_line(), figures)
    return 0 if all(r.clean for r in results) else 1
