"""bot/nlu/transfer.py: where each language sits, and which examples score the unknown intents."""

from __future__ import annotations

import numpy as np
import pytest

from bot.nlu import transfer


def test_a_language_without_examples_is_placed_by_the_reference_sentences(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shifts = {"en": np.array([1.0, 0.0]), "it": np.array([0.0, 1.0])}
    monkeypatch.setattr(transfer, "language_shifts", lambda languages: dict(shifts))
    vectors = np.array([[2.0, 2.0]] * 20 + [[4.0, 0.0]] * 20)
    means = transfer.language_means(vectors, ["en"] * 40, ["en", "it"], pivot="en")
    assert means["en"] == pytest.approx([3.0, 1.0])
    # The pivot's mean, moved by how far Italian sits from English on the reference sentences.
    assert means["it"] == pytest.approx([2.0, 2.0])
    assert means[""] == pytest.approx([3.0, 1.0])


def test_a_language_with_enough_examples_keeps_its_own_mean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        transfer, "language_shifts", lambda languages: pytest.fail("no reference needed")
    )
    vectors = np.vstack([np.ones((30, 2)), np.zeros((30, 2))])
    means = transfer.language_means(vectors, ["en"] * 30 + ["pt"] * 30, ["en", "pt"], "en")
    assert means["pt"] == pytest.approx([0.0, 0.0])


def test_a_few_examples_make_no_mean_and_no_reference_means_the_mean_of_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transfer, "language_shifts", lambda languages: {})
    vectors = np.vstack([np.ones((100, 2)), np.zeros((3, 2))])
    means = transfer.language_means(vectors, ["en"] * 100 + ["es"] * 3, ["en", "es"], "en")
    assert "es" not in means  # three guesses are noise, not a language's place
    assert transfer.centred(np.array([[1.0, 0.0]]), ["es"], means) == pytest.approx(
        transfer.centred(np.array([[1.0, 0.0]]), [None], means)
    )


def test_the_pivot_covers_the_most_intents_and_its_model_learns_from_it_alone() -> None:
    coverage = {"en": ["a", "b", "c"], "pt": ["a", "b"], "it": ["c"]}
    codes = ["en", "en", "en", "pt", "pt", "it", "pt"]
    labels = ["a", "b", "c", "a", "b", "c", "d"]
    assert transfer.pivot_language(coverage, codes) == "en"
    rows = transfer.pivot_rows(codes, labels, "en", coverage["en"])
    # English examples, and "d", which English lacks, from wherever it was written.
    assert rows.tolist() == [True, True, True, False, False, False, True]


def test_the_reference_sentences_are_parallel() -> None:
    counts = {code: len(transfer.reference_sentences(code)) for code in ("en", "pt", "es", "it")}
    assert len(set(counts.values())) == 1 and counts["en"] >= 100, counts
    assert transfer.reference_sentences("xx") == []


class _Linear:
    """A fitted linear model that prefers the first intent everywhere."""

    classes_ = np.array(["faq/roaming", "faq/store"])

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return np.tile([0.6, 0.4], (len(rows), 1))


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, np.float32)
    return vector / np.linalg.norm(vector)


def test_the_nearest_examples_overrule_a_narrow_linear_preference() -> None:
    vectors = np.vstack([_unit(1, 0, 0), _unit(1, 0.2, 0), _unit(0, 1, 0), _unit(0, 1, 0.2)])
    labels = ["faq/roaming", "faq/roaming", "faq/store", "faq/store"]
    model = transfer.PivotModel(_Linear(), vectors, labels, neighbours=2)
    near_store = _unit(0.1, 1, 0.1)[None, :]
    assert model.nearest is not None
    similarities = model.nearest.similarity(near_store)
    assert similarities[0, 1] > similarities[0, 0]
    probabilities = model.predict_proba(near_store)[0]
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[1] > 0.99  # the linear model alone says roaming, 0.6
    # Each intent's score is the mean of its 2 nearest examples' cosines.
    assert similarities[0, 1] == pytest.approx(float((vectors[2:] @ near_store[0]).mean()))


def test_without_neighbours_it_is_the_linear_model() -> None:
    model = transfer.PivotModel(_Linear(), np.eye(2, dtype=np.float32), ["faq/roaming"] * 2, None)
    assert model.predict_proba(np.eye(2))[0] == pytest.approx([0.6, 0.4])
    assert list(model.classes_) == ["faq/roaming", "faq/store"]
