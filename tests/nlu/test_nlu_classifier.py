"""LinearIntentClassifier: the n-gram model answers first, the embedding only when it is unsure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import embeddings
from bot.nlu.classifiers import LinearIntentClassifier

VOCABULARY = ["hello", "hi", "refund", "money", "back", "roaming", "abroad", "phone", "help"]
TRAINING = {
    "greet": ["hello", "hi", "hello hi"],
    "faq/refund": ["refund", "money back", "refund money"],
    "faq/roaming": ["roaming", "phone abroad", "roaming abroad"],
}


def ngram_message(text: str, intent: str | None = None) -> Message:
    """A message with bag-of-words sentence features over VOCABULARY (what CountVectors gives)."""
    counts = np.array([[text.split().count(word) for word in VOCABULARY]], dtype=np.float32)
    data: dict[str, Any] = {TEXT: text}
    if intent:
        family, _, response = intent.partition("/")
        data[INTENT] = family
        if response:
            data["intent_response_key"] = intent
    message = Message(data=data)
    message.add_features(Features(sp.coo_matrix(counts), "sentence", TEXT, "ngrams"))
    return message


class FakeEmbedding:
    """Records which texts were embedded; the vector only says whether a text mentions help."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> Any:
        self.calls.append(list(texts))
        return np.array([[1.0, 0.0] if "help" in t else [0.0, 1.0] for t in texts], np.float32)


@pytest.fixture
def fake_embedding(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedding:
    fake = FakeEmbedding()
    monkeypatch.setattr(embeddings, "embed", fake)
    return fake


def train(tmp_path: Path, **config: Any) -> tuple[LinearIntentClassifier, LocalModelStorage]:
    storage = LocalModelStorage(tmp_path)
    resource = Resource("classifier")
    context = ExecutionContext(GraphSchema({}), "test")
    full_config = {**LinearIntentClassifier.get_default_config(), **config}
    classifier = LinearIntentClassifier.create(full_config, storage, resource, context)
    examples = [ngram_message(t, intent) for intent, texts in TRAINING.items() for t in texts]
    classifier.train(TrainingData(training_examples=examples))
    return classifier, storage


def test_confident_ngrams_skip_the_embedding(tmp_path: Path, fake_embedding: FakeEmbedding) -> None:
    classifier, _ = train(
        tmp_path, sentence_embedding="e5", early_exit_confidence=0.5, C=50.0, max_iter=500
    )
    assert len(fake_embedding.calls) == 1  # training embeds every example once
    assert sorted(fake_embedding.calls[0]) == sorted(t for ts in TRAINING.values() for t in ts)
    fake_embedding.calls.clear()

    sure, unsure, other_unsure = (
        ngram_message("refund money"),
        ngram_message("help"),
        ngram_message("help me please"),
    )
    classifier.process([sure, unsure, other_unsure])

    # Only the two unsure messages were embedded, in one call.
    assert fake_embedding.calls == [["help", "help me please"]]
    assert sure.get(INTENT)["name"] == "faq"
    assert sure.get("response_selector")["faq"]["response"]["intent_response_key"] == "faq/refund"
    for message in (unsure, other_unsure):
        assert message.get(INTENT)["name"] in {"greet", "faq"}
        assert message.get("intent_ranking")


def test_without_early_exit_every_message_is_embedded(
    tmp_path: Path, fake_embedding: FakeEmbedding
) -> None:
    classifier, _ = train(tmp_path, sentence_embedding="e5", C=50.0, max_iter=500)
    assert classifier.ngram_model is None
    fake_embedding.calls.clear()
    classifier.process([ngram_message("refund money"), ngram_message("hello")])
    assert fake_embedding.calls == [["refund money", "hello"]]


def test_without_a_sentence_embedding_nothing_is_embedded(
    tmp_path: Path, fake_embedding: FakeEmbedding
) -> None:
    classifier, _ = train(tmp_path, C=50.0, max_iter=500)
    message = ngram_message("roaming abroad")
    classifier.process([message])
    assert fake_embedding.calls == []
    assert message.get("response_selector")["faq"]["response"]["intent_response_key"] == (
        "faq/roaming"
    )


def test_the_ngram_model_is_persisted_and_loaded(
    tmp_path: Path, fake_embedding: FakeEmbedding
) -> None:
    config = {
        **LinearIntentClassifier.get_default_config(),
        "sentence_embedding": "e5",
        "early_exit_confidence": 0.5,
        "C": 50.0,
        "max_iter": 500,
    }
    trained, storage = train(tmp_path, **config)
    context = ExecutionContext(GraphSchema({}), "test")
    loaded = LinearIntentClassifier.load(config, storage, Resource("classifier"), context)
    assert loaded.ngram_model is not None
    fake_embedding.calls.clear()
    message = ngram_message("refund money")
    loaded.process([message])
    assert fake_embedding.calls == []
    assert message.get(INTENT)["name"] == "faq"
    # A config without the early exit loads the same model but always asks the full model.
    plain = LinearIntentClassifier.load(
        {**config, "early_exit_confidence": None}, storage, Resource("classifier"), context
    )
    assert plain.ngram_model is None


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"sentence_embedding": "bert"}, "sentence_embedding must be one of e5 or null"),
        ({"early_exit_confidence": 1.5}, r"early_exit_confidence must be in \(0, 1\]"),
        ({"similarity_power": 4}, "similarity_power needs a sentence_embedding"),
        (
            {"sentence_embedding": "e5", "similarity_power": -1},
            "similarity_power must be >= 0",
        ),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, setting: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train(tmp_path, **setting)


def test_early_exit_needs_ngrams(tmp_path: Path, fake_embedding: FakeEmbedding) -> None:
    storage = LocalModelStorage(tmp_path)
    config = {
        **LinearIntentClassifier.get_default_config(),
        "sentence_embedding": "e5",
        "early_exit_confidence": 0.9,
    }
    classifier = LinearIntentClassifier.create(
        config, storage, Resource("c"), ExecutionContext(GraphSchema({}), "test")
    )
    examples = [Message(data={TEXT: t, INTENT: "greet"}) for t in ("hi", "hello")] + [
        Message(data={TEXT: "bye", INTENT: "goodbye"})
    ]
    with pytest.raises(ValueError, match="needs a sparse featurizer"):
        classifier.train(TrainingData(training_examples=examples))


def test_similarity_lowers_the_confidence_of_messages_unlike_every_intent(
    tmp_path: Path, fake_embedding: FakeEmbedding
) -> None:
    config = {"sentence_embedding": "e5", "C": 50.0, "max_iter": 500}
    for folder in ("plain", "similar"):
        (tmp_path / folder).mkdir()
    plain, _ = train(tmp_path / "plain", **config)
    similar, storage = train(tmp_path / "similar", **config, similarity_power=4)
    assert plain.neighbours is None and similar.neighbours is not None
    # Every training text embeds as [0, 1]; "help" as [1, 0], as far from them as can be.
    like, unlike = ngram_message("refund money"), ngram_message("help")
    like_plain, unlike_plain = ngram_message("refund money"), ngram_message("help")
    similar.process([like, unlike])
    plain.process([like_plain, unlike_plain])

    assert like.get(INTENT) == pytest.approx(like_plain.get(INTENT))
    assert unlike_plain.get(INTENT)["confidence"] > 0.3
    assert unlike.get(INTENT)["confidence"] == pytest.approx(0.0)

    # The neighbours are stored with the model, and a config without the power ignores them.
    context = ExecutionContext(GraphSchema({}), "test")
    full_config = {**LinearIntentClassifier.get_default_config(), **config}
    loaded = LinearIntentClassifier.load(
        {**full_config, "similarity_power": 4}, storage, Resource("classifier"), context
    )
    assert loaded.neighbours is not None
    reloaded_unlike = ngram_message("help")
    loaded.process([reloaded_unlike])
    assert reloaded_unlike.get(INTENT)["confidence"] == pytest.approx(0.0)
    assert (
        LinearIntentClassifier.load(
            full_config, storage, Resource("classifier"), context
        ).neighbours
        is None
    )
