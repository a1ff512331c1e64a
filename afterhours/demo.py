"""`afterhours demo`: the shipped night through the real pipeline, shown as the morning sees it."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.text import Text

from afterhours.models import newest_model
from afterhours.queue_cli import tickets_table
from afterhours.replay import (
    Replayer,
    ReplayResult,
    parse_line,
    replay_environment,
    replay_lines,
    replay_progress,
)
from bot.settings import load_brand
from handoff.queue import HandoffQueue

DECISION_STYLE = {"answer": "green", "handoff": "yellow", "ignore": "dim"}


def night_view(lines: list[str], results: list[ReplayResult], zone: str) -> Group:
    """What happened to each message of the night: who wrote what, what the bot did, and why."""
    blocks: list[Text] = [Text("The night, message by message", style="bold underline")]
    by_line = iter(results)
    for raw in lines:
        if not raw.strip():
            continue
        result = next(by_line)
        block = Text()
        try:
            inbound = parse_line(raw)
        except ValueError:
            block.append(f"(unreadable line) {result.error}", style="red")
            blocks.append(block)
            continue
        when = inbound.at.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")
        channel = f"{inbound.channel}{' public' if inbound.public else ''}"
        decision = result.decision or "error"
        block.append(f"\n{when}  {channel}  {inbound.sender}\n", style="dim")
        block.append("  > ", style="dim")
        block.append(" ".join(inbound.text.split())[:300] + "\n")
        block.append(f"  {decision.upper()}", style=f"bold {DECISION_STYLE.get(decision, 'red')}")
        why = result.topic or result.reason or result.error or ""
        block.append(f" {why}")
        if result.ticket:
            block.append(f" → ticket #{result.ticket}", style="cyan")
        for reply in result.replies:
            block.append("\n  < ", style="dim")
            block.append("[public] " if reply["public"] else "", style="magenta")
            block.append(reply["text"])
        blocks.append(block)
    return Group(*blocks)


def run_demo(night: Path, db_url: str | None = None, model: Path | None = None) -> int:
    """Replays `night` and prints the night and the morning's queue."""
    console = Console()
    brand = load_brand()
    model_path = model or newest_model()
    lines = night.read_text(encoding="utf-8").splitlines()
    with replay_environment(db_url) as (url, action_url):
        with replay_progress(console) as bar:
            task = bar.add_task(f"loading {model_path.name}", total=None)
            replayer = Replayer.load(model_path, action_url)
            bar.update(
                task, description="replaying the night", total=sum(1 for x in lines if x.strip())
            )
            results = asyncio.run(replay_lines(replayer, lines, lambda _r: bar.advance(task)))
        console.print(night_view(lines, results, brand.timezone))
        counts = Counter(r.decision or "error" for r in results)
        console.print(
            f"[bold]{len(results)} messages:[/bold] {counts['answer']} answered, "
            f"{counts['handoff']} handed off, {counts['ignore']} ignored, {counts['error']} errors"
        )
        queue = HandoffQueue.from_url(url, migrate=False)
        now = datetime.now(timezone.utc)
        tickets = queue.list_tickets(now=now)
        console.print()
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
