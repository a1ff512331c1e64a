"""Scoring the bot on held-out sets: what `afterhours evaluate` and `make heldout` report.

A held-out set is a folder of JSONL files (`en.jsonl`, `pt.jsonl`, ... see tests/heldout/README.md):
the replay input fields plus `expect` (decision, topic, reason, language, reply_eta). The set is
replayed through `afterhours replay` (the real pipeline, a fresh queue) and every output line is
scored against its expectation. This module holds the scoring, the breakdowns (per language, per
expected topic, per expected decision/reason, confusion counts), the figures stored as reference
and the comparison of two models' figures; `evaluation_report.py` draws and prints them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bot.nlu.personal_data import find_personal_data
from bot.render.sms import encoding_of
from bot.render.x import weighted_length
from bot.settings import load_brand
from handoff.clock import parse_iso

REPO = Path(__file__).resolve().parents[2]
LANGUAGES = ("en", "pt", "es", "it")
# The shipped held-out sets, in this order; a missing folder is skipped.
DEFAULT_SETS = (REPO / "tests" / "heldout", REPO / "tests" / "heldout_night")
REFERENCE_FILE = REPO / "benchmarks" / "reference.json"


class SetError(ValueError):
    """A held-out set cannot be read; the message names the folder or line."""


def load_cases(folder: Path = DEFAULT_SETS[0]) -> list[dict[str, Any]]:
    """Every line of a held-out set: the four language files first, in their order, then others.

    Raises:
        SetError: the folder has no JSONL file, or a line is not a case with `expect`.
    """
    if not folder.is_dir():
        raise SetError(f"{folder} is not a folder")
    named = [folder / f"{language}.jsonl" for language in LANGUAGES]
    files = [p for p in named if p.is_file()]
    files += sorted(p for p in folder.glob("*.jsonl") if p not in named)
    if not files:
        raise SetError(f"{folder} has no .jsonl file")
    cases = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except json.JSONDecodeError as error:
                raise SetError(f"{path}:{number}: not JSON ({error.msg})") from error
            if not isinstance(case, dict) or not isinstance(case.get("expect"), dict):
                raise SetError(f"{path}:{number}: a case needs an `expect` object")
            cases.append(case)
    return cases


def cases_digest(cases: Sequence[Mapping[str, Any]]) -> str:
    """A digest of a set's lines, to tell whether reference figures were made on the same set."""
    text = "\n".join(json.dumps(c, sort_keys=True, ensure_ascii=False) for c in cases)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


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
    return parse_iso(a, assume_utc=True) == parse_iso(b, assume_utc=True)


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

    def counts(self) -> dict[str, int]:
        """The counts alone (what the reference file stores)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "errors"}

    @classmethod
    def from_counts(cls, counts: Mapping[str, Any]) -> Tally:
        """A tally back from `counts()` (missing counts are 0)."""
        tally = cls()
        for f in fields(cls):
            if f.name != "errors":
                setattr(tally, f.name, int(counts.get(f.name, 0)))
        return tally


def percent(part: int, whole: int) -> str:
    """A percentage with its counts."""
    return f"{100 * part / whole:5.1f}% ({part}/{whole})" if whole else "  n/a"


def columns(tallies: Mapping[str, Tally]) -> list[str]:
    """The languages present, the brand's four first, then `all`."""
    known = [language for language in LANGUAGES if language in tallies]
    others = sorted(k for k in tallies if k not in LANGUAGES and k != "all")
    return [*(known if known else LANGUAGES), *others, "all"]


def report(tallies: Mapping[str, Tally]) -> str:
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
    names = columns(tallies)
    empty = Tally()
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, value in rows:
        cells = (value(tallies.get(n, empty)) for n in names)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
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
    """Runs the cases through the `afterhours replay` command (a process of its own)."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "in.jsonl"
        target = Path(scratch) / "out.jsonl"
        source.write_text(
            "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8"
        )
        command = [
            sys.executable,
            "-m",
            "afterhours.cli",
            "replay",
            str(source),
            "--out",
            str(target),
            "--quiet",
        ]
        if model:
            command += ["--model", str(Path(model).resolve())]
        # From the repository, so that the replay and its action server run this tree's code.
        subprocess.run(command, check=True, cwd=REPO)
        return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]


def failures_by_kind(
    cases: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """The ids of the lines that were not right, grouped by the `kind` the set labels them with.

    Sets without labels (tests/heldout/) group everything under "unlabelled".
    """
    grouped: dict[str, list[str]] = {}
    for case, out in zip(cases, outputs, strict=True):
        one = Tally()
        one.add(dict(case), dict(out))
        if one.errors:
            grouped.setdefault(str(case.get("kind", "unlabelled")), []).append(str(case["id"]))
    return grouped


def kinds_report(cases: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> str:
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


# -- outcomes and breakdowns ---------------------------------------------------------------------


def outcome(value: Mapping[str, Any]) -> str:
    """A decision as one label: `answer faq/roaming`, `handoff/private`, `ignore/spam`.

    Works on an expectation and on a replay output alike; an output with an error is `error`.
    """
    if value.get("error"):
        return "error"
    decision = value.get("decision")
    if decision == "answer":
        return f"answer {value.get('topic')}"
    if decision is None:
        return "none"
    return f"{decision}/{value.get('reason')}"


def decision_label(value: Mapping[str, Any]) -> str:
    """The decision and its reason, without the answer's topic (`answer`, `handoff/private`)."""
    label = outcome(value)
    return "answer" if label.startswith("answer ") else label


@dataclass
class Breakdown:
    """Per expected topic, per expected decision/reason, and the confusion counts of a set."""

    # expected topic -> [lines, answered with that topic]
    topics: dict[str, list[int]] = field(default_factory=dict)
    # expected decision/reason -> [lines, decision right, decision and reason right]
    decisions: dict[str, list[int]] = field(default_factory=dict)
    # (expected, got) -> lines, for decision/reason, topic (expected answers) and language
    decision_confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    topic_confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    language_confusion: Counter[tuple[str, str]] = field(default_factory=Counter)


def breakdown(
    outputs: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]]
) -> Breakdown:
    """Counts a set's lines per expected topic and decision/reason, and their confusions."""
    result = Breakdown()
    for case, out in zip(cases, outputs, strict=True):
        expect = case["expect"]
        wanted, got = decision_label(expect), decision_label(out)
        row = result.decisions.setdefault(wanted, [0, 0, 0])
        row[0] += 1
        row[1] += out.get("decision") == expect["decision"]
        row[2] += wanted == got
        result.decision_confusion[(wanted, got)] += 1
        if expect["decision"] == "answer":
            topic = str(expect.get("topic"))
            hits = result.topics.setdefault(topic, [0, 0])
            hits[0] += 1
            right = out.get("decision") == "answer" and out.get("topic") == topic
            hits[1] += right
            answered = str(out.get("topic")) if out.get("decision") == "answer" else got
            result.topic_confusion[(topic, answered)] += 1
        result.language_confusion[(str(expect["language"]), str(out.get("language")))] += 1
    return result


@dataclass(frozen=True)
class Change:
    """A held-out line whose outcome differs between two models."""

    id: str
    text: str
    expected: str
    before: str
    after: str

    @property
    def verdict(self) -> str:
        """`fixed`, `broken` or `still wrong` (judged on the whole outcome)."""
        if self.after == self.expected:
            return "fixed"
        if self.before == self.expected:
            return "broken"
        return "still wrong"

    @property
    def decision_changed(self) -> bool:
        """Whether the decision itself (answer / handoff / ignore) changed, not only its detail."""
        return self.before.split(" ")[0].split("/")[0] != self.after.split(" ")[0].split("/")[0]


def changes(
    cases: Sequence[Mapping[str, Any]],
    before: Mapping[str, str],
    after: Mapping[str, str],
) -> list[Change]:
    """Every line whose outcome label differs between two models (lines known to both)."""
    found = []
    for case in cases:
        key = str(case["id"])
        if key in before and key in after and before[key] != after[key]:
            found.append(
                Change(key, str(case["text"]), outcome(case["expect"]), before[key], after[key])
            )
    return found


# -- figures, reference and comparison -----------------------------------------------------------


@dataclass
class SetFigures:
    """A model's figures on one held-out set: the counts per language and every line's outcome."""

    name: str
    digest: str
    tallies: dict[str, dict[str, int]]
    outcomes: dict[str, str]

    @property
    def overall(self) -> Tally:
        """The counts over all languages."""
        return Tally.from_counts(self.tallies.get("all", {}))


def set_figures(
    name: str, cases: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]
) -> SetFigures:
    """The figures of replay outputs on a set (the same order as its cases)."""
    tallies = evaluate(list(outputs), list(cases))  # type: ignore[arg-type]
    return SetFigures(
        name=name,
        digest=cases_digest(cases),
        tallies={k: t.counts() for k, t in tallies.items()},
        outcomes={str(c["id"]): outcome(o) for c, o in zip(cases, outputs, strict=True)},
    )


def write_reference(
    path: Path, model: str, figures: Sequence[SetFigures], extra: Mapping[str, str] | None = None
) -> None:
    """Stores a model's figures as the reference new models are compared with."""
    value = {
        "about": "Figures of `afterhours evaluate --write-reference`; compared by --reference.",
        "model": model,
        **(extra or {}),
        "sets": {f.name: {k: v for k, v in asdict(f).items() if k != "name"} for f in figures},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_reference(path: Path) -> dict[str, SetFigures]:
    """The figures of a reference file, per set name.

    Raises:
        SetError: the file is missing or not a reference file.
    """
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: SetFigures(name, str(s["digest"]), dict(s["tallies"]), dict(s["outcomes"]))
            for name, s in value["sets"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SetError(f"{path} is not a reference figures file ({error})") from error


def rate(part: int, whole: int) -> float:
    """A share in percent (0 for an empty whole)."""
    return 100.0 * part / whole if whole else 0.0


@dataclass
class Comparison:
    """What a comparison found: regressions make the command fail; notes only inform."""

    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when the new model is worse beyond the tolerance, else 0."""
        return 1 if self.regressions else 0


def _counted(name: str, new: Tally, old: Tally, same_set: bool, out: Comparison) -> None:
    # Wrong answers, leaks and over-long replies: any increase is a regression (as counts on the
    # same set; as a share of the lines when the set changed size).
    for key, label in (
        ("wrong_answers", "wrong answers"),
        ("leaks", "personal data repeated in public"),
        ("over_long", "over-long replies"),
    ):
        before, after = getattr(old, key), getattr(new, key)
        if same_set or new.total == old.total:
            worse = after > before
        else:
            worse = rate(after, new.total) > rate(before, old.total)
        if worse:
            out.regressions.append(f"{name}: {label} {before} -> {after}")


def compare(
    new: Mapping[str, SetFigures], old: Mapping[str, SetFigures], tolerance: float = 1.0
) -> Comparison:
    """Compares a new model's figures with an old model's (or the reference's), set by set.

    A regression: decision accuracy lower by more than `tolerance` percentage points, or more
    wrong answers, personal data repeated in public or over-long replies than before. Sets
    without old figures are noted, not compared.
    """
    result = Comparison()
    for name, figures in new.items():
        previous = old.get(name)
        if previous is None:
            result.notes.append(f"{name}: no figures to compare with")
            continue
        same_set = figures.digest == previous.digest
        if not same_set:
            result.notes.append(
                f"{name}: the set changed since the old figures were made "
                f"({previous.digest} -> {figures.digest}); compared as shares"
            )
        a, b = figures.overall, previous.overall
        before, after = rate(b.decision, b.total), rate(a.decision, a.total)
        if before - after > tolerance:
            result.regressions.append(
                f"{name}: decision accuracy {before:.1f}% -> {after:.1f}% "
                f"(more than {tolerance:g} points lower)"
            )
        _counted(name, a, b, same_set, result)
    return result
