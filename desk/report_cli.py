"""`afterhours report`: the supervisors' report on the terminal, as JSON, or as CSV.

Registering the command imports nothing but argparse; running it imports SQLAlchemy and rich
(never Rasa or TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_report_command", "cmd_report"]


def _incident_rows(incidents: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's incidents line, when there were any (README "Incidents")."""
    if not incidents.get("count"):
        return []
    wait = _minutes(incidents["median_minutes_to_first_update"])
    return [
        (
            "Incidents",
            f"{incidents['count']} ({incidents['customers']} customers linked), "
            f"first update after median {wait}",
        )
    ]


def _minutes(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counter.items()) or "—"


def _print_table(report: dict[str, Any]) -> None:
    """The report as rich tables (what a supervisor reads in the morning)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    span = report["range"]
    console.print(f"[bold]Report[/bold] {span['since']} → {span['until']} ({span['timezone']})")
    if not report["turn_log"]:
        console.print("[yellow]No turn log in the tracker store: message figures are missing.")
    messages, containment = report["messages"], report["containment"]
    summary = Table(show_header=False, box=None)
    summary.add_column(style="bold")
    summary.add_column()
    rows = [
        ("Messages", f"{messages['total']} ({_counts(messages['by_channel'])})"),
        ("Languages", _counts(messages["by_language"])),
        (
            "Answered by the bot",
            f"{containment['answered_by_bot']} of {containment['needed_answer']} "
            f"needing an answer = containment {_share(containment['rate'])}",
        ),
        (
            "Handed off",
            f"{report['handoffs']['total']}: {_counts(report['handoffs']['by_reason'])}",
        ),
        ("  by department", _counts(report["handoffs"]["by_department"])),
        ("Ignored", f"{report['ignored']['total']}: {_counts(report['ignored']['by_reason'])}"),
        (
            "Tickets",
            f"{report['tickets']['opened']} opened, {report['tickets']['answered']} answered, "
            f"{report['tickets']['resolved']} resolved",
        ),
        (
            "First human response",
            f"median {_minutes(report['first_response']['median_minutes'])}, "
            f"p90 {_minutes(report['first_response']['p90_minutes'])}",
        ),
        (
            "Promises kept",
            f"{report['promises']['kept']} of "
            f"{report['promises']['kept'] + report['promises']['broken']}"
            f" = {_share(report['promises']['share_kept'])}"
            f" ({report['promises']['pending']} pending)",
        ),
        (
            "CSAT",
            "—"
            if report["csat"]["average"] is None
            else f"{report['csat']['average']:.2f} ({report['csat']['count']} answers)",
        ),
    ]
    rows.extend(_incident_rows(report.get("incidents") or {}))
    for label, value in rows:
        summary.add_row(label, value)
    console.print(summary)
    if report["agents"]:
        agents = Table(title="Agents")
        for column in ("agent", "cases", "first replies", "median", "p90", "CSAT"):
            agents.add_column(column)
        for agent in report["agents"]:
            csat = "—" if agent["csat_average"] is None else f"{agent['csat_average']:.2f}"
            agents.add_row(
                agent["agent"],
                str(agent["cases"]),
                str(agent["first_replies"]),
                _minutes(agent["median_minutes"]),
                _minutes(agent["p90_minutes"]),
                f"{csat} ({agent['csat_count']})",
            )
        console.print(agents)
    if len(report["daily"]) > 1:
        daily = Table(title="Per day")
        for column in (
            "date",
            "messages",
            "answered",
            "handoffs",
            "containment",
            "tickets",
            "kept",
        ):
            daily.add_column(column)
        for day in report["daily"]:
            daily.add_row(
                day["date"],
                str(day["messages"]),
                str(day["answered_by_bot"]),
                str(day["handoffs"]),
                _share(day["containment"]),
                str(day["tickets_opened"]),
                _share(day["share_kept"]),
            )
        console.print(daily)


def cmd_report(args: argparse.Namespace) -> int:
    """Build the report over the range asked for and print it (or write it as CSV)."""
    from bot.settings import ConfigError, check_database, database_url, load_brand
    from desk.reports import build_report, csv_text, open_turn_log, parse_range
    from handoff.db import make_engine

    brand = load_brand()
    url = args.db or database_url()
    try:
        check_database(url, "--db" if args.db else "AFTERHOURS_DB_URL")
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    queue = make_engine(url)
    turns = open_turn_log(Path(args.endpoints))
    try:
        since, until = parse_range(args.since, args.until, brand.calendar(), turns=turns)
    except ValueError as error:
        queue.dispose()
        if turns is not None:
            turns.dispose()
        print(f"afterhours report: {error}", file=sys.stderr)
        return 2
    try:
        from handoff.db import migrate

        migrate(queue)  # the report reads the CSAT table: a queue older than it gets it now
        report = build_report(queue, turns, brand.timezone, since, until)
    finally:
        queue.dispose()
        if turns is not None:
            turns.dispose()
    if args.csv:
        Path(args.csv).write_text(csv_text(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    elif not args.csv:
        _print_table(report)
    else:
        print(f"wrote {args.csv} ({len(report['daily'])} day(s) and a total)")
    return 0


def add_report_command(commands: Any) -> None:
    """Add `report` to the `afterhours` parser.

    Args:
        commands: The subparsers of the `afterhours` parser.
    """
    report = commands.add_parser(
        "report",
        help="the supervisors' report: containment, handoffs, response times, promises kept",
        description="What the bot and the desk did over a range: messages by channel and "
        "language, answered by the bot (containment), handed off and ignored by reason, the first "
        "human response (median, p90), promises kept, volume by hour, agents, CSAT. Dates are "
        "ISO (2026-03-02 or 2026-03-02T21:00) in the brand's time zone; by default the last "
        "night (the desk's previous close to its next opening).",
    )
    report.add_argument("--since", default=None, help="start: ISO date or date-time")
    report.add_argument("--until", default=None, help="end: ISO date (included) or date-time")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--csv", default=None, metavar="FILE", help="write the daily series")
    report.add_argument(
        "--db",
        default=None,
        help="queue database URL (default: $AFTERHOURS_DB_URL or var/queue.db)",
    )
    report.add_argument(
        "--endpoints",
        default="endpoints.yml",
        help="Rasa's endpoints file: its tracker store holds the turn log (endpoints.yml)",
    )
    report.set_defaults(func=cmd_report)
