"""`afterhours bench incident`: one outage night, one incident, every customer told once.

The night (:mod:`afterhours.bench.incident_night`: 300 outage reports from different customers
over 30 minutes, 200 routine messages, four languages) goes

1. through replay (:class:`afterhours.replay.Replayer`: the trained model, the action server, a
   fresh queue): incidents opened, reports linked, routine messages wrongly linked, tickets; then
   the incident is resolved and the notices counted (one per linked customer);
2. through the SMS and X connectors on loopback (``--channels``, :mod:`afterhours.bench.
   incident_channels`): the same night sent to the fake platforms, the incident resolved, the
   notices sent through Rasa by :class:`desk.incident_notices.NoticeSender` — with the sender
   killed mid-send once and resumed — and what each customer received counted on the platforms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from afterhours.bench.incident_night import night

__all__ = ["ReplayFigures", "add_arguments", "replay_night", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--model", default=None, help="model file (default: the newest)")
    parser.add_argument("--reports", type=int, default=300, help="outage reports (customers)")
    parser.add_argument("--routine", type=int, default=200, help="routine messages")
    parser.add_argument("--minutes", type=int, default=30, help="over how long they report")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--channels",
        default="sms,x",
        help="channels for the loopback pass (comma-separated; 'none' to skip it)",
    )
    parser.add_argument("--out", default=None, help="write the replay output here (JSONL)")
    parser.add_argument("--no-record", action="store_true", help="do not append to results.md")


@dataclass
class ReplayFigures:
    """What the replay pass measured."""

    incidents: int = 0
    reports: int = 0
    linked_replies: int = 0  # outage lines whose reply was the incident's
    linked_customers: int = 0  # outage customers linked (those before it opened included)
    routine: int = 0
    routine_linked: int = 0  # linked in the store (an early misread report is linked later)
    routine_incident_replies: int = 0  # routine lines answered with the incident reply
    tickets: int = 0  # tickets of customers (the parent case not included)
    parent_cases: int = 0
    handoffs_linked: int = 0
    notices: int = 0
    notices_per_customer_max: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def row(self) -> dict[str, object]:
        """The figures as a results row."""
        share = self.linked_customers / self.reports if self.reports else 0.0
        return {
            "incidents": self.incidents,
            "reports linked": f"{self.linked_customers}/{self.reports} ({share:.1%})",
            "incident replies": self.linked_replies,
            "routine linked": f"{self.routine_linked}/{self.routine}",
            "routine given the incident reply": self.routine_incident_replies,
            "tickets": self.tickets,
            "parent cases": self.parent_cases,
            "resolution notices": f"{self.notices} (max {self.notices_per_customer_max}/customer)",
        }


def replay_night(
    lines: list[dict[str, Any]], model: Path, out: Path | None = None
) -> ReplayFigures:
    """Replays the night through the real product and scores it (see module docstring)."""
    from afterhours.replay import Replayer, replay_environment, replay_lines
    from handoff.incidents import IncidentStore
    from handoff.queue import HandoffQueue

    raw = [json.dumps({k: v for k, v in line.items() if k != "kind"}) for line in lines]
    kinds = {str(line["id"]): line["kind"] for line in lines}
    senders = {str(line["id"]): f"{line['channel']}:{line['sender']}" for line in lines}
    with tempfile.TemporaryDirectory(prefix="bench-incident-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'queue.db'}"
        with replay_environment(url) as (_url, action_url):
            replayer = Replayer.load(model, action_url)
            started = time.perf_counter()
            results = asyncio.run(replay_lines(replayer, raw))
            seconds = time.perf_counter() - started
        if out is not None:
            out.write_text(
                "".join(json.dumps(r.as_json(), ensure_ascii=False) + "\n" for r in results),
                encoding="utf-8",
            )
        store = IncidentStore.from_url(url)
        queue = HandoffQueue(store.engine)
        try:
            return _score(results, kinds, senders, store, queue, seconds)
        finally:
            store.dispose()


def _score(
    results: list[Any],
    kinds: dict[str, Any],
    senders: dict[str, str],
    store: Any,
    queue: Any,
    seconds: float,
) -> ReplayFigures:
    from handoff.clock import utc_now

    figures = ReplayFigures(seconds=seconds)
    incidents = store.incidents()
    figures.incidents = len(incidents)
    linked = {link.conversation_id for i in incidents for link in store.links(i.id)}
    for result in results:
        kind = kinds.get(result.id)
        figures.decisions[str(result.decision)] = figures.decisions.get(str(result.decision), 0) + 1
        if kind == "outage":
            figures.reports += 1
            figures.linked_replies += result.incident is not None and result.topic == "incident"
            figures.handoffs_linked += result.incident is not None and result.decision == "handoff"
        else:
            figures.routine += 1
            figures.routine_incident_replies += result.incident is not None
            figures.routine_linked += bool(
                result.incident is not None or senders[result.id] in linked
            )
    figures.linked_customers = sum(
        senders[r.id] in linked for r in results if kinds.get(r.id) == "outage"
    )
    figures.parent_cases = len({i.ticket_id for i in incidents} - {None})
    figures.tickets = _count_tickets(queue)
    for incident in incidents:
        store.post(incident.id, "resolved", {}, "bench", utc_now(), timedelta(hours=1))
    per_customer = Counter(n.conversation_id for i in incidents for n in store.notices(i.id))
    figures.notices = sum(per_customer.values())
    figures.notices_per_customer_max = max(per_customer.values(), default=0)
    return figures


def _count_tickets(queue: Any) -> int:
    """Tickets opened for customers (the incidents' parent cases left out)."""
    from sqlalchemy import func, select

    from handoff.models import Ticket

    with queue.engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(Ticket).where(Ticket.channel != "incident")
            ).scalar_one()
        )


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark, prints the figures, appends them to benchmarks/results.md."""
    from afterhours.models import newest_model

    model = Path(args.model or os.environ.get("AFTERHOURS_TEST_MODEL") or newest_model())
    lines = night(args.reports, args.routine, args.minutes, args.seed)
    figures = replay_night(lines, model, Path(args.out) if args.out else None)
    row: dict[str, object] = {"path": "replay", **figures.row()}
    print("replay:", json.dumps(row, ensure_ascii=False))
    print("decisions:", json.dumps(figures.decisions))
    channels = [c for c in args.channels.split(",") if c and c != "none"]
    if channels:
        from afterhours.bench.incident_channels import channel_night

        delivered = channel_night(lines, model, channels)
        print("channels:", json.dumps(delivered, ensure_ascii=False))
        row.update({f"channels {k}": v for k, v in delivered.items()})
    row["load"] = f"{os.getloadavg()[0]:.1f}"
    if not args.no_record:
        from afterhours.bench.results import append_run, command_line

        append_run("incident", command_line(), row)
    ok = figures.incidents == 1 and figures.routine_linked == 0
    return 0 if ok else 1
