"""A linear classifier over full intents that also acts as the FAQ response selector.

One multinomial logistic regression is trained on every full intent (`faq/roaming`, `greet`, ...)
from word and character n-grams plus the multilingual sentence embedding. It trains in seconds on
two cores, and one model gives one consistent set of confidences: the intent's confidence is the
probability of its family (all `faq/*` together), the FAQ topic's confidence is its probability
within the family. The output has exactly the shape Rasa's ResponseSelector produces, so
`utter_faq` and the processor's full-retrieval-intent handling work unchanged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import dump_obj_as_json_to_file, read_json_file
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

logger = logging.getLogger(__name__)

MODEL_FILE = "linear_intent.joblib"
META_FILE = "linear_intent.json"
RANKING_LENGTH = 10


def _features(message: Message, dense_weight: float) -> sp.csr_matrix:
    """One row: log-scaled, L2-normalised sparse n-grams next to the weighted dense embedding."""
    sparse = message.get_sparse_features(TEXT)[1]
    dense = message.get_dense_features(TEXT)[1]
    parts = []
    if sparse is not None:
        row = sp.csr_matrix(sparse.features, dtype=np.float32)
        row.data = np.log1p(np.abs(row.data))
        parts.append(normalize(row))
    if dense is not None:
        parts.append(sp.csr_matrix(np.asarray(dense.features, dtype=np.float32) * dense_weight))
    if not parts:
        raise ValueError("LinearIntentClassifier needs featurizers before it in the pipeline")
    return sp.hstack(parts, format="csr")


def _fast_rows(model: LogisticRegression | None) -> None:
    """Stores the weights column-major, so that scoring one message copies nothing.

    scipy multiplies a sparse row by `coef_.T` through a flat C-ordered view of it; with sklearn's
    row-major `coef_` that view is a copy of the whole matrix on every call (60 ms a message with
    150 intents and CLINC150's vocabulary). Column-major `coef_` gives the same numbers.
    """
    if model is not None and hasattr(model, "coef_"):
        model.coef_ = np.asfortranarray(model.coef_)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    """Predicts the intent and, for retrieval intents, the response (see module docstring)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Regularisation and how much the sentence embedding weighs against the n-grams."""
        return {"C": 8.0, "dense_weight": 1.0, "max_iter": 3000, "class_weight": "balanced"}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: LogisticRegression | None = None,
        responses: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.config = config
        self._model_storage = model_storage
        self._resource = resource
        self.model = model
        self.responses = responses or {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        """Creates an untrained classifier."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the classifier on every example with an intent."""
        examples = [m for m in training_data.intent_examples if m.get(INTENT)]
        labels = [m.get_full_intent() for m in examples]
        if len(set(labels)) < 2:
            logger.warning("LinearIntentClassifier needs at least two intents; not trained")
            return self._resource
        features = sp.vstack(
            [_features(m, self.config["dense_weight"]) for m in examples], format="csr"
        )
        self.model = LogisticRegression(
            C=self.config["C"],
            max_iter=self.config["max_iter"],
            class_weight=self.config["class_weight"],
        )
        self.model.fit(features, labels)
        _fast_rows(self.model)
        self.responses = {
            key: value for key, value in training_data.responses.items() if "/" in key
        }
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets `intent`, `intent_ranking` and, for retrieval intents, `response_selector`."""
        for message in messages:
            if self.model is None or not message.get(TEXT):
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
                continue
            probabilities = self.model.predict_proba(
                _features(message, self.config["dense_weight"])
            )[0]
            self._set_predictions(message, list(self.model.classes_), probabilities)
        return messages

    def _set_predictions(
        self, message: Message, labels: list[str], probabilities: np.ndarray
    ) -> None:
        families: dict[str, float] = defaultdict(float)
        members: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for label, probability in zip(labels, probabilities, strict=True):
            family = label.split("/", 1)[0]
            families[family] += float(probability)
            if "/" in label:
                members[family].append((label, float(probability)))
        ranking = sorted(families.items(), key=lambda item: -item[1])
        top_name, top_confidence = ranking[0]
        message.set(INTENT, {"name": top_name, "confidence": top_confidence}, add_to_output=True)
        message.set(
            "intent_ranking",
            [
                {"name": name, "confidence": confidence}
                for name, confidence in ranking[:RANKING_LENGTH]
            ],
            add_to_output=True,
        )
        if not members:
            return
        selector: dict[str, Any] = {"all_retrieval_intents": sorted(members)}
        for family, options in members.items():
            total = families[family] or 1.0
            options.sort(key=lambda item: -item[1])
            best, best_probability = options[0]
            selector[family] = {
                "response": {
                    "responses": self.responses.get(f"utter_{best}", []),
                    "confidence": best_probability / total,
                    INTENT_RESPONSE_KEY: best,
                    "utter_action": f"utter_{best}",
                },
                "ranking": [
                    {"confidence": probability / total, INTENT_RESPONSE_KEY: label}
                    for label, probability in options[:RANKING_LENGTH]
                ],
            }
        message.set("response_selector", selector, add_to_output=True)

    def persist(self) -> None:
        """Stores the fitted model and the responses of the retrieval intents."""
        with self._model_storage.write_to(self._resource) as folder:
            joblib.dump(self.model, Path(folder) / MODEL_FILE)
            dump_obj_as_json_to_file(Path(folder) / META_FILE, {"responses": self.responses})

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        """Loads a trained classifier (an untrained one if nothing was stored)."""
        try:
            with model_storage.read_from(resource) as folder:
                model = joblib.load(Path(folder) / MODEL_FILE)
                meta = read_json_file(Path(folder) / META_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("No trained LinearIntentClassifier found; it will predict nothing")
            return cls(config, model_storage, resource)
        _fast_rows(model)
        return cls(config, model_storage, resource, model=model, responses=meta.get("responses"))
