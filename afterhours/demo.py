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
    product_tracker_store,
    replay_environment,
    replay_lines,
    replay_progress,
)
from bot.settings import DB_ENV, check_database, database_url, load_brand
from handoff.models import STATUSES
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


def run_demo(
    night: Path, db_url: str | None = None, model: Path | None = None, scratch: bool = False
) -> int:
    """Replays `night` into the product's queue and conversations, and prints the morning.

    By default the night lands where `afterhours run` and the desk read (the queue's database,
    endpoints.yml's tracker store), so the desk opens on the night's cases; a night already
    there is not replayed twice. `scratch` replays into a throwaway database instead.
    """
    console = Console()
    brand = load_brand()
    lines = night.read_text(encoding="utf-8").splitlines()
    if not scratch:
        db_url = db_url or database_url()
        check_database(db_url, "--db" if db_url != database_url() else DB_ENV)
        already = _cases_of_night(db_url, lines)
        if already:
            console.print(
                f"The demo night is already in the queue ({already} cases): not replayed again. "
                "`afterhours demo --scratch` replays it into a throwaway database."
            )
            _print_queue(console, db_url, brand.timezone)
            return 0
        Path("var").mkdir(exist_ok=True)  # the embedded tracker store's folder
    model_path = model or newest_model()
    with replay_environment(None if scratch else db_url) as (url, action_url):
        store = None if scratch else product_tracker_store()
        with replay_progress(console) as bar:
            task = bar.add_task(f"loading {model_path.name}", total=None)
            replayer = Replayer.load(model_path, action_url, tracker_store=store)
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
        _print_queue(console, url, brand.timezone)
    if not scratch:
        console.print(
            "The night's cases are in the desk's queue: `make run` (or `afterhours run`) starts "
            "the desk at http://127.0.0.1:5080/; create your sign-in first with "
            "`afterhours desk add-agent NAME --role supervisor`."
        )
    return 0 if counts["error"] == 0 else 1


def _cases_of_night(db_url: str, lines: list[str]) -> int:
    """How many tickets the queue holds for the night's conversations."""
    conversations = set()
    for raw in filter(str.strip, lines):
        try:
            conversations.add(parse_line(raw).conversation_id)
        except ValueError:
            continue
    queue = HandoffQueue.from_url(db_url, migrate=True)
    try:
        tickets = queue.list_tickets(status=STATUSES)
        return sum(1 for ticket in tickets if ticket.conversation_id in conversations)
    finally:
        queue.dispose()


def _print_queue(console: Console, db_url: str, zone: str) -> None:
    queue = HandoffQueue.from_url(db_url, migrate=False)
    try:
        now = datetime.now(timezone.utc)
        console.print()
        console.print(
            tickets_table(
                queue.list_tickets(now=now),
                now,
                zone,
                f"Waiting for the morning (promised times in {zone})",
            )
        )
    finally:
        queue.dispose()
