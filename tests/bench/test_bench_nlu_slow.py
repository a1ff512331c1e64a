"""`afterhours bench nlu` end to end on a tiny plain dataset: train, parse, print, record."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AFTERHOURS = Path(sys.executable).parent / "afterhours"
PLAIN = Path(__file__).parent / "fixtures" / "plain"


@pytest.mark.slow
def test_bench_nlu_on_a_plain_dataset(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [
            str(AFTERHOURS), "bench", "nlu",
            "--dataset", str(PLAIN),
            "--latency-samples", "5",
            "--results", str(results),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "plain: 3 intents · train 19 (oos 1) · validation 5 (oos 2) · test 8 (oos 2)" in out
    assert "LinearIntentClassifier" in out and "FallbackClassifier" not in out
    for figure in ("in-scope accuracy", "OOS recall", "macro F1", "parse p50", "peak RSS"):
        assert figure in out
    # Six in-scope test queries, each close to its training examples: a working pipeline gets
    # most of them before any threshold.
    line = next(x for x in out.splitlines() if "in-scope (no threshold)" in x)
    assert float(line.split()[-1].rstrip("%")) >= 80.0
    rows = [x for x in results.read_text(encoding="utf-8").splitlines() if "--dataset" in x]
    assert len(rows) == 1 and "in-scope accuracy" in rows[0]
