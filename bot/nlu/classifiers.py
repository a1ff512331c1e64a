"""A linear classifier over full intents that also acts as the FAQ response selector.

One multinomial logistic regression is trained on every full intent (`faq/roaming`, `greet`, ...)
from word and character n-grams plus the multilingual sentence embedding. It trains in seconds on
two cores, and one model gives one consistent set of confidences: the intent's confidence is the
probability of its family (all `faq/*` together), the FAQ topic's confidence is its probability
within the family. The output has exactly the shape Rasa's ResponseSelector produces, so
`utter_faq` and the processor's full-retrieval-intent handling work unchanged.

Early exit. The embedding is most of a parse's time (about 1 ms per token on one core), and most
messages do not need it: a second model, on the n-grams alone, answers first, and only when its
top intent is below `early_exit_confidence` does the classifier embed the text and ask the full
model. That is why the classifier embeds the text itself (`sentence_embedding: e5`) instead of
reading a featurizer's output: a featurizer before it could not know that it may skip the work.

Languages (`language_coverage`). The n-gram model only knows the languages it was trained in: on
an Italian question about an intent it saw only in English it is sure and wrong, and the embedding,
which carries meaning across languages, is never asked. So the classifier counts each intent's
training examples per language (the language guessed as the LanguageDetector does) and, for a
message in a language where some intent has fewer than `language_coverage` examples, skips the
early exit and lets a third model, on the embedding alone, decide how likely those intents are;
the full model shares the rest among the intents it knows in that language. That third model
learns from the best-covered language's examples, on vectors less their language's mean, a
language without examples placed by parallel reference sentences (bot/nlu/transfer.py). A message
in a language every intent covers is classified exactly as without the option.

Similarity. For the messages it embeds, the classifier also multiplies each intent's probability
by how close the message is to that intent's nearest training examples (`similarity_power`,
bot/nlu/neighbours.py): a message that looks like no intent's examples loses confidence, which is
what rejects out-of-scope questions.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
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

from bot.nlu.language import LanguageGuesser
from bot.nlu.neighbours import IntentNeighbours
from bot.nlu.transfer import (
    PivotModel,
    centred,
    language_means,
    pivot_language,
    pivot_rows,
    share_by_language,
)

logger = logging.getLogger(__name__)

MODEL_FILE = "linear_intent.joblib"
NGRAM_MODEL_FILE = "linear_intent_ngrams.joblib"
NEIGHBOURS_FILE = "linear_intent_neighbours.npz"
EMBEDDING_MODEL_FILE = "linear_intent_embedding.joblib"
# The embedding-only model's regularisation: C is this over its examples per intent, because C
# weighs the summed loss, so the same pull towards zero needs a smaller C with more examples.
# Chosen on validation only (benchmarks/results.md, issue 17), where 1,500 was best or tied on all
# three: xSID it.valid 87.0/87.3/86.7% (C 20/30/60), Multilingual TOD es eval 93.4/93.6/93.5%
# (C 2.9/4.3/8.6), and the bot's data with each FAQ's pt/es/it examples left out (26 English
# examples an intent: C 30 reached 69% of them, 100 75%).
EMBEDDING_C_SCALE = 1500.0
META_FILE = "linear_intent.json"
SENTENCE_EMBEDDINGS = ("e5",)
RANKING_LENGTH = 10


def _sparse_part(message: Message) -> sp.csr_matrix | None:
    """The message's n-gram counts, log-scaled and L2-normalised (None without a featurizer)."""
    sparse = message.get_sparse_features(TEXT)[1]
    if sparse is None:
        return None
    row = sp.csr_matrix(sparse.features, dtype=np.float32)
    row.data = np.log1p(np.abs(row.data))
    return normalize(row)


def _features(
    message: Message, dense_weight: float, embedding: np.ndarray | None = None
) -> sp.csr_matrix:
    """One row: the sparse n-grams next to the weighted dense features and sentence embedding.

    Dense features come from the pipeline's dense featurizers, if any, and `embedding` from the
    classifier's own sentence embedding.
    """
    sparse = _sparse_part(message)
    dense = message.get_dense_features(TEXT)[1]
    parts = [] if sparse is None else [sparse]
    if dense is not None:
        parts.append(sp.csr_matrix(np.asarray(dense.features, dtype=np.float32) * dense_weight))
    if embedding is not None:
        parts.append(sp.csr_matrix(embedding[np.newaxis, :] * dense_weight))
    if not parts:
        raise ValueError("LinearIntentClassifier needs featurizers before it in the pipeline")
    return sp.hstack(parts, format="csr")


def _language_of(message: Message) -> str | None:
    """The LanguageDetector's language code of a message, if it ran."""
    value = message.get("language")
    code = value.get("code") if isinstance(value, dict) else None
    return code if isinstance(code, str) else None


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
        """Regularisation, the sentence embedding and its weight, and the early exit."""
        return {
            "C": 8.0,
            "dense_weight": 1.0,
            "max_iter": 3000,
            "class_weight": "balanced",
            # "e5": the classifier embeds the text itself (bot/nlu/embeddings.py); None: it uses
            # only the features of the pipeline's featurizers.
            "sentence_embedding": None,
            # The n-gram model's top probability at which its answer stands without the
            # embedding; None always asks the full model.
            "early_exit_confidence": None,
            # With a sentence embedding: each intent's probability is multiplied by
            # (similarity to its nearest examples / its examples' typical similarity) ** power,
            # capped at 1; None leaves the probabilities as they are (bot/nlu/neighbours.py).
            "similarity_power": None,
            "similarity_neighbours": 3,
            "similarity_reference_quantile": 0.25,
            # With a sentence embedding: how many training examples an intent needs in a language
            # for the n-gram model to be trusted with it there (see the module docstring); None
            # trusts it in every language.
            "language_coverage": None,
            # The languages counted; None takes brand.yml's.
            "languages": None,
            # False: no similarity factor for the intents unknown in the message's language.
            "cross_language_similarity": True,
            # With language_coverage: how many nearest pivot examples of an intent also weigh on
            # the embedding-only model (bot/nlu/transfer.py, PivotModel); None: the linear model
            # alone.
            "transfer_neighbours": None,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: LogisticRegression | None = None,
        responses: dict[str, list[dict[str, Any]]] | None = None,
        ngram_model: LogisticRegression | None = None,
        neighbours: IntentNeighbours | None = None,
        embedding_model: PivotModel | LogisticRegression | None = None,
        coverage: dict[str, list[str]] | None = None,
        language_means: dict[str, np.ndarray] | None = None,
    ) -> None:
        if config.get("sentence_embedding") not in (None, *SENTENCE_EMBEDDINGS):
            raise ValueError(
                f"LinearIntentClassifier: sentence_embedding must be one of "
                f"{', '.join(SENTENCE_EMBEDDINGS)} or null, not {config['sentence_embedding']!r}"
            )
        exit_confidence = config.get("early_exit_confidence")
        if exit_confidence is not None and not 0.0 < float(exit_confidence) <= 1.0:
            raise ValueError(
                "LinearIntentClassifier: early_exit_confidence must be in (0, 1] or null, "
                f"not {exit_confidence!r}"
            )
        if config.get("similarity_power") is not None:
            if not config.get("sentence_embedding"):
                raise ValueError(
                    "LinearIntentClassifier: similarity_power needs a sentence_embedding"
                )
            if float(config["similarity_power"]) < 0 or int(config["similarity_neighbours"]) < 1:
                raise ValueError(
                    "LinearIntentClassifier: similarity_power must be >= 0 and "
                    "similarity_neighbours >= 1"
                )
        if config.get("language_coverage") is not None and not config.get("sentence_embedding"):
            raise ValueError("LinearIntentClassifier: language_coverage needs a sentence_embedding")
        nearest = config.get("transfer_neighbours")
        if nearest is not None and (isinstance(nearest, bool) or int(nearest) < 1):
            raise ValueError(
                f"LinearIntentClassifier: transfer_neighbours must be >= 1 or null, not {nearest!r}"
            )
        self.config = config
        self._model_storage = model_storage
        self._resource = resource
        self.model = model
        self.ngram_model = ngram_model
        self.neighbours = neighbours
        self.responses = responses or {}
        # The embedding-only model and, per language, the intents known there (`train`).
        self.embedding_model = embedding_model
        self.coverage = coverage
        self.language_means: dict[str, np.ndarray] | None = language_means

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

    def _embed(self, texts: list[str], progress: bool = False) -> np.ndarray | None:
        """The texts' sentence embeddings, or None when the classifier uses none."""
        if not self.config.get("sentence_embedding"):
            return None
        from bot.nlu import embeddings  # looked up on the module: the benchmark's cache wraps it

        return embeddings.embed(texts, progress=progress)

    def _fit(self, features: sp.csr_matrix, labels: list[str]) -> LogisticRegression:
        model = LogisticRegression(
            C=self.config["C"],
            max_iter=self.config["max_iter"],
            class_weight=self.config["class_weight"],
        )
        model.fit(features, labels)
        _fast_rows(model)
        return model

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the full model and, with an early exit, the n-gram model on every example."""
        examples = [m for m in training_data.intent_examples if m.get(INTENT)]
        labels = [m.get_full_intent() for m in examples]
        if len(set(labels)) < 2:
            logger.warning("LinearIntentClassifier needs at least two intents; not trained")
            return self._resource
        vectors = self._embed([m.get(TEXT) or "" for m in examples], progress=True)
        dense_weight = self.config["dense_weight"]
        features = sp.vstack(
            [
                _features(m, dense_weight, None if vectors is None else vectors[i])
                for i, m in enumerate(examples)
            ],
            format="csr",
        )
        self.model = self._fit(features, labels)
        self.neighbours = None
        if vectors is not None and self.config.get("similarity_power") is not None:
            self.neighbours = IntentNeighbours.fit(
                list(self.model.classes_),
                vectors,
                labels,
                neighbours=int(self.config["similarity_neighbours"]),
                reference_quantile=float(self.config["similarity_reference_quantile"]),
            )
        self._fit_languages(examples, labels, vectors)
        self.ngram_model = None
        if self.config.get("early_exit_confidence") is not None:
            ngrams = [_sparse_part(m) for m in examples]
            if any(row is None for row in ngrams):
                raise ValueError(
                    "LinearIntentClassifier: early_exit_confidence needs a sparse featurizer "
                    "(CountVectorsFeaturizer) before it in the pipeline"
                )
            self.ngram_model = self._fit(sp.vstack(ngrams, format="csr"), labels)
        self.responses = {
            key: value for key, value in training_data.responses.items() if "/" in key
        }
        self.persist()
        return self._resource

    def _fit_languages(
        self, examples: list[Message], labels: list[str], vectors: np.ndarray | None
    ) -> None:
        """Counts each intent's examples per language and fits the embedding-only model."""
        self.coverage, self.embedding_model, self.language_means = None, None, None
        if vectors is None or self.config.get("language_coverage") is None:
            return
        languages = self.config.get("languages")
        if not languages:
            from bot.settings import load_brand

            languages = list(load_brand().languages)
        guesser = LanguageGuesser(languages)
        # Every guess counts, weak ones too: a short example ("ok", "blz") is often a weak guess,
        # and a few English examples guessed as Portuguese ("list of stores") stay below
        # `language_coverage` (5 in config.yml; the shipped data has at least 7 an intent).
        codes = [_language_of(m) or guesser.guess(m.get(TEXT) or "").code for m in examples]
        counts = Counter(zip(codes, labels, strict=True))
        need = int(self.config["language_coverage"])
        self.coverage = {
            code: sorted({label for label in set(labels) if counts[(code, label)] >= need})
            for code in guesser.languages
        }
        for code, known in self.coverage.items():
            if len(known) < len(set(labels)):
                logger.info("%d of %d intents known in %s", len(known), len(set(labels)), code)
        # Unweighted classes transfer best across languages (xSID it.valid, Multilingual TOD es
        # eval; benchmarks/results.md); C: EMBEDDING_C_SCALE. Where each language sits and which
        # examples decide: bot/nlu/transfer.py.
        pivot = pivot_language(self.coverage, codes)
        self.language_means = language_means(vectors, codes, guesser.languages, pivot)
        rows = pivot_rows(codes, labels, pivot, self.coverage[pivot])
        per_intent = rows.sum() / len(set(labels))
        pivot_vectors = centred(
            vectors[rows], [c for c, r in zip(codes, rows, strict=True) if r], self.language_means
        )
        pivot_labels = [label for label, r in zip(labels, rows, strict=True) if r]
        linear = LogisticRegression(
            C=EMBEDDING_C_SCALE / per_intent, max_iter=self.config["max_iter"]
        ).fit(pivot_vectors, pivot_labels)
        _fast_rows(linear)
        neighbours = self.config.get("transfer_neighbours")
        self.embedding_model = PivotModel(
            linear, pivot_vectors, pivot_labels, None if neighbours is None else int(neighbours)
        )

    def _unknown_intents(self, message: Message) -> np.ndarray | None:
        """Which intents the n-gram model never learnt in the message's language (None: none)."""
        if self.coverage is None or self.model is None or self.embedding_model is None:
            return None
        code = _language_of(message)
        if code is None:  # no LanguageDetector before the classifier: trust every language
            return None
        known = set(self.coverage.get(code, ()))
        unknown = np.array([label not in known for label in self.model.classes_])
        return unknown if unknown.any() else None

    def _early_answer(self, message: Message) -> tuple[list[str], np.ndarray] | None:
        """The n-gram model's labels and probabilities, if confident enough to stand alone."""
        if self.ngram_model is None:
            return None
        ngrams = _sparse_part(message)
        if ngrams is None:
            return None
        probabilities = self.ngram_model.predict_proba(ngrams)[0]
        if probabilities.max() >= float(self.config["early_exit_confidence"]):
            return list(self.ngram_model.classes_), probabilities
        return None

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets `intent`, `intent_ranking` and, for retrieval intents, `response_selector`."""
        pending = []
        for message in messages:
            if self.model is None or not message.get(TEXT):
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
                continue
            # In a language some intent was never trained in, the n-gram model's certainty
            # means little: no early exit.
            early = (
                None if self._unknown_intents(message) is not None else self._early_answer(message)
            )
            if early is None:
                pending.append(message)
            else:
                self._set_predictions(message, *early)
        if not pending or self.model is None:
            return messages
        # One embedding call for every message that needs it (training-time batches, tests).
        vectors = self._embed([m.get(TEXT) for m in pending])
        dense_weight = self.config["dense_weight"]
        factors = (
            self.neighbours.factors(vectors, float(self.config["similarity_power"]))
            if self.neighbours is not None and vectors is not None
            else None
        )
        for i, message in enumerate(pending):
            row = _features(message, dense_weight, None if vectors is None else vectors[i])
            probabilities = self.model.predict_proba(row)[0]
            unknown = self._unknown_intents(message)
            if unknown is not None and vectors is not None and self.embedding_model is not None:
                row = centred(
                    vectors[i : i + 1], [_language_of(message)], self.language_means or {}
                )
                by_embedding = self.embedding_model.predict_proba(row)[0]
                probabilities = share_by_language(probabilities, by_embedding, unknown)
            if factors is not None:
                factor = factors[i]
                if unknown is not None and self.config.get("cross_language_similarity") is False:
                    # An unknown intent's examples are all in other languages: a translation is
                    # farther from them than a paraphrase, not because it means something else.
                    factor = np.where(unknown, 1.0, factor)
                probabilities = probabilities * factor
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
            if self.ngram_model is not None:
                joblib.dump(self.ngram_model, Path(folder) / NGRAM_MODEL_FILE)
            if self.neighbours is not None:
                self.neighbours.save(Path(folder) / NEIGHBOURS_FILE)
            if self.embedding_model is not None:
                joblib.dump(self.embedding_model, Path(folder) / EMBEDDING_MODEL_FILE)
            dump_obj_as_json_to_file(
                Path(folder) / META_FILE,
                {
                    "responses": self.responses,
                    "coverage": self.coverage,
                    "language_means": {
                        code: [float(x) for x in mean]
                        for code, mean in (self.language_means or {}).items()
                    },
                },
            )

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
                ngram_path = Path(folder) / NGRAM_MODEL_FILE
                ngram_model = joblib.load(ngram_path) if ngram_path.exists() else None
                neighbours_path = Path(folder) / NEIGHBOURS_FILE
                neighbours = (
                    IntentNeighbours.load(neighbours_path) if neighbours_path.exists() else None
                )
                embedding_path = Path(folder) / EMBEDDING_MODEL_FILE
                embedding_model = joblib.load(embedding_path) if embedding_path.exists() else None
        except (ValueError, FileNotFoundError):
            logger.warning("No trained LinearIntentClassifier found; it will predict nothing")
            return cls(config, model_storage, resource)
        _fast_rows(model)
        _fast_rows(ngram_model)
        if config.get("early_exit_confidence") is None:
            ngram_model = None
        if config.get("similarity_power") is None:
            neighbours = None
        _fast_rows(getattr(embedding_model, "linear", embedding_model))
        coverage = meta.get("coverage") if config.get("language_coverage") is not None else None
        return cls(
            config,
            model_storage,
            resource,
            model=model,
            responses=meta.get("responses"),
            ngram_model=ngram_model,
            neighbours=neighbours,
            embedding_model=embedding_model if coverage is not None else None,
            coverage=coverage,
            language_means={
                code: np.asarray(mean, np.float32)
                for code, mean in (meta.get("language_means") or {}).items()
            },
        )
