"""Cross-lingual benchmarks (issue 17): the loaders, and labels with `/` scored right or refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from afterhours.bench.datasets import Example, load_dataset
from afterhours.bench.nlu import as_labels, label_names, write_nlu_data
from afterhours.bench.scoring import Prediction

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

ROOT = Path(__file__).parent / "fixtures" / "root"


def test_xsid_zero_shot_trains_on_english_and_tests_italian() -> None:
    data = load_dataset("xsid", root=ROOT)
    assert data.train == [
        Example("Is it going to rain?", "weather/find"),
        Example("wake me at 7", "alarm/set_alarm"),
        Example("show reminders", "reminder/show_reminders"),
    ]
    assert data.test == [Example("Piove?", "weather/find")]
    assert data.validation == []
    assert load_dataset("xsid-it", root=ROOT).train == [Example("Piove?", "weather/find")]


def test_xsid_valid_leaves_the_translated_english_test_out() -> None:
    data = load_dataset("xsid-valid", root=ROOT)
    english_test = load_dataset("xsid", root=ROOT).train[len(data.train) :]
    assert english_test and not set(english_test) & set(data.train)
    assert data.test == [Example("Piove?", "weather/find")]


def test_multilingual_tod_zero_and_few_shot() -> None:
    zero = load_dataset("mtod", root=ROOT)
    assert zero.train == [
        Example("set an alarm", "alarm/set_alarm"),
        Example("will it rain", "weather/find"),
    ]
    assert zero.test == [Example("pon una alarma", "alarm/set_alarm")]
    few = load_dataset("mtod-1per", root=ROOT)
    assert few.train[-1] == Example("va a llover", "weather/find")
    with pytest.raises(FileNotFoundError):
        load_dataset("mtod-es", root=ROOT)  # no train-es.tsv in the fixtures


def test_labels_with_a_slash_are_scored_under_their_own_name(tmp_path: Path) -> None:
    # Issue 17: trained as `alarm_set_alarm`, scored against `alarm/set_alarm`, every prediction
    # counted as wrong (Multilingual TOD 0.0%). The predictions come back under the labels.
    back = label_names(["alarm/set_alarm", "weather/find", "weather/find"])
    assert back == {"alarm_set_alarm": "alarm/set_alarm", "weather_find": "weather/find"}
    predicted = as_labels([Prediction("alarm_set_alarm", 0.9), Prediction("None", 0.0)], back)
    assert predicted == [Prediction("alarm/set_alarm", 0.9), Prediction("None", 0.0)]
    written = write_nlu_data([Example("set an alarm", "alarm/set_alarm")], tmp_path / "nlu.yml")
    assert "intent: alarm_set_alarm" in written.read_text(encoding="utf-8")


def test_colliding_or_unknown_intents_are_refused_not_scored() -> None:
    with pytest.raises(ValueError, match="both be trained as 'a_b'"):
        label_names(["a/b", "a_b"])
    back = label_names(["alarm/set_alarm", "weather/find"])
    # A retrieval intent's family (what Rasa predicts for `alarm/set_alarm` trained as is).
    with pytest.raises(RuntimeError, match="does not have"):
        as_labels([Prediction("alarm", 0.9)], back)


def test_e5_reference_scores_a_regression_on_the_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from afterhours.bench import scoring
    from bot.nlu import embeddings

    def fake(texts: list[str], **_: object) -> np.ndarray:
        return np.array([[1.0, 0.0] if "rain" in t or "piove" in t else [0.0, 1.0] for t in texts])

    monkeypatch.setattr(embeddings, "embed", fake)
    train = [Example("rain?", "w"), Example("more rain", "w"), Example("alarm", "a")]
    train.append(Example("an alarm", "a"))
    test = [Example("piove", "w"), Example("sveglia", "a"), Example("oos", "oos")]
    assert scoring.e5_reference(train, test) == 1.0
