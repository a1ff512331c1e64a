"""The second held-out set keeps its shape and its promises (no model needed).

What is checked: the counts issue 12 asks for, the conventions of tests/heldout/README.md (time
order, senders, one conversation per channel and sender), every `reply_eta` against the brand's own
calendar, the personal data's check digits, and the evaluator's grouping by kind.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.es import dni, nie
from stdnum.it import codicefiscale
from stdnum.pt import nif

from bot.settings import load_brand
from tests.heldout.evaluate import failures_by_kind, kinds_report
from tests.heldout.promises import assert_promises_follow_the_calendar

HERE = Path(__file__).parent
OLD = HERE.parent / "heldout"
LANGUAGES = ("en", "pt", "es", "it")
INPUT_FIELDS = {"id", "channel", "public", "sender", "text", "at"}
REASONS = {
    "handoff": {"emotional", "private", "complex", "human_requested", "in_hours"},
    "ignore": {"not_addressed", "spam", "abuse", "no_reply_needed"},
}
ISSUE_KINDS = (
    "butting_in",
    "closer",
    "urgency",
    "polite_human",
    "own_bill",
    "not_personal_number",
    "strong_words",
    "needs_person",
)


def lines(folder: Path, language: str) -> list[dict]:  # type: ignore[type-arg]
    text = (folder / f"{language}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def night() -> dict[str, list[dict]]:  # type: ignore[type-arg]
    return {language: lines(HERE, language) for language in LANGUAGES}


def conversation(case: dict) -> tuple[str, str]:  # type: ignore[type-arg]
    return case["channel"], case["sender"]


def test_size_multi_turn_and_varieties(night):
    everything = [c for cases in night.values() for c in cases]
    assert len(everything) >= 240
    for language, cases in night.items():
        assert len(cases) >= 60, language
        sizes = Counter(conversation(c) for c in cases)
        multi = sum(1 for c in cases if sizes[conversation(c)] > 1)
        assert multi * 4 >= len(cases), f"{language}: under a quarter in conversations"
    brazilian = sum(1 for c in night["pt"] if c["variety"] == "br")
    assert brazilian * 2 >= len(night["pt"])


def test_every_kind_of_issue_12_several_times_per_language(night):
    for language, cases in night.items():
        kinds = Counter(c["kind"] for c in cases)
        for kind in ISSUE_KINDS:
            assert kinds[kind] >= 2, f"{language}: {kind}"
        topics = {c["expect"]["topic"] for c in cases if c["expect"]["decision"] == "answer"}
        assert len({t for t in topics if t.startswith("faq/")}) == 20, language


def test_fields_ids_and_time_order(night):
    for language, cases in night.items():
        previous = None
        for number, case in enumerate(cases, start=1):
            assert set(case) >= INPUT_FIELDS, case["id"]
            assert case["id"] == f"{language}-{number:03d}"
            assert not case["public"] or case["channel"] == "x", case["id"]
            expect = case["expect"]
            assert expect["language"] == language
            if expect["decision"] == "answer":
                assert expect["topic"] and expect["reason"] is None
            else:
                assert expect["topic"] is None
                assert expect["reason"] in REASONS[expect["decision"]], case["id"]
            at = datetime.fromisoformat(case["at"])
            assert at.tzinfo is not None
            assert previous is None or previous <= at, case["id"]
            previous = at


def test_senders_unique_across_files_and_sets(night):
    owner: dict[tuple[str, str], str] = {}
    for language, cases in night.items():
        for case in cases:
            assert owner.setdefault(conversation(case), language) == language, case["id"]
    old = {conversation(c) for language in LANGUAGES for c in lines(OLD, language)}
    assert not old & set(owner)


def test_promises_follow_the_brand_calendar(night):
    calendar = load_brand(HERE.parents[1] / "brand.yml").calendar()
    for cases in night.values():
        assert_promises_follow_the_calendar(cases, calendar)


def test_promises_cross_holidays_and_the_clock_change(night):
    promises = {
        c["expect"]["reply_eta"]
        for cases in night.values()
        for c in cases
        if c["expect"]["reply_eta"]
    }
    for after_holiday in (
        "2026-04-04T10:00:00+01:00",  # Good Friday
        "2026-06-05T09:00:00+01:00",  # Corpus Christi
        "2026-08-17T09:00:00+01:00",  # 15 Aug on a Saturday
        "2026-10-06T09:00:00+01:00",  # 5 Oct
        "2026-10-26T09:00:00+00:00",  # across the autumn clock change
        "2026-12-02T09:00:00+00:00",  # 1 Dec
        "2026-12-09T09:00:00+00:00",  # 8 Dec
        "2026-12-26T10:00:00+00:00",  # Christmas
        "2027-01-02T10:00:00+00:00",  # New Year
    ):
        assert after_holiday in promises


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("274852608", nif.is_valid),
        ("530931850", nif.is_valid),
        ("64306409L", dni.is_valid),
        ("Y2465496W", nie.is_valid),
        ("BNCGLI90E45F205C", codicefiscale.is_valid),
        ("PT50 0007 0000 0012 3456 7890 6", iban.is_valid),
        ("ES03 2100 3478 3802 0012 3456", iban.is_valid),
        ("IT34U0306909606100000063152", iban.is_valid),
        ("4539 0083 1671 6286", luhn.is_valid),
        ("5413 5564 1435 5587", luhn.is_valid),
        ("318.457.260-90", cpf.is_valid),
    ],
)
def test_personal_data_has_valid_check_digits(night, number, valid):
    holders = [c for cases in night.values() for c in cases if number in c["text"]]
    assert holders and all(c["expect"]["reason"] == "private" for c in holders)
    assert valid(number.replace(" ", ""))


def test_evaluator_groups_misses_by_kind(night):
    cases = night["en"]
    fields = ("decision", "topic", "reason", "language", "reply_eta")
    right = [{**{k: c["expect"][k] for k in fields}, "replies": []} for c in cases]
    assert failures_by_kind(cases, right) == {}
    missed = next(c for c in cases if c["kind"] == "butting_in")
    outputs = [
        {**out, "decision": "answer", "topic": "faq/coverage", "reason": None}
        if case is missed
        else out
        for case, out in zip(cases, right, strict=True)
    ]
    assert failures_by_kind(cases, outputs) == {"butting_in": [missed["id"]]}
    table = kinds_report(cases, outputs)
    assert f"| butting_in | 5 | 4 | {missed['id']} |" in table
    assert "| closer | 4 | 4 | - |" in table
