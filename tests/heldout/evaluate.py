"""Replays the held-out set through `afterhours replay` and prints the quality report.

    python -m tests.heldout.evaluate [--model PATH] [--set DIR ...] [--errors]

The set (tests/heldout/*.jsonl) was written apart from the training data; see its README. The
scoring lives in shipped code (`afterhours/bench/evaluation.py`,
also behind `afterhours evaluate`, which adds
the breakdowns, the pictures and the comparison with another model); this module keeps this
command and the names the tests import.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from afterhours.bench.evaluation import (  # noqa: F401 (re-exported for the tests and older scripts)
    LANGUAGES,
    Tally,
    evaluate,
    failures_by_kind,
    kinds_report,
    leaks,
    over_long,
    percent,
    replay,
    report,
    same_instant,
)
from afterhours.bench.evaluation import load_cases as _load_cases

HERE = Path(__file__).parent


def load_cases(folder: Path = HERE) -> list[dict[str, Any]]:
    """Every held-out line, in file order, language by language."""
    return _load_cases(folder)


def main() -> int:
    """Replays each held-out set and prints its report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--set",
        action="append",
        dest="sets",
        metavar="DIR",
        help="a held-out set folder (repeatable; default: tests/heldout)",
    )
    parser.add_argument("--errors", action="store_true", help="list every line that was not right")
    args = parser.parse_args()
    folders = [Path(name) for name in args.sets] if args.sets else [HERE]
    for folder in folders:
        if not (folder / "en.jsonl").is_file():
            parser.error(f"--set: {folder} is not a held-out set (no en.jsonl)")
    for folder in folders:
        cases = load_cases(folder)
        outputs = replay(cases, args.model)
        tallies = evaluate(outputs, cases)
        if len(folders) > 1:
            print(f"\n## {folder.name} ({len(cases)} lines)\n")
        print(report(tallies))
        if any("kind" in case for case in cases):
            print("\nBy kind of message (ids of the lines not right):\n")
            print(kinds_report(cases, outputs))
        if args.errors:
            print("\n".join(tallies["all"].errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
