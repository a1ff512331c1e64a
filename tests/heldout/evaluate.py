"""Replays the held-out set through `afterhours replay` and prints the quality report.

    python -m tests.heldout.evaluate [--model PATH] [--set DIR ...] [--errors]

The set (tests/heldout/*.jsonl) was written apart from the training data; see its README.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.nlu.personal_data import find_personal_data
from bot.render.sms import encoding_of
from bot.render.x import weighted_length
from bot.settings import load_brand

HERE = Path(__file__).parent
LANGUAGES = ("en", "pt", "es", "it")


def load_cases(folder: Path = HERE) -> list[dict[str, Any]]:
    """Every held-out line, in file order, language by language."""
    cases = []
    for language in LANGUAGES:
        for line in (folder / f"{language}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                cases.append(json.loads(line))
    return cases


def over_long(case: dict[str, Any], reply: dict[str, Any]) -> bool:
    """Whether a reply breaks its channel's limit."""
    text = reply["text"]
    if case["channel"] == "x" and reply["public"]:
        return weighted_length(text) > 280
    if case["channel"] == "sms":
        return encoding_of(text).segments > 2
    if case["channel"] == "telegram":
        return len(text.encode("utf-16-le")) // 2 > 4096
    return False


def leaks(case: dict[str, Any], reply: dict[str, Any]) -> bool:
    """Whether a public reply repeats personal data (the customer's, or any found in it)."""
    if not reply["public"]:
        return False
    brand = load_brand()
    found = find_personal_data(
        case["text"],
        account_pattern=brand.account_number_pattern,
        phone_regions=brand.phone_regions,
    )
    if any(f.value in reply["text"] for f in found):
        return True
    own = {brand.contacts.phone, brand.contacts.email}
    in_reply = find_personal_data(
        reply["text"],
        account_pattern=brand.account_number_pattern,
        phone_regions=brand.phone_regions,
    )
    return any(f.value not in own for f in in_reply)


def same_instant(a: str | None, b: str | None) -> bool:
    """Whether two ISO 8601 times are the same instant (None only equals None)."""
    if a is None or b is None:
        return a is b
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


@dataclass
class Tally:
    """Counts for one language (or all)."""

    total: int = 0
    decision: int = 0
    topic_total: int = 0
    topic: int = 0
    wrong_answers: int = 0
    reason_total: int = 0
    reason: int = 0
    language: int = 0
    leaks: int = 0
    over_long: int = 0
    eta_total: int = 0
    eta: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, case: dict[str, Any], out: dict[str, Any]) -> None:
        """Scores one replayed line against its expectation."""
        expect = case["expect"]
        self.total += 1
        problems = []
        if out.get("decision") == expect["decision"]:
            self.decision += 1
        else:
            problems.append(
                f"decision {out.get('decision')}/{out.get('reason') or out.get('topic')} "
                f"!= {expect['decision']}/{expect.get('reason') or expect.get('topic')}"
            )
        if expect["decision"] == "answer":
            self.topic_total += 1
            if out.get("topic") == expect["topic"]:
                self.topic += 1
            elif out.get("decision") == "answer":
                problems.append(f"topic {out.get('topic')} != {expect['topic']}")
        if out.get("decision") == "answer" and (
            expect["decision"] != "answer" or out.get("topic") != expect["topic"]
        ):
            self.wrong_answers += 1
        if expect["decision"] != "answer":
            self.reason_total += 1
            if out.get("reason") == expect["reason"]:
                self.reason += 1
            elif out.get("decision") == expect["decision"]:
                problems.append(f"reason {out.get('reason')} != {expect['reason']}")
        if out.get("language") == expect["language"]:
            self.language += 1
        else:
            problems.append(f"language {out.get('language')} != {expect['language']}")
        replies = out.get("replies") or []
        self.leaks += sum(leaks(case, r) for r in replies)
        self.over_long += sum(over_long(case, r) for r in replies)
        if expect["decision"] == "handoff" and out.get("decision") == "handoff":
            self.eta_total += 1
            if same_instant(out.get("reply_eta"), expect.get("reply_eta")):
                self.eta += 1
            else:
                problems.append(f"reply_eta {out.get('reply_eta')} != {expect.get('reply_eta')}")
        if out.get("error"):
            problems.append(f"error {out['error']}")
        if problems:
            self.errors.append(f"{case['id']}: {case['text'][:70]!r}: " + "; ".join(problems))


def percent(part: int, whole: int) -> str:
    """A percentage with its counts."""
    return f"{100 * part / whole:5.1f}% ({part}/{whole})" if whole else "  n/a"


def report(tallies: dict[str, Tally]) -> str:
    """The report as a Markdown table, one column per language and one for all."""
    rows = [
        ("decision accuracy", lambda t: percent(t.decision, t.total)),
        ("topic accuracy (expected answers)", lambda t: percent(t.topic, t.topic_total)),
        ("wrong answers (of all lines)", lambda t: percent(t.wrong_answers, t.total)),
        (
            "reason accuracy (expected handoffs/ignores)",
            lambda t: percent(t.reason, t.reason_total),
        ),
        ("language accuracy", lambda t: percent(t.language, t.total)),
        ("promised times right (handoffs)", lambda t: percent(t.eta, t.eta_total)),
        ("personal data repeated in public", lambda t: str(t.leaks)),
        ("over-long replies", lambda t: str(t.over_long)),
    ]
    names = [*LANGUAGES, "all"]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, value in rows:
        lines.append(f"| {label} | " + " | ".join(value(tallies[n]) for n in names) + " |")
    return "\n".join(lines)


def evaluate(outputs: list[dict[str, Any]], cases: list[dict[str, Any]]) -> dict[str, Tally]:
    """Scores replay outputs (same order as the cases)."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    for case, out in zip(cases, outputs, strict=True):
        language = case["expect"]["language"]
        tallies[language].add(case, out)
        tallies["all"].add(case, out)
    return tallies


def replay(cases: list[dict[str, Any]], model: str | None) -> list[dict[str, Any]]:
    """Runs the cases through the `afterhours replay` command."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "in.jsonl"
        target = Path(scratch) / "out.jsonl"
        source.write_text(
            "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8"
        )
        command = [
            sys.executable,
            "-m",
            "bot.cli",
            "replay",
            str(source),
            "--out",
            str(target),
            "--quiet",
        ]
        if model:
            command += ["--model", model]
        subprocess.run(command, check=True)
        return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]


def failures_by_kind(
    cases: list[dict],  # type: ignore[type-arg]
    outputs: list[dict],  # type: ignore[type-arg]
) -> dict[str, list[str]]:
    """The ids of the lines that were not right, grouped by the `kind` the set labels them with.

    Sets without labels (tests/heldout/) group everything under "unlabelled".
    """
    grouped: dict[str, list[str]] = {}
    for case, out in zip(cases, outputs, strict=True):
        one = Tally()
        one.add(case, out)
        if one.errors:
            grouped.setdefault(str(case.get("kind", "unlabelled")), []).append(case["id"])
    return grouped


def kinds_report(cases: list[dict], outputs: list[dict]) -> str:  # type: ignore[type-arg]
    """A Markdown table: per kind of message, its lines, how many were right, the others' ids."""
    totals: dict[str, int] = {}
    for case in cases:
        kind = str(case.get("kind", "unlabelled"))
        totals[kind] = totals.get(kind, 0) + 1
    failed = failures_by_kind(cases, outputs)
    lines = ["| kind | lines | right | not right |", "|---|---|---|---|"]
    for kind in sorted(totals):
        wrong = failed.get(kind, [])
        right = totals[kind] - len(wrong)
        lines.append(f"| {kind} | {totals[kind]} | {right} | {' '.join(wrong) or '-'} |")
    return "\n".join(lines)


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
