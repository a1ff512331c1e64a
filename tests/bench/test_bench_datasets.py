"""The benchmark loaders on tiny fixture files laid out like the published datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from afterhours.bench.datasets import (
    OOS,
    Example,
    datasets_root,
    load_dataset,
    load_plain,
    stratified_split,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = FIXTURES / "root"


def test_clinc150_merges_the_oos_splits_and_keeps_validation() -> None:
    data = load_dataset("clinc150", root=ROOT)
    assert data.name == "clinc150"
    assert len(data.train) == 5 and len(data.validation) == 3 and len(data.test) == 5
    assert data.train[-1] == Example("what is the meaning of life", OOS)
    assert [e.intent for e in data.test].count(OOS) == 2
    assert data.intents == ["alarm", "exchange_rate"]
    assert data.has_oos
    assert "train 5 (oos 1)" in data.summary()


def test_banking77_reads_quoted_commas() -> None:
    data = load_dataset("banking77", root=ROOT)
    assert data.train[1] == Example("My card, the new one, hasn't arrived", "card_arrival")
    assert data.test == [Example("Where is my card?", "card_arrival")]
    assert data.validation == [] and not data.has_oos


def test_hwu64_takes_the_intent_from_the_file_and_the_text_without_annotation() -> None:
    data = load_dataset("hwu64", root=ROOT)
    assert Example("checkout today alarm of meeting", "alarm_query") in data.train
    # The row with an empty text is skipped; a `;` inside quotes stays in the text.
    assert len(data.train) == 3
    assert data.test == [Example("weather in paris; please", "weather_query")]


def test_named_datasets_resolve_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERHOURS_DATASETS", str(ROOT))
    assert datasets_root() == ROOT
    assert load_dataset("banking77").name == "banking77"


def test_default_root_is_beside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERHOURS_DATASETS", raising=False)
    repo = Path(__file__).resolve().parents[2]
    assert datasets_root() == repo.parent / "shared" / "datasets"


def test_plain_folder_with_csv_and_jsonl_splits() -> None:
    data = load_dataset(str(FIXTURES / "plain"))
    assert data.name == "plain"
    assert len(data.train) == 19 and len(data.validation) == 5 and len(data.test) == 8
    assert data.validation[-1] == Example("play some jazz music", OOS)
    assert data.intents == ["opening_hours", "password_reset", "shipping_cost"]


def test_plain_file_with_a_split_column() -> None:
    data = load_plain(FIXTURES / "split.jsonl")
    assert [e.text for e in data.train] == ["hello there", "hi", "bye now"]
    assert data.validation == [Example("see you", "goodbye")]  # `dev` is validation
    assert data.test[-1].intent == OOS


def test_plain_file_without_split_holds_out_a_stratified_fifth() -> None:
    data = load_plain(FIXTURES / "nosplit.csv")  # `label` column accepted
    assert sorted(e.intent for e in data.test) == ["a", "b"]
    # A single-example intent stays in training.
    assert Example("c1", "c") in data.train
    assert len(data.train) + len(data.test) == 11
    assert load_plain(FIXTURES / "nosplit.csv").test == data.test  # deterministic


def test_stratified_split_fraction() -> None:
    examples = [Example(f"x{i}", "x") for i in range(10)] + [Example("y", "y")]
    kept, held = stratified_split(examples, 0.3, seed=1)
    assert len(held) == 3 and all(e.intent == "x" for e in held)
    assert len(kept) == 8


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="clinc150, banking77, hwu64"):
        load_dataset(str(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("text,intent\nhello,\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 1"):
        load_plain(bad)
    with pytest.raises(FileNotFoundError, match="train"):
        load_plain(tmp_path)
    other = tmp_path / "data.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        load_plain(other)
