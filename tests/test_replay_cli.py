"""The `afterhours` commands end to end, as a user or an outside evaluation runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.heldout.evaluate import evaluate, load_cases, report

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def afterhours(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "afterhours.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


def test_replay_reports_bad_lines_and_goes_on(trained_model: Path, tmp_path: Path) -> None:
    good = {
        "id": "a",
        "channel": "sms",
        "public": False,
        "sender": "+351911111111",
        "text": "how do I pay my bill?",
        "at": "2026-11-27T23:00:00+00:00",
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "id": "b", "at": "2026-11-27T23:00:00"}),
        json.dumps({**good, "id": "c", "channel": "fax"}),
        json.dumps({**good, "id": "d", "sender": "+351922222222", "text": "ok thanks, bye"}),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"
    done = afterhours(
        "replay", str(source), "--out", str(target), "--model", str(trained_model), "--quiet"
    )
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    # A line that is not JSON has no id of its own: it is named by its line number.
    assert [o["id"] for o in out] == ["a", "line-2", "b", "c", "d"]
    assert "error" not in out[0] and out[0]["decision"] == "answer"
    assert out[1]["error"].startswith("line 2: not JSON")
    assert "offset" in out[2]["error"] and "channel" in out[3]["error"]
    assert "error" not in out[4]
    assert "line 2:" in done.stderr and "line 3:" in done.stderr and "line 4:" in done.stderr
    assert set(out[0]) == {
        "id",
        "decision",
        "topic",
        "reason",
        "language",
        "replies",
        "ticket",
        "reply_eta",
        "incident",
    }


def test_replay_without_a_model_says_how_to_train(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("", encoding="utf-8")
    done = afterhours(
        "replay",
        str(source),
        "--out",
        str(tmp_path / "out.jsonl"),
        cwd=tmp_path,
        env={"AFTERHOURS_BRAND": str(ROOT / "brand.yml"), "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2
    assert "afterhours train" in done.stderr


def test_heldout_quality(trained_model: Path, tmp_path: Path) -> None:
    """The held-out night messages (tests/heldout, written apart from the training data)."""
    cases = load_cases()
    source = tmp_path / "heldout.jsonl"
    source.write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8"
    )
    target = tmp_path / "out.jsonl"
    done = afterhours(
        "replay", str(source), "--out", str(target), "--model", str(trained_model), "--quiet"
    )
    assert done.returncode == 0, done.stderr
    outputs = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    tallies = evaluate(outputs, cases)
    print(report(tallies))
    overall = tallies["all"]
    assert overall.leaks == 0
    assert overall.over_long == 0
    assert overall.eta == overall.eta_total
    assert overall.decision / overall.total >= 0.90
    assert overall.wrong_answers / overall.total <= 0.03


def test_demo_lands_the_night_where_the_desk_reads(trained_model: Path, tmp_path: Path) -> None:
    """The product's queue and tracker store (the embedded default, in a fresh folder), once."""
    import shutil
    import sqlite3

    shutil.copy(ROOT / "endpoints.yml", tmp_path / "endpoints.yml")
    queue_db = tmp_path / "var" / "queue.db"
    env = {
        "COLUMNS": "200",
        "AFTERHOURS_DB_URL": "",  # the embedded default: ./var/queue.db
        "AFTERHOURS_HOME": "",
        "AFTERHOURS_BRAND": str(ROOT / "brand.yml"),
    }
    night = str(ROOT / "data" / "demo" / "night.jsonl")
    args = ("demo", "--night", night, "--model", str(trained_model))
    done = afterhours(*args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "The night, message by message" in done.stdout
    assert "Waiting for the morning" in done.stdout
    assert "handed off" in done.stdout and "answered" in done.stdout and "ignored" in done.stdout
    assert "afterhours desk add-agent" in done.stdout  # how to sign in
    with sqlite3.connect(queue_db) as db:
        tickets = db.execute("SELECT count(*) FROM handoff_tickets").fetchone()[0]
    with sqlite3.connect(tmp_path / "var" / "trackers.db") as db:
        conversations = db.execute("SELECT count(DISTINCT sender_id) FROM events").fetchone()[0]
    assert tickets > 0 and conversations > tickets
    again = afterhours(*args, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert f"already in the queue ({tickets} cases)" in again.stdout
    with sqlite3.connect(queue_db) as db:
        assert db.execute("SELECT count(*) FROM handoff_tickets").fetchone()[0] == tickets
    # The supervisors' report on it: the last night was quiet, so the demo's night is shown.
    report = afterhours("report", "--json", cwd=tmp_path, env=env)
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    assert figures["containment"]["rate"] > 0.5
    assert sum(figures["handoffs"]["by_reason"].values()) == tickets
    assert "median_minutes" in figures["first_response"] and "kept" in figures["promises"]


def test_rasa_data_validate_accepts_the_repository() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_rasa_test_passes_the_conversation_stories(trained_model: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "test",
            "core",
            "--model",
            str(trained_model),
            "--stories",
            "tests/test_stories.yml",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "AFTERHOURS_BRAND": str(ROOT / "afterhours" / "bench" / "brand_night.yml"),
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    failed = (tmp_path / "failed_test_stories.yml").read_text(encoding="utf-8")
    assert "- story:" not in failed, failed
