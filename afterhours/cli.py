"""The `afterhours` command.

Heavy imports (Rasa, TensorFlow) happen inside the commands that need them, so `afterhours --help`
and `afterhours queue` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


REPLAY_DESCRIPTION = (
    "Runs INPUT (one JSON message a line, see shared/spec/replay.md) through the trained model, "
    "the policies, the actions, the queue and the channel rendering, and writes what the bot "
    "decided to OUTPUT. Without --model it uses the newest model in models/; if there is none it "
    "exits with code 2 and says how to train one (it never trains by itself). Without --db it "
    "uses a fresh temporary SQLite queue. Exit 0 when every line was processed (bad lines are "
    'reported on stderr and written with an "error").'
)


def cmd_train(args: argparse.Namespace) -> int:
    """Trains the model from config.yml, domain.yml and data/ into models/."""
    from afterhours.training import train_model

    path = train_model(out=Path(args.out), fixed_name=args.name, force=args.force)
    print(f"model: {path}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Replays a JSONL file of messages (see shared/spec/replay.md)."""
    from afterhours.models import NoModelError
    from afterhours.replay import run_replay

    try:
        results, stats = run_replay(
            Path(args.input),
            Path(args.out),
            db_url=args.db,
            model=Path(args.model) if args.model else None,
            progress=not args.quiet,
        )
    except NoModelError as error:
        print(error, file=sys.stderr)
        return 2
    errors = sum(1 for r in results if r.error)
    print(
        f"{len(results)} lines replayed, {errors} with errors -> {args.out}\n"
        f"model loaded in {stats.load_seconds:.1f} s; {stats.messages} messages in "
        f"{stats.replay_seconds:.1f} s ({stats.per_second:.1f} messages/s after load)",
        file=sys.stderr,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Replays the shipped night and shows what the bot did."""
    from afterhours.demo import run_demo
    from afterhours.models import NoModelError

    try:
        return run_demo(
            Path(args.night),
            db_url=args.db,
            model=Path(args.model) if args.model else None,
            scratch=args.scratch,
        )
    except NoModelError as error:
        print(error, file=sys.stderr)
        return 2


def cmd_run(args: argparse.Namespace) -> int:
    """Starts the Rasa server, the action server and the scheduler."""
    from afterhours.runner import run_all

    return run_all(rasa_port=args.port, action_port=args.action_port, model=args.model)


def cmd_rasa_server(args: argparse.Namespace) -> int:
    """Runs one Rasa server alone (the scaled set-up), its HTTP API behind the shared token."""
    from afterhours.runner import rasa_server_alone

    return rasa_server_alone(
        endpoints=Path(args.endpoints),
        port=args.port,
        interface=args.interface,
        model=args.model,
    )


def cmd_queue(args: argparse.Namespace) -> int:
    """Lists or shows handoff tickets."""
    from afterhours.queue_cli import list_tickets, show_ticket

    if args.queue_command == "show":
        return show_ticket(args.ticket, db_url=args.db, reveal=args.reveal)
    return list_tickets(
        db_url=args.db, status=args.status, department=args.department, limit=args.limit
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="afterhours",
        description="A night-shift auto-responder on Rasa: answers routine questions out of hours "
        "and "
        "hands the rest to a human queue.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_server_commands(commands)
    _add_replay_commands(commands)
    _add_queue_command(commands)

    from afterhours.bench.cli import add_bench_commands

    add_bench_commands(commands)
    from afterhours.bench.evaluate_cli import (
        add_evaluate_command,  # `evaluate`: a model on the held-out sets
    )

    add_evaluate_command(commands)
    from desk.cli import add_desk_commands  # the agent desk (desk/): `desk ...`, `export-training`

    add_desk_commands(commands)
    from desk.report_cli import add_report_command  # `report`: the supervisors' report

    add_report_command(commands)
    from desk.incident_cli import add_incident_commands  # `incident`: outages (README "Incidents")

    add_incident_commands(commands)
    from afterhours.privacy_cli import add_privacy_command  # `privacy`: export, erase, purge

    add_privacy_command(commands)
    return parser


def _add_server_commands(commands: Any) -> None:
    """`train`, `run` and `rasa-server`."""
    train = commands.add_parser(
        "train", help="train the model (config.yml, domain.yml, data/) into models/"
    )
    train.add_argument("--out", default="models", help="folder for the model (default: models)")
    train.add_argument("--name", default=None, help="file name of the model (default: a timestamp)")
    train.add_argument("--force", action="store_true", help="retrain even if nothing changed")
    train.set_defaults(func=cmd_train)

    run = commands.add_parser(
        "run", help="start the Rasa server (REST channel), the action server and the scheduler"
    )
    run.add_argument("--port", type=int, default=5005, help="Rasa server port (default: 5005)")
    run.add_argument(
        "--action-port", type=int, default=5055, help="action server port (default: 5055)"
    )
    run.add_argument("--model", default=None, help="model file (default: the newest in models/)")
    run.set_defaults(func=cmd_run)

    rasa_server = commands.add_parser(
        "rasa-server",
        help="one Rasa server alone, for the scaled set-up (API behind $AFTERHOURS_RASA_TOKEN)",
    )
    rasa_server.add_argument(
        "--endpoints", default="deploy/endpoints.scaled.yml", help="endpoints file"
    )
    rasa_server.add_argument("--port", type=int, default=5005, help="port (default: 5005)")
    rasa_server.add_argument(
        "--interface", default="127.0.0.1", help="interface (default: 127.0.0.1; a proxy in front)"
    )
    rasa_server.add_argument(
        "--model", default=None, help="model file (default: the newest in models/)"
    )
    rasa_server.set_defaults(func=cmd_rasa_server)


def _add_replay_commands(commands: Any) -> None:
    """`replay` and `demo`."""
    replay = commands.add_parser(
        "replay",
        help="run a JSONL file of messages through the real pipeline",
        description=REPLAY_DESCRIPTION,
    )
    replay.add_argument("input", help="input JSONL file")
    replay.add_argument("--out", required=True, help="output JSONL file")
    replay.add_argument(
        "--db", default=None, help="queue database URL (default: a fresh temporary SQLite)"
    )
    replay.add_argument("--model", default=None, help="model file (default: the newest in models/)")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(func=cmd_replay)

    demo = commands.add_parser("demo", help="replay the shipped night and show what happened")
    demo.add_argument("--night", default="data/demo/night.jsonl", help="the messages of the night")
    demo.add_argument(
        "--db", default=None, help="queue database URL (default: $AFTERHOURS_DB_URL, var/queue.db)"
    )
    demo.add_argument(
        "--scratch",
        action="store_true",
        help="replay into a throwaway database instead of the product's (the desk won't see it)",
    )
    demo.add_argument("--model", default=None, help="model file (default: the newest in models/)")
    demo.set_defaults(func=cmd_demo)


def _add_queue_command(commands: Any) -> None:
    """`queue list` and `queue show`."""
    queue = commands.add_parser("queue", help="list and show handoff tickets")
    queue.add_argument(
        "--db",
        default=None,
        help="queue database URL (default: $AFTERHOURS_DB_URL or var/queue.db)",
    )
    queue_commands = queue.add_subparsers(dest="queue_command")
    listing = queue_commands.add_parser("list", help="tickets waiting, most urgent first")
    listing.add_argument(
        "--status", default="waiting", choices=["waiting", "open", "claimed", "resolved", "all"]
    )
    listing.add_argument("--department", default=None)
    listing.add_argument("--limit", type=int, default=50)
    show = queue_commands.add_parser(
        "show", help="one ticket with its transcript (personal data masked)"
    )
    show.add_argument("ticket", type=int)
    show.add_argument(
        "--reveal",
        action="store_true",
        help="show the customer and the transcript in clear (written to the desk's audit log)",
    )
    queue.set_defaults(
        func=cmd_queue, queue_command="list", status="waiting", department=None, limit=50
    )


# The commands that open the queue's database, and whether they default to the product's
# (replay and demo without --db use a fresh temporary SQLite); `run` checks in afterhours.runner.
_DATABASE_COMMANDS = {
    "queue": True,
    "desk": True,
    "export-training": True,
    "replay": False,
    "demo": True,
    "incident": True,
    "privacy": True,
}


def check_database_first(args: argparse.Namespace) -> None:
    """Checks the database a command is about to open, once, before it does anything.

    Raises:
        ConfigError: Naming ``--db`` or ``AFTERHOURS_DB_URL`` (host and port, never a password).
    """
    from bot.settings import DB_ENV, check_database, database_url

    if args.command not in _DATABASE_COMMANDS:
        return
    given = getattr(args, "db", None)
    if given:
        check_database(given, "--db")
    elif _DATABASE_COMMANDS[args.command]:
        check_database(database_url(), DB_ENV)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `afterhours` console script."""
    from bot.library_warnings import silence_library_warnings
    from bot.settings import ConfigError

    silence_library_warnings()  # before any command imports Rasa, TensorFlow or SQLAlchemy
    args = build_parser().parse_args(argv)
    try:
        check_database_first(args)
        return int(args.func(args))
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
