"""Session fixtures: one small model trained per test session, and the live pipeline around it.

The model is trained from the repository's own config and data (the shipped pipeline); set
AFTERHOURS_TEST_MODEL to a trained model file to skip training while iterating locally.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("AFTERHOURS_BRAND", str(ROOT / "brand.yml"))


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped pipeline trained once for the whole session."""
    given = os.environ.get("AFTERHOURS_TEST_MODEL")
    if given:
        return Path(given)
    from afterhours.training import train_model

    out = tmp_path_factory.mktemp("models")
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        return train_model(out=out, fixed_name="test-model", force=True)
    finally:
        os.chdir(previous)


@dataclass
class Pipeline:
    """The real pipeline (model, policies, action server, queue, rendering) for tests."""

    replayer: Any
    loop: asyncio.AbstractEventLoop
    db_url: str

    def send(
        self,
        text: str,
        *,
        sender: str = "alice",
        channel: str = "telegram",
        public: bool = False,
        at: str = "2026-11-27T23:00:00+00:00",
    ) -> Any:
        """Sends one customer message and returns what replay would report for it."""
        from bot.inbound import Inbound

        inbound = Inbound(
            channel=channel, sender=sender, text=text, public=public, at=datetime.fromisoformat(at)
        )
        return self.loop.run_until_complete(self.replayer.handle(f"{channel}:{sender}", inbound))

    def queue(self) -> Any:
        """The queue the actions wrote to."""
        from handoff.queue import HandoffQueue

        return HandoffQueue.from_url(self.db_url, migrate=False)


def _pipeline(model: Path, db_url: str) -> Iterator[Pipeline]:
    from afterhours.replay import Replayer, replay_environment

    with replay_environment(db_url) as (url, action_url):
        loop = asyncio.new_event_loop()
        try:
            yield Pipeline(Replayer.load(model, action_url), loop, url)
        finally:
            loop.close()


@pytest.fixture(scope="session")
def pipeline(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The pipeline on the embedded default (SQLite)."""
    yield from _pipeline(
        trained_model, f"sqlite:///{tmp_path_factory.mktemp('queue') / 'queue.db'}"
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL schema of its own on the server at 127.0.0.1:5432, dropped afterwards."""
    from tests.postgres import postgres_schema

    with postgres_schema("afterhours_test") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_pipeline(trained_model: Path, postgres_url: str) -> Iterator[Pipeline]:
    """The same pipeline with the queue on PostgreSQL."""
    yield from _pipeline(trained_model, postgres_url)


@pytest.fixture(scope="module")
def tensorflow_stays_out() -> Iterator[None]:
    """Fails a module's last teardown if its tests imported TensorFlow.

    Modules of TensorFlow-free code use it through `pytest.mark.usefixtures`. No check when an
    earlier module of the run loaded it; tests/test_cli.py checks a fresh interpreter.
    """
    import sys

    loaded_before = "tensorflow" in sys.modules
    yield
    if not loaded_before:
        assert "tensorflow" not in sys.modules, "a module tested here imported TensorFlow"
