"""LinearIntentClassifier's `language_coverage` (issue 17): intents unknown in a language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.classifiers import LinearIntentClassifier
from bot.nlu.transfer import share_by_language
from tests.nlu.test_nlu_classifier import FakeEmbedding, fake_embedding, ngram_message

__all__ = ["fake_embedding"]  # the fixture, imported for the tests below

# (text, intent, language): faq/roaming is written in English only.
TRAINING = [
    ("hello", "greet", "en"),
    ("hi", "greet", "en"),
    ("hello hi", "greet", "pt"),
    ("refund", "faq/refund", "en"),
    ("money back", "faq/refund", "en"),
    ("refund money", "faq/refund", "pt"),
    ("roaming", "faq/roaming", "en"),
    ("phone abroad", "faq/roaming", "en"),
    ("roaming abroad", "faq/roaming", "en"),
]
CONFIG = {
    "sentence_embedding": "e5",
    "early_exit_confidence": 0.5,
    "language_coverage": 1,
    "languages": ["en", "pt"],
    "C": 50.0,
    "max_iter": 500,
}


def with_language(message: Message, code: str | None) -> Message:
    if code:
        message.set("language", {"code": code, "confidence": 1.0, "reliable": True})
    return message


def train(tmp_path: Path, **config: Any) -> tuple[LinearIntentClassifier, LocalModelStorage]:
    storage = LocalModelStorage(tmp_path)
    full = {**LinearIntentClassifier.get_default_config(), **config}
    context = ExecutionContext(GraphSchema({}), "test")
    classifier = LinearIntentClassifier.create(full, storage, Resource("classifier"), context)
    examples = [with_language(ngram_message(t, i), code) for t, i, code in TRAINING]
    classifier.train(TrainingData(training_examples=examples))
    return classifier, storage


def test_known_intents_keep_the_full_model_and_unknown_ones_get_the_embedding() -> None:
    full = np.array([0.7, 0.2, 0.1])
    by_embedding = np.array([0.1, 0.1, 0.8])
    shared = share_by_language(full, by_embedding, np.array([False, False, True]))
    assert shared == pytest.approx([0.7 / 0.9 * 0.2, 0.2 / 0.9 * 0.2, 0.8])
    assert shared.sum() == pytest.approx(1.0)
    everything = np.array([True, True, True])
    assert share_by_language(full, by_embedding, everything) == pytest.approx(by_embedding)


def test_a_language_with_an_unknown_intent_has_no_early_exit(
    tmp_path: Path, fake_embedding: FakeEmbedding
) -> None:
    classifier, _ = train(tmp_path, **CONFIG)
    assert classifier.coverage == {
        "en": ["faq/refund", "faq/roaming", "greet"],
        "pt": ["faq/refund", "greet"],
    }
    fake_embedding.calls.clear()
    english, portuguese, unknown = (
        with_language(ngram_message("refund money"), "en"),
        with_language(ngram_message("refund money"), "pt"),
        ngram_message("refund money"),  # no LanguageDetector: every language is trusted
    )
    classifier.process([english, portuguese, unknown])
    assert fake_embedding.calls == [["refund money"]]  # only the Portuguese one
    for message in (english, portuguese, unknown):
        assert message.get(INTENT)["name"] == "faq"


def test_coverage_and_the_embedding_model_are_persisted(
    tmp_path: Path, fake_embedding: FakeEmbedding
) -> None:
    config = {**LinearIntentClassifier.get_default_config(), **CONFIG}
    trained, storage = train(tmp_path, **config)
    context = ExecutionContext(GraphSchema({}), "test")
    loaded = LinearIntentClassifier.load(config, storage, Resource("classifier"), context)
    assert loaded.coverage == trained.coverage
    assert loaded.embedding_model is not None
    off = {**config, "language_coverage": None}
    plain = LinearIntentClassifier.load(off, storage, Resource("classifier"), context)
    assert plain.coverage is None and plain.embedding_model is None


def test_the_embedding_model_weighs_the_nearest_pivot_examples(
    tmp_path: Path, fake_embedding: FakeEmbedding
) -> None:
    config = {**LinearIntentClassifier.get_default_config(), **CONFIG, "transfer_neighbours": 2}
    trained, storage = train(tmp_path, **config)
    assert trained.embedding_model is not None and trained.embedding_model.neighbours == 2
    context = ExecutionContext(GraphSchema({}), "test")
    loaded = LinearIntentClassifier.load(config, storage, Resource("classifier"), context)
    assert loaded.embedding_model is not None and loaded.embedding_model.neighbours == 2
    row = np.ones((1, 2), np.float32)  # the fake embedding has two dimensions
    assert loaded.embedding_model.predict_proba(row) == pytest.approx(
        trained.embedding_model.predict_proba(row)
    )


@pytest.mark.parametrize("neighbours", [0, -1, True])
def test_transfer_neighbours_must_be_positive(tmp_path: Path, neighbours: Any) -> None:
    with pytest.raises(ValueError, match="transfer_neighbours must be >= 1 or null"):
        train(tmp_path, transfer_neighbours=neighbours)


def test_language_coverage_needs_the_embedding(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="language_coverage needs a sentence_embedding"):
        train(tmp_path, language_coverage=3)
