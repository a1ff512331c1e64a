"""`make rasa-test`: Rasa's conversation tests (tests/test_stories.yml) pass, end to end.

Runs the Makefile's target on the model the session's slow tests trained
(``RASA_TEST_MODEL=``), so CI checks the stories without training a second model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_rasa_test_passes_on_the_trained_model(trained_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "rasa-test"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AFTERHOURS_")}
    done = subprocess.run(
        ["make", "-s", "rasa-test", f"RASA_TEST_MODEL={trained_model}", f"RASA_TEST_OUT={out}"],
        cwd=REPO,
        env={**environ, "RASA_TELEMETRY_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "story_report.json").read_text(encoding="utf-8"))
    stories = (REPO / "tests" / "test_stories.yml").read_text(encoding="utf-8")
    # Every story was evaluated and every action in it predicted (a wrong intent stops the run).
    assert report["conversation_accuracy"]["total"] == stories.count("- story:")
    assert report["conversation_accuracy"]["correct"] == report["conversation_accuracy"]["total"]
