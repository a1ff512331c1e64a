"""The validation sets keep their shape, promises and distance from what they must not see.

benchmarks/validation_{night,hard,mixed,answers}/ are the sets to tune on (issue 12); the
held-out sets measure. They are only worth something while they stay apart: no text of theirs in the
training data, no conversation shared with a held-out set, and every expectation following the
brand's calendar. No model is needed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from bot.settings import load_brand
from tests.heldout.promises import assert_promises_follow_the_calendar

REPO = Path(__file__).resolve().parents[2]
FOLDERS = {
    "validation_night": (REPO / "benchmarks" / "validation_night", 60),
    "validation_hard": (REPO / "benchmarks" / "validation_hard", 32),
    "validation_mixed": (REPO / "benchmarks" / "validation_mixed", 28),
    "validation_answers": (REPO / "benchmarks" / "validation_answers", 40),
}
HELD_OUT = (REPO / "tests" / "heldout", REPO / "tests" / "heldout_night")
LANGUAGES = ("en", "pt", "es", "it")


def _lines(folder: Path, language: str) -> list[dict]:
    text = (folder / f"{language}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module", params=sorted(FOLDERS))
def named(request: pytest.FixtureRequest) -> tuple[list[dict], int]:
    folder, per_language = FOLDERS[request.param]
    return [case for language in LANGUAGES for case in _lines(folder, language)], per_language


@pytest.fixture
def cases(named: tuple[list[dict], int]) -> list[dict]:
    return named[0]


def _conversation(case: dict) -> tuple[str, str]:
    return case["channel"], case["sender"]


def _normal(text: str) -> str:
    """The words of a text, compared case- and punctuation-blind."""
    return re.sub(r"\W+", " ", text.casefold()).strip()


def _words(cases: list[dict]) -> set[str]:
    """The texts that have words: "👍" in two sets is a coincidence, not a copy."""
    return {_normal(c["text"]) for c in cases} - {""}


def test_size_languages_and_conversations(named):
    cases, size = named
    per_language = Counter(case["expect"]["language"] for case in cases)
    assert all(per_language[language] >= size for language in LANGUAGES), per_language
    sizes = Counter(_conversation(case) for case in cases)
    assert sum(1 for case in cases if sizes[_conversation(case)] > 1) * 4 >= len(cases)
    assert len({case["id"] for case in cases}) == len(cases)


def test_no_validation_text_in_the_training_data(cases):
    examples = set()
    for path in (REPO / "data" / "nlu").glob("*/*.yml"):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in str(item.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    examples.add(_normal(line.strip()[2:]))
    copied = [case["id"] for case in cases if _normal(case["text"]) in examples - {""}]
    assert copied == []


def test_the_sets_share_nothing():
    sets = [[c for lang in LANGUAGES for c in _lines(f, lang)] for f, _ in FOLDERS.values()]
    for one, other in combinations(sets, 2):
        assert not {_conversation(c) for c in one} & {_conversation(c) for c in other}
        assert not _words(one) & _words(other)


def test_apart_from_the_held_out_sets(cases):
    held_out = [case for folder in HELD_OUT for lang in LANGUAGES for case in _lines(folder, lang)]
    assert not {_conversation(c) for c in cases} & {_conversation(c) for c in held_out}
    assert not _words(cases) & _words(held_out)


def test_promises_follow_the_brand_calendar(named):
    cases, _ = named
    calendar = load_brand(REPO / "brand.yml").calendar()
    for language in LANGUAGES:
        # one file at a time: each is in time order, as conversations are
        assert_promises_follow_the_calendar(
            [c for c in cases if c["expect"]["language"] == language], calendar
        )
