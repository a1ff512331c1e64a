"""`afterhours demo`: the shipped night through the real pipeline, shown as the morning sees it."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.queue_cli import tickets_table
from bot.replay import (
    Replayer,
    ReplayResult,
    newest_model,
    parse_line,
    replay_environment,
    replay_lines,
)
from bot.settings import load_brand
from handoff.queue import HandoffQueue

DECISION_STYLE = {"answer": "green", "handoff": "yellow", "ignore": "dim"}


def night_table(lines: list[str], results: list[ReplayResult], zone: str) -> Table:
    """What happened to each message of the night."""
    table = Table(title="The night, message by message", title_justify="left", show_lines=True)
    for column in ("time", "channel", "customer", "message", "decision", "why / topic", "reply"):
        table.add_column(column, overflow="fold")
    by_line = iter(results)
    for raw in lines:
        if not raw.strip():
            continue
        result = next(by_line)
        try:
            inbound = parse_line(raw)
        except ValueError:
            table.add_row("-", "-", "-", raw[:60], "[red]error[/red]", result.error or "", "")
            continue
        when = inbound.at.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")
        channel = f"{inbound.channel}{' public' if inbound.public else ''}"
        decision = result.decision or "error"
        why = result.topic or result.reason or result.error or ""
        if result.ticket:
            why += f" → ticket #{result.ticket}"
        reply = "\n".join(
            f"{'[public] ' if r['public'] else ''}{r['text']}" for r in result.replies
        )
        table.add_row(
            when,
            channel,
            inbound.sender,
            inbound.text[:140],
            f"[{DECISION_STYLE.get(decision, 'red')}]{decision}[/]",
            why,
            reply or "[dim](no reply)[/dim]",
        )
    return table


def run_demo(night: Path, db_url: str | None = None, model: Path | None = None) -> int:
    """Replays `night` and prints the night and the morning's queue."""
    console = Console()
    brand = load_brand()
    model_path = model or newest_model()
    lines = night.read_text(encoding="utf-8").splitlines()
    with replay_environment(db_url) as (url, action_url):
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"loading {model_path.name}", total=None)
            replayer = Replayer.load(model_path, action_url)
            bar.update(
                task, description="replaying the night", total=sum(1 for x in lines if x.strip())
            )
            results = asyncio.run(replay_lines(replayer, lines, lambda _r: bar.advance(task)))
        console.print(night_table(lines, results, brand.timezone))
        counts = Counter(r.decision or "error" for r in results)
        console.print(
            f"[bold]{len(results)} messages:[/bold] {counts['answer']} answered, "
            f"{counts['handoff']} handed off, {counts['ignore']} ignored, {counts['error']} errors"
        )
        queue = HandoffQueue.from_url(url, migrate=False)
        now = datetime.now(timezone.utc)
        tickets = queue.list_tickets(now=now)
        console.print(
            tickets_table(
                tickets,
                now,
                brand.timezone,
                f"Waiting for the morning (promised times in {brand.timezone})",
            )
        )
        queue.dispose()
    return 0 if counts["error"] == 0 else 1
