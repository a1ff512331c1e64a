"""Appends one row per benchmark run to `benchmarks/results.md`.

Each benchmark has its own section (`## Runs: bench nlu`, ...) holding a table of
date | commit | command | figures. A row goes at the end of its section's table; a missing
section (or file) is created, so hand-written sections around it are left alone.
"""

from __future__ import annotations

import fcntl
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS_FILE = REPO / "benchmarks" / "results.md"
HEADER = "| date | commit | command | figures |"
RULE = "|---|---|---|---|"


def section_title(benchmark: str) -> str:
    """The heading of a benchmark's run table, e.g. `## Runs: bench nlu`."""
    return f"## Runs: bench {benchmark}"


def current_commit(repo: Path = REPO) -> str:
    """The short commit, `+dirty` when tracked files changed; `unknown` outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed, with the program shortened to `afterhours`."""
    words = list(sys.argv if argv is None else argv)
    if words and (words[0].endswith("afterhours") or words[0].endswith("cli.py")):
        words[0] = "afterhours"
    return shlex.join(words)


def format_figures(figures: Mapping[str, object]) -> str:
    """`name value` pairs joined by ` · ` (one table cell)."""
    return " · ".join(f"{name} {value}" for name, value in figures.items())


def _cell(text: str) -> str:
    # A pipe would split the cell; a newline would end the row.
    return text.replace("|", "\\|").replace("\n", " ").strip()


def append_run(
    benchmark: str,
    command: str,
    figures: Mapping[str, object] | str,
    *,
    path: Path = RESULTS_FILE,
    when: datetime | None = None,
    commit: str | None = None,
) -> str:
    """Appends a run's row to the benchmark's table and returns the row.

    Args:
        benchmark: The benchmark's name (`nlu`, `serve`); names the section.
        command: The command that produced the figures.
        figures: Name -> value, or one preformatted string.
        path: The results file (created with its section when missing).
        when: The run's time (default now, local time with offset).
        commit: The commit (default `current_commit()`).
    """
    stamp = (when or datetime.now(timezone.utc).astimezone()).strftime("%Y-%m-%d %H:%M %z")
    text = figures if isinstance(figures, str) else format_figures(figures)
    row = f"| {stamp} | {_cell(commit or current_commit())} | `{_cell(command)}` | {_cell(text)} |"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Several benchmarks may finish at once: read, change and write under one lock.
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        lines = _with_row(handle.read().splitlines(), section_title(benchmark), row)
        handle.seek(0)
        handle.truncate()
        handle.write("\n".join(lines) + "\n")
    return row


def _with_row(lines: list[str], title: str, row: str) -> list[str]:
    if title not in lines:
        if lines and lines[-1].strip():
            lines.append("")
        return [*lines, title, "", HEADER, RULE, row]
    start = lines.index(title)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    table = [i for i in range(start + 1, end) if lines[i].startswith("|")]
    if table:
        lines.insert(table[-1] + 1, row)
    else:
        lines[start + 1 : start + 1] = ["", HEADER, RULE, row]
    return lines
