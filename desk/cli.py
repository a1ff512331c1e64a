"""The desk's commands: `afterhours desk ...` and `afterhours export-training`.

Registering them imports nothing but argparse; each command imports what it needs when it runs
(never Rasa or TensorFlow).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_desk_commands"]

_DB_HELP = "queue database URL (default: $AFTERHOURS_DB_URL or var/queue.db)"


def _store(db: str | None) -> Any:
    from bot.settings import database_url
    from desk.db import migrate as migrate_desk
    from desk.store import DeskStore
    from handoff.db import make_engine
    from handoff.db import migrate as migrate_queue

    engine = make_engine(db or database_url())
    migrate_queue(engine)
    migrate_desk(engine)
    return DeskStore(engine)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ")
    return first


def cmd_add_agent(args: argparse.Namespace) -> int:
    """Create a desk account (the password is asked for, or read from stdin)."""
    from desk.store import AccountError

    store = _store(args.db)
    try:
        agent = store.create_agent(
            args.username.strip().lower(), _read_password(args), args.role, args.name
        )
    except AccountError as error:
        print(f"not created: {error}", file=sys.stderr)
        return 1
    finally:
        store.engine.dispose()
    print(f"created {agent.role} {agent.username} ({agent.display_name})")
    return 0


def cmd_first_account(args: argparse.Namespace) -> int:
    """Offers to create the first supervisor when the desk has no account (`make up`).

    On a terminal it asks for a user name and a password; elsewhere it says how to do it.
    There are never default credentials.
    """
    store = _store(args.db)
    try:
        if store.agents():
            return 0
        if not sys.stdin.isatty():
            print(
                "The desk has no account yet: create one with "
                "`afterhours desk add-agent NAME --role supervisor` (it asks for a password)."
            )
            return 0
        print("The desk has no account yet. Create the first supervisor to sign in with.")
        username = input("user name [supervisor]: ").strip().lower() or "supervisor"
        args.username, args.role = username, "supervisor"
        args.name, args.password_stdin = None, False
    finally:
        store.engine.dispose()
    return cmd_add_agent(args)


def cmd_set_password(args: argparse.Namespace) -> int:
    """Replace an account's password (ends its sessions, lifts a lock-out)."""
    from desk.store import AccountError

    store = _store(args.db)
    try:
        store.set_password(args.username, _read_password(args))
    except AccountError as error:
        print(f"not changed: {error}", file=sys.stderr)
        return 1
    finally:
        store.engine.dispose()
    print(f"password of {args.username} changed")
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    """Lift a lock-out after repeated failed sign-ins."""
    store = _store(args.db)
    try:
        found = store.unlock(args.username)
    finally:
        store.engine.dispose()
    print(f"{args.username} unlocked" if found else f"no account {args.username}")
    return 0 if found else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the desk alone (``afterhours run`` starts it with everything else)."""
    from desk.server import main

    argv = ["--host", args.host, "--port", str(args.port)]
    return main(argv + (["--db", args.db] if args.db else []))


def cmd_digest(args: argparse.Namespace) -> int:
    """Post the morning digest now (on the desk and to the webhook) and print it."""
    from desk.digest import post_digest
    from handoff.desk_side import DeskQueue

    store = _store(args.db)
    try:
        print(post_digest(DeskQueue(store.engine), store).text)
    finally:
        store.engine.dispose()
    return 0


def cmd_export_training(args: argparse.Namespace) -> int:
    """Write the labelled customer messages as Rasa NLU YAML, one file per language."""
    from desk.export import export_training, exportable
    from handoff.clock import parse_iso

    since = None
    if args.since:
        since = parse_iso(args.since, name="--since", assume_utc=True)
    store = _store(args.db)
    try:
        examples = store.labels()
    finally:
        store.engine.dispose()
    pending = bool(args.include_pending)
    written = export_training(examples, Path(args.out), since=since, include_pending=pending)
    if not written:
        print(
            "nothing to export: no labelled message a trainer accepted yet (review them on the "
            "desk's training page, or add --include-pending)",
            file=sys.stderr,
        )
        return 0
    chosen = [
        e
        for e in exportable(examples, include_pending=pending)
        if since is None or e.labelled_at >= since
    ]
    for language, path in written.items():
        count = sum(1 for e in chosen if e.language == language)
        print(f"{language}: {path} ({count} labelled message(s))")
    return 0


def add_desk_commands(commands: Any) -> None:
    """Add `desk` (add-agent, set-password, unlock, serve, digest) and `export-training`.

    Args:
        commands: The subparsers of the `afterhours` parser.
    """
    roles = ("agent", "supervisor", "trainer")  # desk.models.ROLES, without loading SQLAlchemy
    desk = commands.add_parser("desk", help="the agent desk: accounts, serving, the digest")
    desk_commands = desk.add_subparsers(dest="desk_command", required=True)

    add = desk_commands.add_parser(
        "add-agent",
        help="create a desk account",
        description="Creates a desk account. The password (10 characters or more) is asked "
        "for twice on a terminal, or read as one line from stdin.",
    )
    add.add_argument("username")
    add.add_argument("--role", choices=roles, default="agent")
    add.add_argument("--name", default=None, help="the name shown on the desk")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--db", default=None, help=_DB_HELP)
    add.set_defaults(func=cmd_add_agent)

    first = desk_commands.add_parser(
        "first-account", help="create the first supervisor if the desk has no account"
    )
    first.add_argument("--db", default=None, help=_DB_HELP)
    first.set_defaults(func=cmd_first_account)

    password = desk_commands.add_parser("set-password", help="replace an account's password")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    password.add_argument("--db", default=None, help=_DB_HELP)
    password.set_defaults(func=cmd_set_password)

    unlock = desk_commands.add_parser("unlock", help="lift a lock-out")
    unlock.add_argument("username")
    unlock.add_argument("--db", default=None, help=_DB_HELP)
    unlock.set_defaults(func=cmd_unlock)

    serve = desk_commands.add_parser("serve", help="serve the desk alone")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5080)
    serve.add_argument("--db", default=None, help=_DB_HELP)
    serve.set_defaults(func=cmd_serve)

    digest = desk_commands.add_parser("digest", help="post the morning digest now")
    digest.add_argument("--db", default=None, help=_DB_HELP)
    digest.set_defaults(func=cmd_digest)

    export = commands.add_parser(
        "export-training",
        help="write the messages agents labelled as Rasa NLU YAML for review",
        description="Writes OUT/<language>/desk_labels.yml: the customer messages of resolved "
        "cases under the intent the agent chose (personal data masked; proposed new intents "
        "marked).",
    )
    export.add_argument(
        "out", nargs="?", default="var/training", help="folder (default: var/training)"
    )
    export.add_argument("--since", default=None, help="only labels from this ISO date/time on")
    export.add_argument(
        "--include-pending",
        action="store_true",
        help="also the examples no trainer reviewed yet (excluded ones never)",
    )
    export.add_argument("--db", default=None, help=_DB_HELP)
    export.set_defaults(func=cmd_export_training)
