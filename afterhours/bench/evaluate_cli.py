"""`afterhours evaluate`: a model on the held-out sets, compared with another or the reference.

Light at import (argparse only): `afterhours --help` must not load Rasa or matplotlib.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "Replays the held-out sets (default: tests/heldout/ and, if it exists, tests/heldout_night/) "
    "through the real pipeline with MODEL and prints decision, topic, reason and language "
    "accuracy per language, per expected topic and per expected decision/reason; writes the "
    "confusion matrices (PNG) and an HTML page linking them into --out. With --against it "
    "replays OLD too and lists every held-out line whose outcome changed; with --reference it "
    "compares with stored figures (benchmarks/reference.json). Exit 1 when MODEL is worse: "
    "decision accuracy lower by more than --tolerance points, or more wrong answers, personal "
    "data repeated in public or over-long replies. Exit 2 on a setting error."
)


def add_evaluate_command(commands: Any) -> None:
    """Adds `evaluate` to the `afterhours` subcommands."""
    parser = commands.add_parser(
        "evaluate",
        help="score a model on the held-out sets; compare it with another or the reference",
        description=DESCRIPTION,
    )
    parser.add_argument("--model", default=None, help="the model to score (default: newest)")
    old = parser.add_mutually_exclusive_group()
    old.add_argument("--against", default=None, metavar="OLD", help="a model to compare with")
    old.add_argument(
        "--reference",
        default=None,
        metavar="FILE",
        help="reference figures to compare with (e.g. benchmarks/reference.json)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=None,
        metavar="DIR",
        dest="sets",
        help="a held-out set folder (repeatable; default: the shipped sets)",
    )
    parser.add_argument(
        "--out", default="var/evaluate", help="folder for the HTML page and the pictures"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1.0,
        metavar="PP",
        help="decision accuracy may fall by this many percentage points (default 1)",
    )
    parser.add_argument(
        "--write-reference",
        default=None,
        metavar="FILE",
        help="store MODEL's figures as reference figures in FILE",
    )
    parser.add_argument("--errors", action="store_true", help="list every line that was not right")
    parser.set_defaults(func=run)


def _model_path(given: str | None, setting: str) -> Path:
    from afterhours.models import newest_model

    path = Path(given) if given else newest_model()
    if not path.is_file():
        raise ValueError(f"{setting}: no model file at {path}")
    return path


def _set_folders(given: list[str] | None) -> list[Path]:
    from afterhours.bench.evaluation import DEFAULT_SETS

    if not given:
        return [folder for folder in DEFAULT_SETS if folder.is_dir()]
    folders = [Path(name) for name in given]
    for folder in folders:
        if not folder.is_dir():
            raise ValueError(f"--set: {folder} is not a folder")
    return folders


def _score_sets(folders: list[Path], model: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replays every set with `model`: (set name -> (cases, outputs), set name -> figures)."""
    from afterhours.bench import evaluation

    replayed: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    for folder in folders:
        cases = evaluation.load_cases(folder)
        outputs = evaluation.replay(cases, str(model))
        replayed[folder.name] = (cases, outputs)
        figures[folder.name] = evaluation.set_figures(folder.name, cases, outputs)
    return replayed, figures


def run(args: argparse.Namespace) -> int:
    """Scores MODEL, compares it, prints and writes the report; exit 1 when it is worse."""
    import subprocess

    from afterhours.bench import evaluation
    from afterhours.models import NoModelError

    started = time.perf_counter()
    try:
        if args.tolerance < 0:
            raise ValueError("--tolerance must be 0 or more percentage points")
        model = _model_path(args.model, "--model")
        against = _model_path(args.against, "--against") if args.against else None
        folders = _set_folders(args.sets)
        if not folders:
            raise ValueError("--set: no held-out set found (tests/heldout/ is missing)")
        reference = evaluation.read_reference(Path(args.reference)) if args.reference else None
        replayed, figures = _score_sets(folders, model)
        old_figures = reference
        if against is not None:
            _, old_figures = _score_sets(folders, against)
    except (ValueError, NoModelError) as error:  # SetError is a ValueError
        print(f"afterhours evaluate: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"afterhours evaluate: the replay failed (exit {error.returncode})", file=sys.stderr)
        return 2
    return _report(args, model, against, replayed, figures, old_figures, started)


def _report(
    args: argparse.Namespace,
    model: Path,
    against: Path | None,
    replayed: dict[str, Any],
    figures: dict[str, Any],
    old_figures: dict[str, Any] | None,
    started: float,
) -> int:
    from afterhours.bench import evaluation
    from afterhours.bench.evaluation_coverage import print_coverage_warnings
    from afterhours.bench.evaluation_report import SetReport, summary_line, text_report, write_html

    print_coverage_warnings()  # gaps in a language the trainer can fill (issue 17)
    old_name = against.name if against else ("reference" if old_figures is not None else None)
    comparison = (
        evaluation.compare(figures, old_figures, args.tolerance)
        if old_figures is not None
        else None
    )
    reports = []
    for name, (cases, outputs) in replayed.items():
        changed = None
        if old_figures is not None and name in old_figures:
            changed = evaluation.changes(cases, old_figures[name].outcomes, figures[name].outcomes)
        result = SetReport(
            name=name,
            model=model.name,
            tallies=evaluation.evaluate(outputs, cases),
            breakdown=evaluation.breakdown(outputs, cases),
            changes=changed,
            against=old_name,
            kinds=(
                evaluation.kinds_report(cases, outputs)
                if any("kind" in case for case in cases)
                else None
            ),
        )
        reports.append(result)
        print(text_report(result), end="\n\n")
        if args.errors:
            print("\n".join(result.tallies["all"].errors), end="\n\n")
    out = Path(args.out)
    title = f"afterhours evaluate: {model.name}" + (f" against {old_name}" if old_name else "")
    page = write_html(out, reports, comparison, title)
    if args.write_reference:
        from afterhours.bench.results import current_commit

        commit = current_commit()
        evaluation.write_reference(
            Path(args.write_reference),
            model.name,
            list(figures.values()),
            {"commit": commit} if commit != "unknown" else {},
        )
        print(f"reference figures written to {args.write_reference}")
    print(f"report: {page} (confusion matrices as PNG beside it)")
    print(f"evaluated in {time.perf_counter() - started:.0f} s")
    if comparison is None or old_figures is None:
        return 0
    for name, now in figures.items():
        before = old_figures.get(name)
        if before is not None:
            print(f"{name}: {old_name}: {summary_line(before)}")
            print(f"{name}: {model.name}: {summary_line(now)}")
    for note in comparison.notes:
        print(f"note: {note}")
    if comparison.regressions:
        print(f"WORSE than {old_name} (tolerance {args.tolerance:g} pp):")
        print("\n".join(f"  {r}" for r in comparison.regressions))
    else:
        print(f"not worse than {old_name} (tolerance {args.tolerance:g} pp)")
    return comparison.exit_code
