"""Trainers are told what is missing in a language (issue 17): responses and intent examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from afterhours.bench.evaluation_coverage import coverage_warnings, main

LANGUAGES = ["en", "pt", "es", "it"]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _response(name: str, languages: list[str]) -> str:
    lines = [f"  {name}:"]
    for code in languages:
        lines += [
            f'  - text: "answer in {code}"',
            "    condition:",
            "    - type: slot",
            "      name: language",
            f"      value: {code}",
        ]
    return "\n".join(lines) + "\n"


def _intent(name: str, count: int) -> str:
    examples = "".join(f"    - example {i}\n" for i in range(count))
    return f"- intent: {name}\n  examples: |\n{examples}"


def test_gaps_are_named_with_the_language_and_the_fix(tmp_path: Path) -> None:
    responses = tmp_path / "responses.yml"
    _write(
        responses,
        "responses:\n"
        + _response("utter_faq/roaming", ["en", "pt", "es"])
        + _response("utter_greet", LANGUAGES)
        + '  utter_any:\n  - text: "no condition: every language"\n',
    )
    for code in LANGUAGES:
        stores = 0 if code != "en" else 5
        _write(
            tmp_path / "nlu" / code / "faq.yml",
            "nlu:\n" + _intent("faq/roaming", 5) + _intent("faq/store_locator", stores),
        )
    _write(tmp_path / "nlu" / "it" / "more.yml", "nlu:\n" + _intent("greet", 2))
    warnings = coverage_warnings(LANGUAGES, tmp_path / "nlu", [responses])
    assert warnings[0].startswith("response utter_faq/roaming has no variation in it")
    assert "`language: it`" in warnings[0]
    store = [w for w in warnings if "faq/store_locator" in w]
    assert [w.split(" in ")[1][:2] for w in store] == ["pt", "es", "it"]
    assert "has 0 examples in pt" in store[0] and "data/nlu/pt/" in store[0]
    greet = [w for w in warnings if w.startswith("intent greet")]
    assert "has 0 examples in en" in greet[0] and "has 2 examples in it" in greet[-1]
    assert len(warnings) == 1 + 3 + 4


def test_the_shipped_data_has_no_gap(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "0 gap(s)" in capsys.readouterr().out
