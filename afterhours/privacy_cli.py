"""`afterhours privacy`: a customer's data exported or erased, and the retention purge.

The work is :mod:`desk.privacy`'s and :mod:`desk.retention`'s (the desk's supervisors have the
same two actions on its Privacy page); this module reads the arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_privacy_command"]

_STORES_HELP = {
    "db": "queue database URL (default: $AFTERHOURS_DB_URL or var/queue.db)",
    "endpoints": "Rasa's endpoints file: its tracker store and lock store "
    "(default: $AFTERHOURS_ENDPOINTS or endpoints.yml)",
    "inbox_db": "the channels' database, when it is not the queue's",
}


def _stores(args: argparse.Namespace) -> Any:
    from desk.privacy import Stores

    return Stores.open(
        args.db, Path(args.endpoints) if args.endpoints else None, getattr(args, "inbox_db", None)
    )


def _customers(args: argparse.Namespace) -> list[Any]:
    from desk.privacy import Customer

    return [Customer.parse(text) for text in args.customer]


def _write_private(path: str, text: str) -> None:
    """Writes a file only its owner may read (it holds the customer's data)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def cmd_export(args: argparse.Namespace) -> int:
    """Writes everything held about the customers as JSON, and a readable summary."""
    from afterhours.queue_cli import cli_user
    from desk.privacy import PrivacyError, audit_export, export, summary

    try:
        customers = _customers(args)
    except PrivacyError as error:
        print(f"privacy export: {error}", file=sys.stderr)
        return 2
    stores = _stores(args)
    try:
        document = export(stores, customers)
        audit_export(stores, args.by or cli_user(), customers, document)
    finally:
        stores.dispose()
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.out and args.out != "-":
        _write_private(args.out, text)
    else:
        sys.stdout.write(text)
    readable = summary(document)
    if args.summary:
        _write_private(args.summary, readable)
    else:
        # Beside JSON on stdout the summary goes to stderr, so the JSON stays parseable.
        print(readable, end="", file=sys.stdout if args.out and args.out != "-" else sys.stderr)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Erases the customers everywhere (asks first unless --yes)."""
    from afterhours.queue_cli import cli_user
    from desk.privacy import PrivacyError, erase, export, summary

    try:
        customers = _customers(args)
    except PrivacyError as error:
        print(f"privacy erase: {error}", file=sys.stderr)
        return 2
    stores = _stores(args)
    try:
        if not args.yes:
            print(summary(export(stores, customers)), end="")
            if not sys.stdin.isatty():
                print("privacy erase: add --yes to erase without being asked", file=sys.stderr)
                return 2
            wanted = " ".join(c.conversation_id for c in customers)
            typed = input(f"Type {wanted} to erase all of this for good: ").strip()
            if typed != wanted:
                print("Not erased.")
                return 1
        done = erase(stores, customers, args.by or cli_user())
    except PrivacyError as error:
        print(f"privacy erase: {error}", file=sys.stderr)
        return 2
    finally:
        stores.dispose()
    print(f"Erased {done.conversations} conversation(s), {done.total} rows:")
    for name, count in sorted(done.counts.items()):
        print(f"  {name}: {count}")
    if done.late:
        print("  written during the erasure, removed by the second pass: " + str(done.late))
    if done.lock == "in_memory":
        print(
            "Note: the lock store is in-memory (endpoints.yml), so a running Rasa server's lock "
            "was not shared; a second pass removed anything a turn in flight wrote. Run the "
            "erasure again if the customer kept writing."
        )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Removes what brand.yml's retention says has been kept long enough."""
    from bot.settings import load_brand
    from desk.retention import purge

    retention = load_brand().retention
    stores = _stores(args)
    try:
        counts = purge(stores, retention, dry_run=args.dry_run)
    finally:
        stores.dispose()
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"retention (days): conversations {retention.conversations}, tickets "
        f"{retention.tickets}, inbox {retention.inbox}, audit log {retention.audit_log}"
    )
    print(f"{verb} {sum(counts.values())} rows:")
    for name, count in sorted(counts.items()):
        print(f"  {name}: {count}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, help=_STORES_HELP["db"])
    parser.add_argument("--endpoints", default=None, help=_STORES_HELP["endpoints"])
    parser.add_argument("--inbox-db", dest="inbox_db", default=None, help=_STORES_HELP["inbox_db"])


def _customer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--customer",
        action="append",
        required=True,
        metavar="CHANNEL:SENDER",
        help="the customer, e.g. sms:+351912000003, telegram:81234, x:handle; "
        "repeat it for each channel they wrote on",
    )
    parser.add_argument(
        "--by", default=None, help="who asks, for the audit log (default: cli:<OS user>)"
    )


def add_privacy_command(commands: Any) -> None:
    """`privacy export`, `privacy erase` and `privacy purge`."""
    privacy = commands.add_parser(
        "privacy", help="a customer's data: export it, erase it; the retention purge"
    )
    actions = privacy.add_subparsers(dest="privacy_command", required=True)
    exporting = actions.add_parser(
        "export", help="everything held about a customer, as JSON and a readable summary"
    )
    _customer_options(exporting)
    exporting.add_argument("--out", default=None, help="JSON file (default: stdout)")
    exporting.add_argument(
        "--summary", default=None, help="summary file (default: stdout, stderr beside JSON)"
    )
    _common(exporting)
    exporting.set_defaults(func=cmd_export)

    erasing = actions.add_parser(
        "erase", help="remove or anonymise a customer everywhere (audited, idempotent)"
    )
    _customer_options(erasing)
    erasing.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _common(erasing)
    erasing.set_defaults(func=cmd_erase)

    purging = actions.add_parser(
        "purge", help="remove what brand.yml's retention says was kept long enough"
    )
    purging.add_argument(
        "--dry-run", action="store_true", help="count what would be removed, remove nothing"
    )
    _common(purging)
    purging.set_defaults(func=cmd_purge)
