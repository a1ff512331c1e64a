"""IntentNeighbours: the similarity factor that lowers the confidence of unlike messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.nlu.neighbours import IntentNeighbours


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


# Two intents in a 3-d space: "a" around the x axis, "b" around y; "c" has one example.
EXAMPLES = {
    "a": [unit(1, 0.1, 0), unit(1, -0.1, 0), unit(1, 0, 0.1), unit(1, 0, -0.1)],
    "b": [unit(0.1, 1, 0), unit(-0.1, 1, 0), unit(0, 1, 0.1)],
    "c": [unit(0, 0, 1)],
}


def fitted(neighbours: int = 2, quantile: float = 0.25) -> IntentNeighbours:
    labels = [intent for intent, vectors in EXAMPLES.items() for _ in vectors]
    vectors = np.vstack([v for vectors in EXAMPLES.values() for v in vectors])
    return IntentNeighbours.fit(["a", "b", "c"], vectors, labels, neighbours, quantile)


def test_similarity_is_the_mean_of_the_nearest_examples() -> None:
    model = fitted(neighbours=2)
    message = unit(1, 0, 0)
    similarity = model.similarity(message[np.newaxis, :])[0]
    a = sorted((np.vstack(EXAMPLES["a"]) @ message).tolist(), reverse=True)
    b = sorted((np.vstack(EXAMPLES["b"]) @ message).tolist(), reverse=True)
    assert similarity[0] == pytest.approx(np.mean(a[:2]), abs=1e-6)
    assert similarity[1] == pytest.approx(np.mean(b[:2]), abs=1e-6)
    # An intent with fewer examples than neighbours averages what it has; padding never counts.
    assert similarity[2] == pytest.approx(float(EXAMPLES["c"][0] @ message), abs=1e-6)


def test_a_typical_message_keeps_its_probability_and_an_unlike_one_loses_it() -> None:
    model = fitted()
    typical, unlike = unit(1, 0.02, 0.02), unit(1, 1, 1)
    factors = model.factors(np.vstack([typical, unlike]), power=8)
    assert factors[0, 0] == pytest.approx(1.0)  # capped: as close as a's own examples
    assert 0.0 < factors[1, 0] < 0.1
    assert factors.shape == (2, 3)
    assert (factors >= 0).all() and (factors <= 1).all()
    # Power 0 changes nothing.
    assert np.allclose(model.factors(np.vstack([typical, unlike]), power=0), 1.0)


def test_the_reference_is_the_intents_own_typical_closeness() -> None:
    model = fitted(neighbours=1, quantile=0.0)
    own = np.vstack(EXAMPLES["a"]) @ np.vstack(EXAMPLES["a"]).T
    np.fill_diagonal(own, -np.inf)
    assert model.reference[0] == pytest.approx(own.max(axis=1).min(), abs=1e-6)
    # One example has no others: it gets the median of the other intents' references.
    assert model.reference[2] == pytest.approx(np.median(model.reference[:2]), abs=1e-6)


def test_saved_and_loaded_it_gives_the_same_factors(tmp_path: Path) -> None:
    model = fitted()
    model.save(tmp_path / "n.npz")
    loaded = IntentNeighbours.load(tmp_path / "n.npz")
    messages = np.vstack([unit(1, 0.3, 0), unit(0.2, 1, 0.4)])
    assert np.allclose(loaded.factors(messages, 8), model.factors(messages, 8), atol=2e-3)
    assert loaded.neighbours == model.neighbours
