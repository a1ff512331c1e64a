"""`afterhours export-training`: the labels agents gave resolved cases, as Rasa NLU YAML.

One file per language, ``<out>/<language>/desk_labels.yml``, shaped like ``data/nlu/<language>/``
so a trainer can move the examples into the training data. Only the examples a trainer accepted on
the desk's training page are written (under the intent the trainer chose), unless pending ones are
asked for too; excluded examples never are. Intents the agents proposed (not in the domain yet) are
marked with a comment.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from desk.models import TrainingExample

__all__ = ["export_intent", "export_training", "exportable", "nlu_yaml"]


def export_intent(example: TrainingExample) -> str:
    """The intent an example is exported under: the trainer's edit, else the agent's label."""
    return example.reviewed_intent or example.intent


def exportable(
    examples: Sequence[TrainingExample], *, include_pending: bool = False
) -> list[TrainingExample]:
    """The examples an export takes: accepted ones, and pending ones when asked; never excluded."""
    states = ("accepted", "pending") if include_pending else ("accepted",)
    return [e for e in examples if (e.review or "pending") in states]


def _example_line(text: str) -> str:
    # One line per example: newlines would end the YAML block's item.
    return " ".join(text.split())


def nlu_yaml(examples: Sequence[TrainingExample]) -> str:
    """Render examples as a Rasa 3 NLU training-data document.

    Args:
        examples: Labelled examples (any languages; the caller usually passes one).

    Returns:
        The YAML text; identical examples of one intent appear once.
    """
    by_intent: dict[str, list[str]] = defaultdict(list)
    proposed: set[str] = set()
    tickets: dict[str, set[int]] = defaultdict(set)
    for example in examples:
        intent = export_intent(example)
        line = _example_line(example.text)
        if line and line not in by_intent[intent]:
            by_intent[intent].append(line)
        tickets[intent].add(example.ticket_id)
        if example.proposed and not example.reviewed_intent:
            # A trainer's edit is always one of the domain's intents.
            proposed.add(intent)
    out = [
        "# Customer messages labelled by agents at the desk (afterhours export-training).",
        "# Review before moving them into data/nlu/: personal data is masked as [kind].",
        'version: "3.1"',
        "nlu:",
    ]
    for intent in sorted(by_intent):
        if not by_intent[intent]:
            continue
        cases = ", ".join(f"#{t}" for t in sorted(tickets[intent]))
        note = "proposed new intent; " if intent in proposed else ""
        out.append(f"# {note}from cases {cases}")
        out.append(f"- intent: {intent}")
        out.append("  examples: |")
        out.extend(f"    - {line}" for line in by_intent[intent])
    return "\n".join(out) + "\n"


def export_training(
    examples: Sequence[TrainingExample],
    out: Path,
    *,
    since: dt.datetime | None = None,
    include_pending: bool = False,
) -> dict[str, Path]:
    """Write one NLU file per language under ``out``.

    Args:
        examples: The labelled examples.
        out: The folder to write into (created).
        since: Only examples labelled at or after this time.
        include_pending: Take the examples no trainer reviewed yet too (excluded ones never).

    Returns:
        language -> the file written.
    """
    chosen = [
        e
        for e in exportable(examples, include_pending=include_pending)
        if since is None or e.labelled_at >= since
    ]
    by_language: dict[str, list[TrainingExample]] = defaultdict(list)
    for example in chosen:
        by_language[example.language].append(example)
    written: dict[str, Path] = {}
    for language in sorted(by_language):
        target = out / language / "desk_labels.yml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(nlu_yaml(by_language[language]), encoding="utf-8")
        written[language] = target
    return written
