"""`afterhours incident ...`: declare, list, show, update and resolve incidents; send the notices.

Registering the commands imports nothing but argparse; each command imports what it needs.
Customers are shown masked (as the desk shows them); nothing here prints a customer's words but
the parent case's masked sample.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["KIND_CHOICES", "add_incident_commands", "parse_ref"]

_DB_HELP = "queue database URL (default: $AFTERHOURS_DB_URL or var/queue.db)"
#: What a supervisor may declare: the kinds the bot detects, and mobile service.
KIND_CHOICES = ("internet", "tv", "mobile", "outage")


def parse_ref(raw: str) -> int:
    """An incident's number from ``INC-7`` or ``7``.

    Raises:
        ValueError: Neither.
    """
    value = raw.strip().upper().removeprefix("INC-")
    if not value.isdigit():
        raise ValueError(f"not an incident id: {raw!r} (like INC-7)")
    return int(value)


def _store(db: str | None) -> Any:
    from bot.settings import database_url
    from handoff.incidents import IncidentStore

    return IncidentStore.from_url(db or database_url())


def _every() -> Any:
    from datetime import timedelta

    from bot.settings import load_brand

    return timedelta(minutes=load_brand().incidents.update_every_minutes)


def _message(path: str | None) -> dict[str, str]:
    from desk.incident_notices import read_message_file

    return read_message_file(Path(path)) if path else {}


def cmd_open(args: argparse.Namespace) -> int:
    """Declares an incident (and posts its first update when a message is given)."""
    from bot.settings import load_brand
    from handoff.clock import utc_now

    texts = _message(args.message_file)
    brand = load_brand()
    area = args.area.strip() if args.area else None
    store = _store(args.db)
    try:
        incident = store.declare(
            args.kind, area, args.by, utc_now(), _every(), brand.default_language
        )
        if texts:
            store.post(incident.id, "update", texts, args.by, utc_now(), _every())
    finally:
        store.dispose()
    where = f" in {area}" if area else ""
    print(f"opened {incident.ref}: {args.kind}{where} (parent case {incident.ticket_id})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Lists incidents, newest first."""
    from zoneinfo import ZoneInfo

    from bot.settings import load_brand

    zone = ZoneInfo(load_brand().timezone)
    store = _store(args.db)
    try:
        rows = store.incidents(None if args.status == "all" else args.status)
        for incident in rows:
            summary = store.summary(incident.id)
            print(
                f"{incident.ref}\t{incident.status}\t{incident.kind}\t{incident.area or '-'}\t"
                f"{incident.opened_at.astimezone(zone):%Y-%m-%d %H:%M}\t"
                f"{summary.customers} customers\tcase {incident.ticket_id}"
            )
        if not rows:
            print("no incidents")
    finally:
        store.dispose()
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One incident: the parent case's figures, the sample (masked), linked customers."""
    from handoff.incidents import IncidentNotFound

    store = _store(args.db)
    try:
        summary = store.summary(parse_ref(args.incident))
    except (ValueError, IncidentNotFound) as error:
        print(f"no such incident: {error}", file=sys.stderr)
        return 1
    finally:
        store.dispose()
    incident = summary.incident
    print(f"{incident.ref} {incident.status} {incident.kind} {incident.area or ''}".rstrip())
    print(f"customers {summary.customers} (handed off {summary.handed_off})")
    print(f"areas {summary.areas} channels {summary.channels} languages {summary.languages}")
    print(f"first report {incident.first_report_at} last {incident.last_report_at}")
    print(f"notices {summary.notices}")
    for at, channel, text in summary.sample:
        print(f"  {at:%H:%M} {channel}: {text}")
    for label, channel, ticket in summary.linked[: args.limit]:
        print(f"  {channel} {label}" + (f" (case {ticket})" if ticket else ""))
    return 0


def _post(args: argparse.Namespace, kind: str) -> int:
    from handoff.clock import utc_now
    from handoff.incidents import IncidentNotFound

    try:
        texts = _message(args.message_file)
        number = parse_ref(args.incident)
    except (OSError, ValueError) as error:
        print(f"not posted: {error}", file=sys.stderr)
        return 1
    store = _store(args.db)
    try:
        store.post(number, kind, texts, args.by, utc_now(), _every())
        counts = store.notice_counts(number)
    except (ValueError, IncidentNotFound) as error:
        print(f"not posted: {error}", file=sys.stderr)
        return 1
    finally:
        store.dispose()
    print(f"INC-{number}: {kind} posted; notices {counts} (sent by `afterhours incident send`)")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    """Posts an update to every linked customer."""
    return _post(args, "update")


def cmd_resolve(args: argparse.Namespace) -> int:
    """Resolves the incident and tells every linked customer."""
    return _post(args, "resolved")


def cmd_send(args: argparse.Namespace) -> int:
    """Sends the pending notices through Rasa (until none is left, or --timeout)."""
    from datetime import timedelta

    from bot.settings import load_brand
    from desk.incident_notices import NoticeSender
    from desk.rasa import RasaClient

    store = _store(args.db)
    try:
        sender = NoticeSender(
            store,
            RasaClient.from_env(),
            load_brand(),
            lease=timedelta(seconds=args.lease_seconds),
            per_minute=args.per_minute,
        )
        done = sender.drain(timeout=args.timeout)
        print(f"notices this run {done}; all {store.notice_counts()}")
    finally:
        store.dispose()
    return 0


def add_incident_commands(commands: Any) -> None:
    """Adds ``incident open|list|show|update|resolve|send`` to the CLI."""
    incident = commands.add_parser("incident", help="outage incidents: declare, update, resolve")
    sub = incident.add_subparsers(dest="incident_command", required=True)

    opening = sub.add_parser("open", help="declare an incident")
    opening.add_argument("--kind", required=True, choices=KIND_CHOICES)
    opening.add_argument("--area", default=None, help="the town (as in brand.yml areas)")
    opening.add_argument("--message-file", default=None, help="a first update (text or YAML)")
    opening.set_defaults(func=cmd_open)

    listing = sub.add_parser("list", help="incidents, newest first")
    listing.add_argument("--status", default="all", choices=["open", "resolved", "all"])
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="one incident: figures, sample (masked), customers")
    show.add_argument("incident", help="INC-7 or 7")
    show.add_argument("--limit", type=int, default=50, help="linked customers shown")
    show.set_defaults(func=cmd_show)

    for name, func, required in (
        ("update", cmd_update, True),
        ("resolve", cmd_resolve, False),
    ):
        post = sub.add_parser(name, help=f"{name} the incident: every linked customer is told")
        post.add_argument("incident", help="INC-7 or 7")
        post.add_argument(
            "--message-file",
            required=required,
            default=None,
            help="the message: plain text for every language, or YAML {en: ..., pt: ...}",
        )
        post.set_defaults(func=func)

    send = sub.add_parser("send", help="send the pending notices through Rasa")
    send.add_argument("--timeout", type=float, default=600.0, help="seconds at most")
    send.add_argument(
        "--lease-seconds",
        type=float,
        default=120.0,
        help="a claim older than this, left by a sender that stopped, is settled and resent if "
        "it never reached the channel (only when no other sender runs)",
    )
    send.add_argument(
        "--per-minute", type=int, default=None, help="one rate for every channel (brand.yml's)"
    )
    send.set_defaults(func=cmd_send)

    for parser in (opening, listing, show, send, *sub.choices.values()):
        if not any(a.dest == "db" for a in parser._actions):
            parser.add_argument("--db", default=None, help=_DB_HELP)
        if not any(a.dest == "by" for a in parser._actions):
            parser.add_argument("--by", default="supervisor", help="who does it (the record)")
