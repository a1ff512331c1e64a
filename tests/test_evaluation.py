"""`afterhours evaluate` without a model: scoring, comparison, exit codes, pictures and page.

The replay is replaced by made-up output rows, so every figure here is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from afterhours.bench import evaluation
from afterhours.bench.evaluation import (
    SetError,
    breakdown,
    changes,
    compare,
    load_cases,
    outcome,
    read_reference,
    set_figures,
    write_reference,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

AT = "2026-11-27T23:00:00+00:00"
ETA = "2026-11-28T10:00:00+00:00"


def case(key: str, decision: str, detail: str | None = None, language: str = "en") -> dict:
    """A held-out line expecting `decision` with a topic (answer) or a reason (otherwise)."""
    answer = decision == "answer"
    return {
        "id": key,
        "channel": "telegram",
        "public": False,
        "sender": f"s-{key}",
        "text": f"message {key}",
        "at": AT,
        "expect": {
            "decision": decision,
            "topic": detail if answer else None,
            "reason": None if answer else detail,
            "language": language,
            "reply_eta": ETA if decision == "handoff" else None,
        },
    }


def right(c: dict) -> dict[str, Any]:
    """The replay output that meets a case's expectation."""
    e = c["expect"]
    return {
        "id": c["id"],
        "decision": e["decision"],
        "topic": e["topic"],
        "reason": e["reason"],
        "language": e["language"],
        "replies": [{"public": False, "text": "ok"}],
        "ticket": 1 if e["decision"] == "handoff" else None,
        "reply_eta": e["reply_eta"],
    }


def answered(c: dict, topic: str) -> dict[str, Any]:
    """An output that answers the case with `topic`."""
    return {**right(c), "decision": "answer", "topic": topic, "reason": None, "reply_eta": None}


def handed_off(c: dict, reason: str) -> dict[str, Any]:
    """An output that hands the case off for `reason`."""
    return {**right(c), "decision": "handoff", "topic": None, "reason": reason, "reply_eta": ETA}


def cases_of(n: int) -> list[dict]:
    """`n` lines: answers, handoffs and ignores in turn, in two languages."""
    kinds = [("answer", "faq/roaming"), ("handoff", "private"), ("ignore", "spam")]
    return [case(f"c{i}", *kinds[i % 3], language="en" if i % 2 else "pt") for i in range(n)]


# -- comparison and exit code ------------------------------------------------------------------


def test_the_same_results_are_not_worse() -> None:
    cases = cases_of(30)
    figures = {"heldout": set_figures("heldout", cases, [right(c) for c in cases])}
    result = compare(figures, figures)
    assert result.regressions == [] and result.exit_code == 0


def test_a_drop_within_the_tolerance_passes_and_beyond_it_fails() -> None:
    cases = cases_of(300)
    old = {"h": set_figures("h", cases, [right(c) for c in cases])}
    # Two handoffs handed off for the wrong reason is not a decision error; two handoffs
    # ignored are: 2/300 = 0.67 points lower.
    outputs = [right(c) for c in cases]
    for index in (1, 4):
        outputs[index] = {**right(cases[index]), "decision": "ignore", "reason": "spam"}
    new = {"h": set_figures("h", cases, outputs)}
    assert compare(new, old, tolerance=1.0).exit_code == 0
    result = compare(new, old, tolerance=0.5)
    assert result.exit_code == 1
    assert result.regressions == [
        "h: decision accuracy 100.0% -> 99.3% (more than 0.5 points lower)"
    ]


def test_one_more_wrong_answer_fails_even_within_the_tolerance() -> None:
    cases = cases_of(300)
    old = {"h": set_figures("h", cases, [right(c) for c in cases])}
    outputs = [right(c) for c in cases]
    outputs[0] = answered(cases[0], "faq/coverage")  # an answer, but the wrong one
    new = {"h": set_figures("h", cases, outputs)}
    result = compare(new, old, tolerance=5.0)
    assert result.regressions == ["h: wrong answers 0 -> 1"]
    assert result.exit_code == 1
    # The other way round it is an improvement.
    assert compare(old, new, tolerance=5.0).exit_code == 0


def test_a_leak_or_an_over_long_reply_fails() -> None:
    cases = cases_of(3)
    old = {"h": set_figures("h", cases, [right(c) for c in cases])}
    public = {**cases[1], "channel": "x", "public": True, "text": "my NIF is 234567899"}
    leaking = [right(c) for c in cases]
    leaking[1] = {**leaking[1], "replies": [{"public": True, "text": "got it, 234567899"}]}
    sms = {**cases[0], "channel": "sms"}
    long_sms = [right(c) for c in cases]
    long_sms[0] = {**long_sms[0], "replies": [{"public": False, "text": "x" * 400}]}
    leak = compare({"h": set_figures("h", [cases[0], public, cases[2]], leaking)}, old)
    assert "h: personal data repeated in public 0 -> 1" in leak.regressions
    long = compare({"h": set_figures("h", [sms, cases[1], cases[2]], long_sms)}, old)
    assert long.regressions == ["h: over-long replies 0 -> 1"]


def test_a_set_without_old_figures_is_noted_not_failed() -> None:
    cases = cases_of(6)
    new = {
        "heldout": set_figures("heldout", cases, [right(c) for c in cases]),
        "heldout_night": set_figures("heldout_night", cases, [handed_off(c, "x") for c in cases]),
    }
    result = compare(new, {"heldout": new["heldout"]})
    assert result.exit_code == 0
    assert result.notes == ["heldout_night: no figures to compare with"]


def test_a_changed_set_is_compared_as_shares() -> None:
    small = cases_of(10)
    large = cases_of(20)
    old_out = [right(c) for c in small]
    old_out[0] = answered(small[0], "faq/coverage")  # 1 wrong answer in 10
    new_out = [right(c) for c in large]
    new_out[0] = answered(large[0], "faq/coverage")  # 1 wrong answer in 20: better
    result = compare(
        {"h": set_figures("h", large, new_out)}, {"h": set_figures("h", small, old_out)}
    )
    assert result.exit_code == 0
    assert result.notes and "the set changed" in result.notes[0]
    new_out[3] = answered(large[3], "faq/coverage")  # 3 in 20 = 15% > 10%
    new_out[6] = answered(large[6], "faq/coverage")
    worse = compare(
        {"h": set_figures("h", large, new_out)}, {"h": set_figures("h", small, old_out)}
    )
    assert "h: wrong answers 1 -> 3" in worse.regressions


# -- what changed between two models, breakdowns ------------------------------------------------


def test_changed_lines_say_fixed_broken_or_still_wrong() -> None:
    cases = cases_of(4)
    before = {c["id"]: outcome(right(c)) for c in cases}
    after = dict(before)
    before["c1"] = "answer faq/roaming"  # was wrong, now right
    after["c2"] = "handoff/complex"  # was right, now wrong
    before["c3"], after["c3"] = "answer faq/coverage", "answer faq/outage"
    found = {c.id: c for c in changes(cases, before, after)}
    assert set(found) == {"c1", "c2", "c3"}
    assert found["c1"].verdict == "fixed" and found["c1"].decision_changed
    assert found["c2"].verdict == "broken" and found["c2"].decision_changed
    assert found["c3"].verdict == "still wrong" and not found["c3"].decision_changed
    assert found["c2"].expected == "ignore/spam" and found["c2"].after == "handoff/complex"


def test_outcome_labels() -> None:
    c = case("a", "answer", "faq/roaming")
    assert outcome(c["expect"]) == "answer faq/roaming"
    assert outcome(handed_off(c, "private")) == "handoff/private"
    assert outcome({"id": "a", "error": "line 1: not JSON"}) == "error"
    assert outcome({"decision": None}) == "none"


def test_breakdown_counts_topics_reasons_and_confusions() -> None:
    cases = cases_of(6)
    outputs = [right(c) for c in cases]
    outputs[0] = handed_off(cases[0], "complex")  # an expected answer handed off
    outputs[1] = handed_off(cases[1], "complex")  # handoff/private with the wrong reason
    result = breakdown(outputs, cases)
    assert result.topics == {"faq/roaming": [2, 1]}
    assert result.decisions["handoff/private"] == [2, 2, 1]
    assert result.decisions["answer"] == [2, 1, 1]
    assert result.decision_confusion[("answer", "handoff/complex")] == 1
    assert result.decision_confusion[("handoff/private", "handoff/complex")] == 1
    assert result.topic_confusion == {
        ("faq/roaming", "handoff/complex"): 1,
        ("faq/roaming", "faq/roaming"): 1,
    }
    assert result.language_confusion[("pt", "pt")] == 3


# -- sets and reference files -------------------------------------------------------------------


def write_set(folder: Path, cases: list[dict]) -> Path:
    """Writes cases into a set folder, one file per language."""
    folder.mkdir(parents=True, exist_ok=True)
    for language in {c["expect"]["language"] for c in cases}:
        lines = [json.dumps(c) for c in cases if c["expect"]["language"] == language]
        (folder / f"{language}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_a_set_is_read_language_by_language(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "s", cases_of(4))
    (folder / "extra.jsonl").write_text(json.dumps(case("z", "ignore", "spam")) + "\n")
    assert [c["id"] for c in load_cases(folder)] == ["c1", "c3", "c0", "c2", "z"]
    (folder / "bad.jsonl").write_text('{"id": "no expectation"}\n')
    with pytest.raises(SetError, match="bad.jsonl:1"):
        load_cases(folder)
    with pytest.raises(SetError, match="no .jsonl"):
        load_cases(tmp_path)


def test_the_shipped_set_loads() -> None:
    cases = load_cases()
    assert len(cases) >= 200 and cases[0]["id"] == "en-001"


def test_reference_figures_round_trip(tmp_path: Path) -> None:
    cases = cases_of(6)
    figures = set_figures("heldout", cases, [right(c) for c in cases])
    path = tmp_path / "reference.json"
    write_reference(path, "m.tar.gz", [figures], {"commit": "abc"})
    back = read_reference(path)
    assert back["heldout"] == figures
    assert json.loads(path.read_text())["model"] == "m.tar.gz"
    path.write_text("{}")
    with pytest.raises(SetError, match="not a reference"):
        read_reference(path)


def test_the_shipped_reference_matches_the_shipped_set() -> None:
    reference = read_reference(evaluation.REFERENCE_FILE)
    cases = load_cases()
    assert reference["heldout"].digest == evaluation.cases_digest(cases)
    assert set(reference["heldout"].outcomes) == {c["id"] for c in cases}


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def fake_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two model files and a replay that gives each its made-up outputs."""
    cases = cases_of(12)
    good = [right(c) for c in cases]
    bad = list(good)
    bad[0] = answered(cases[0], "faq/coverage")  # a wrong answer
    bad[2] = handed_off(cases[2], "complex")  # an ignore handed off
    models = {"old": tmp_path / "old.tar.gz", "new": tmp_path / "new.tar.gz"}
    for path in models.values():
        path.write_bytes(b"")
    outputs = {str(models["old"]): good, str(models["new"]): bad}

    def replay(given: list[dict], model: str | None) -> list[dict[str, Any]]:
        by_id = {o["id"]: o for o in outputs[str(model)]}
        return [by_id[c["id"]] for c in given]

    monkeypatch.setattr(evaluation, "replay", replay)
    return {"set": write_set(tmp_path / "heldout", cases), **models}


def evaluate_cli(*args: str) -> int:
    from afterhours.cli import main

    return main(["evaluate", *args])


def test_evaluate_against_an_older_model(
    fake_models: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = evaluate_cli(
        "--model", str(fake_models["new"]), "--against", str(fake_models["old"]),
        "--set", str(fake_models["set"]), "--out", str(out),
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1
    assert "WORSE than old.tar.gz" in printed
    assert "heldout: wrong answers 0 -> 1" in printed
    assert (
        "| c0 | broken | answer faq/roaming | answer faq/roaming | answer faq/coverage |" in printed
    )
    assert "| c2 | broken | ignore/spam | ignore/spam | handoff/complex |" in printed
    assert "2 lines changed (1 of them their decision): 2 broken" in printed
    assert "| handoff/private | 4 |" in printed  # per decision/reason
    assert "| faq/roaming | 4 |  75.0% (3/4) |" in printed  # per topic
    page = (out / "index.html").read_text(encoding="utf-8")
    for kind in ("decision", "topic", "language"):
        picture = out / f"confusion-heldout-{kind}.png"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{picture.name}"' in page
    assert "worse beyond the tolerance" in page and "message c0" in page
    # The other way round the new model is the better one.
    code = evaluate_cli(
        "--model", str(fake_models["old"]), "--against", str(fake_models["new"]),
        "--set", str(fake_models["set"]), "--out", str(out),
    )  # fmt: skip
    assert code == 0 and "2 fixed" in capsys.readouterr().out


def test_evaluate_against_reference_figures(
    fake_models: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = str(fake_models["old"]), str(fake_models["new"])
    reference = tmp_path / "reference.json"
    common = ("--set", str(fake_models["set"]), "--out", str(tmp_path / "r"))
    compared = ("--reference", str(reference), *common)
    assert evaluate_cli("--model", old, "--write-reference", str(reference), *common) == 0
    assert read_reference(reference)["heldout"].overall.decision == 12
    assert evaluate_cli("--model", old, *compared) == 0
    assert "not worse than reference" in capsys.readouterr().out
    assert evaluate_cli("--model", new, *compared) == 1
    printed = capsys.readouterr().out
    assert "WORSE than reference" in printed and "| c2 | broken |" in printed
    # A wide enough tolerance forgives the lost decision, never the wrong answer.
    assert evaluate_cli("--model", new, "--tolerance", "20", *compared) == 1
    assert "decision accuracy" not in capsys.readouterr().out.split("WORSE")[1]


def test_setting_errors_exit_2(
    fake_models: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(fake_models["new"])
    assert evaluate_cli("--model", str(tmp_path / "missing.tar.gz")) == 2
    assert "--model: no model file" in capsys.readouterr().err
    assert evaluate_cli("--model", model, "--set", str(tmp_path / "nowhere")) == 2
    assert "--set:" in capsys.readouterr().err
    assert evaluate_cli("--model", model, "--reference", str(tmp_path / "none.json")) == 2
    assert "not a reference figures file" in capsys.readouterr().err
    assert evaluate_cli("--model", model, "--tolerance", "-1") == 2
    assert "--tolerance" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate_cli("--model", model, "--against", model, "--reference", "x.json")
