"""`afterhours replay`: a file of messages through the real product (see shared/spec/replay.md).

The messages go through the trained model, Rasa's processor and policies, the real action server
(started on a free loopback port), the handoff queue and the channel renderers — the same path a
live message takes. Only the tracker store is in memory: it holds no decision.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from afterhours.models import newest_model
from bot.inbound import Inbound, clean_text
from bot.servers import action_server_command, free_port, wait_until_healthy
from bot.settings import BRAND_ENV, DB_ENV, ConfigError, brand_path
from handoff.clock import parse_iso

if TYPE_CHECKING:  # rich is imported when a replay runs, not by importing this module
    from rich.console import Console
    from rich.progress import Progress

logger = logging.getLogger(__name__)

CHANNELS = ("x", "telegram", "sms", "rest")
REQUIRED = {"id": str, "channel": str, "public": bool, "sender": str, "text": str, "at": str}


class ReplayInputError(ValueError):
    """A line of the input cannot be replayed; the message says why."""


def parse_line(raw: str) -> Inbound:
    """Validates one input line (see replay.md) and turns it into an inbound message.

    Raises:
        ReplayInputError: naming the field that is missing or wrong.
    """
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ReplayInputError(f"not JSON: {error.msg} at column {error.colno}") from error
    if not isinstance(record, dict):
        raise ReplayInputError("a line must be a JSON object")
    for key, kind in REQUIRED.items():
        if key not in record:
            raise ReplayInputError(f"missing field `{key}`")
        if not isinstance(record[key], kind):
            raise ReplayInputError(f"field `{key}` must be a {kind.__name__}")
    if record["channel"] not in CHANNELS:
        raise ReplayInputError(f"field `channel` must be one of {', '.join(CHANNELS)}")
    if not record["sender"].strip():
        raise ReplayInputError("field `sender` is empty")
    try:
        at = parse_iso(record["at"], name="field `at`")
    except ValueError as error:  # "is not ISO 8601" or "needs a UTC offset"
        raise ReplayInputError(str(error)) from error
    return Inbound(
        channel=record["channel"],
        sender=record["sender"].strip(),
        text=record["text"],
        public=record["public"],
        at=at,
    )


@contextmanager
def action_server(db_url: str, log_file: TextIO | None = None) -> Iterator[str]:
    """Runs the action server on a free loopback port for the duration of the block."""
    port = free_port()
    env = dict(os.environ, **{DB_ENV: db_url, BRAND_ENV: str(brand_path().resolve())})
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    process = subprocess.Popen(
        action_server_command(port),
        env=env,
        stdout=log_file or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class ReplayResult:
    """What replay reports for one input line (see replay.md "Output")."""

    id: str
    decision: str | None = None
    topic: str | None = None
    reason: str | None = None
    language: str | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)
    ticket: int | None = None
    reply_eta: str | None = None
    incident: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The output line; `error` only where there was one."""
        value: dict[str, Any] = {
            "id": self.id,
            "decision": self.decision,
            "topic": self.topic,
            "reason": self.reason,
            "language": self.language,
            "replies": self.replies,
            "ticket": self.ticket,
            "reply_eta": self.reply_eta,
            "incident": self.incident,
        }
        if self.error is not None:
            value["error"] = self.error
        return value


def triage_of_turn(events: Sequence[Any]) -> dict[str, Any] | None:
    """The `triage` value set after the latest customer message."""
    from rasa.shared.core.events import SlotSet, UserUttered

    found: dict[str, Any] | None = None
    for event in reversed(events):
        if isinstance(event, SlotSet) and event.key == "triage" and found is None:
            found = event.value
        if isinstance(event, UserUttered):
            break
    return found


class Replayer:
    """Holds a loaded agent and replays messages through it, one conversation turn at a time."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    @classmethod
    def load(cls, model: Path, action_url: str, tracker_store: Any = None) -> Replayer:
        """Loads the model (TensorFlow) with the action server at `action_url`.

        Args:
            model: The model file.
            action_url: The action server's webhook.
            tracker_store: Where conversations are kept (default: in memory, for this run).
        """
        from rasa.core.agent import Agent
        from rasa.utils.endpoints import EndpointConfig
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)

        return cls(
            Agent.load(
                str(model),
                action_endpoint=EndpointConfig(url=action_url),
                tracker_store=tracker_store,
            )
        )

    async def handle(self, line_id: str, inbound: Inbound) -> ReplayResult:
        """Runs one message through Rasa and reports what the bot did."""
        from rasa.core.channels.channel import UserMessage

        from bot.channels.output import CollectingRenderingChannel

        handle = inbound.sender if inbound.channel == "x" else None
        output = CollectingRenderingChannel(inbound.channel, public=inbound.public, handle=handle)
        message = UserMessage(
            text=clean_text(inbound.text),
            output_channel=output,
            sender_id=inbound.conversation_id,
            input_channel=inbound.channel,
            metadata=inbound.metadata(),
        )
        await self.agent.handle_message(message)
        tracker = await self.agent.tracker_store.retrieve(inbound.conversation_id)
        triage = triage_of_turn(tracker.events) if tracker else None
        if tracker and not (triage or {}).get("decision"):
            # A model without TriagePolicy (stock Rasa, `bench serve --stock`) records no
            # decision: it is what the turn's actions did (afterhours/bench/stock.py).
            from afterhours.bench.stock import decision_from_actions

            triage = decision_from_actions(tracker.events, triage)
        if not triage:
            return ReplayResult(id=line_id, error="the bot recorded no decision for this message")
        decision = triage.get("decision")
        reasons = triage.get("reasons") or []
        return ReplayResult(
            id=line_id,
            decision=decision,
            topic=triage.get("topic") if decision == "answer" else None,
            reason=reasons[0] if reasons and decision != "answer" else None,
            language=triage.get("language"),
            replies=[{"public": r.public, "text": r.text} for r in output.replies],
            ticket=triage.get("ticket") if decision == "handoff" else None,
            reply_eta=triage.get("reply_eta") if decision == "handoff" else None,
            # The open incident the message was linked to (actions/incident.py), or None.
            incident=triage.get("incident") if decision in ("answer", "handoff") else None,
        )


async def replay_lines(
    replayer: Replayer, lines: Sequence[str], on_result: Any = None
) -> list[ReplayResult]:
    """Replays input lines in order; a bad line becomes an error result and the rest go on."""
    results: list[ReplayResult] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        line_id = f"line-{number}"
        try:
            record_id = json.loads(raw).get("id") if raw.lstrip().startswith("{") else None
            if isinstance(record_id, str):
                line_id = record_id
        except (json.JSONDecodeError, AttributeError):
            pass
        try:
            inbound = parse_line(raw)
        except ReplayInputError as error:
            print(f"line {number}: {error}", file=sys.stderr)
            result = ReplayResult(id=line_id, error=f"line {number}: {error}")
        else:
            try:
                result = await replayer.handle(line_id, inbound)
            except Exception as error:  # noqa: BLE001 - one message must not stop the others
                logger.exception("line %s failed", number)
                print(f"line {number}: {type(error).__name__}: {error}", file=sys.stderr)
                result = ReplayResult(
                    id=line_id, error=f"line {number}: {type(error).__name__}: {error}"
                )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


@contextmanager
def replay_environment(
    db_url: str | None, log_dir: Path | None = None
) -> Iterator[tuple[str, str]]:
    """A queue database (a fresh temporary SQLite unless given) and a running action server."""
    with tempfile.TemporaryDirectory(prefix="afterhours-replay-") as scratch:
        url = db_url or f"sqlite:///{Path(scratch) / 'queue.db'}"
        log_path = (log_dir or Path(scratch)) / "action-server.log"
        with (
            open(log_path, "w", encoding="utf-8") as log_file,
            action_server(url, log_file) as action_url,
        ):
            previous = os.environ.get(DB_ENV)
            os.environ[DB_ENV] = url
            try:
                yield url, action_url
            finally:
                if previous is None:
                    os.environ.pop(DB_ENV, None)
                else:
                    os.environ[DB_ENV] = previous


def replay_progress(console: Console | None = None, *, enabled: bool = True) -> Progress:
    """The progress display of a replay (``replay``, ``demo``): a description, a bar, done/total.

    Args:
        console: Where it is drawn; stderr by default (stdout may be the replay's output).
        enabled: False draws nothing (``--no-progress``).

    Returns:
        A transient :class:`rich.progress.Progress`, to use as a context manager.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
        console=console or Console(stderr=True),
    )


def product_tracker_store(endpoints: str | Path = "endpoints.yml") -> Any:
    """The tracker store `rasa run` uses (endpoints.yml), so replayed conversations are kept.

    Raises:
        ConfigError: endpoints.yml has no tracker store.
    """
    from rasa.core.tracker_store import TrackerStore
    from rasa.utils.endpoints import read_endpoint_config

    config = read_endpoint_config(str(endpoints), "tracker_store")
    if config is None:
        raise ConfigError(f"{endpoints}: no tracker_store")
    return TrackerStore.create(config)


@dataclass(frozen=True)
class ReplayStats:
    """How long a replay took: loading the model, then the messages."""

    load_seconds: float
    replay_seconds: float
    messages: int

    @property
    def per_second(self) -> float:
        """Messages per second after the model was loaded."""
        return self.messages / self.replay_seconds if self.replay_seconds else 0.0


def run_replay(
    input_path: Path,
    output_path: Path,
    *,
    db_url: str | None = None,
    model: Path | None = None,
    progress: bool = True,
) -> tuple[list[ReplayResult], ReplayStats]:
    """Replays `input_path` into `output_path` (the CLI's `replay`).

    Raises:
        afterhours.models.NoModelError: there is no model and none was given.
    """
    model_path = model or newest_model()
    lines = input_path.read_text(encoding="utf-8").splitlines()
    with (
        replay_environment(db_url) as (_url, action_url),
        replay_progress(enabled=progress) as bar,
    ):
        task = bar.add_task("loading the model", total=None)
        started = time.perf_counter()
        replayer = Replayer.load(model_path, action_url)
        loaded = time.perf_counter()
        bar.update(task, description="replaying", total=sum(1 for x in lines if x.strip()))
        results = asyncio.run(replay_lines(replayer, lines, lambda _r: bar.advance(task)))
        stats = ReplayStats(loaded - started, time.perf_counter() - loaded, len(results))
    with open(output_path, "w", encoding="utf-8") as out:
        for result in results:
            out.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
    return results, stats
