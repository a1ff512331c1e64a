"""The results writer: one row per run, in its benchmark's section, hand-written text kept."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from afterhours.bench.results import append_run, command_line, current_commit, format_figures

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

WHEN = datetime(2026, 11, 22, 16, 5, tzinfo=timezone.utc)


def test_creates_the_file_and_the_section(tmp_path: Path) -> None:
    target = tmp_path / "benchmarks" / "results.md"
    row = append_run(
        "nlu",
        "afterhours bench nlu --dataset x",
        {"accuracy": "95.0%"},
        path=target,
        when=WHEN,
        commit="abc1234",
    )
    assert row == (
        "| 2026-11-22 16:05 +0000 | abc1234 | `afterhours bench nlu --dataset x` | accuracy 95.0% |"
    )
    assert target.read_text(encoding="utf-8").splitlines() == [
        "## Runs: bench nlu",
        "",
        "| date | commit | command | figures |",
        "|---|---|---|---|",
        row,
    ]


def test_appends_at_the_end_of_its_own_table(tmp_path: Path) -> None:
    target = tmp_path / "results.md"
    target.write_text(
        "# Results\n\nintro\n\n## Runs: bench nlu\n\n| date | commit | command | figures |\n"
        "|---|---|---|---|\n| old | c | `a` | f |\n\nnotes under the table\n\n"
        "## Experiments\n\n| what | figures |\n|---|---|\n| x | y |\n",
        encoding="utf-8",
    )
    append_run("nlu", "cmd", "new figures", path=target, when=WHEN, commit="c2")
    figures = {"p50": "9 ms", "rate": "120/s"}
    append_run("serve", "cmd2", figures, path=target, when=WHEN, commit="c3")
    lines = target.read_text(encoding="utf-8").splitlines()
    old = lines.index("| old | c | `a` | f |")
    assert lines[old + 1].endswith("| c2 | `cmd` | new figures |")
    assert "notes under the table" in lines and lines[0] == "# Results"
    assert lines[lines.index("| x | y |") + 1] == ""  # the experiments table is untouched
    assert lines[-1].endswith("| c3 | `cmd2` | p50 9 ms · rate 120/s |")
    assert lines[-5] == "## Runs: bench serve"


def test_cells_cannot_break_the_table(tmp_path: Path) -> None:
    target = tmp_path / "results.md"
    row = append_run("nlu", "a|b", "x\ny", path=target, when=WHEN, commit="c")
    assert "`a\\|b`" in row and "x y" in row and row.count(" | ") == 3


def test_helpers() -> None:
    assert format_figures({"a": 1, "b": "2 ms"}) == "a 1 · b 2 ms"
    assert command_line(["/x/.venv/bin/afterhours", "bench", "nlu"]) == "afterhours bench nlu"
    assert command_line(["afterhours", "--note", "a b"]) == "afterhours --note 'a b'"
    commit = current_commit()
    assert commit == "unknown" or len(commit.split("+")[0]) >= 7
    assert current_commit(Path("/")) == "unknown"
