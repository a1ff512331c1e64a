"""How close a message is to each intent's own training examples, in the e5 embedding space.

A linear model's probabilities say which intent wins, not whether the message looks like any of
them: a question about the weather can still give 0.9 to the nearest of the bank's intents. The
e5 similarity to an intent's nearest training examples says how much the message looks like that
intent, so `LinearIntentClassifier` multiplies each intent's probability by a factor from it
(`similarity_power`): out-of-scope messages lose confidence, and among close intents the one
whose examples are nearest gains (benchmarks/results.md, experiments 11 and 15).

The factor is relative to how close the intent's own training examples are to each other
(`reference`): a message as close to an intent as its typical example keeps its probability,
so the bot's thresholds keep their meaning, and only messages farther away lose confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class IntentNeighbours:
    """Every intent's training embeddings, padded into one array so that one product scores all.

    Attributes:
        vectors: `[intents, most examples, dimensions]`, zero rows past each intent's count.
        counts: How many examples each intent has.
        reference: Each intent's typical similarity of one of its examples to the others.
        neighbours: How many of an intent's nearest examples are averaged.
    """

    vectors: np.ndarray
    counts: np.ndarray
    reference: np.ndarray
    neighbours: int

    @classmethod
    def fit(
        cls,
        intents: Sequence[str],
        vectors: np.ndarray,
        labels: Sequence[str],
        neighbours: int = 3,
        reference_quantile: float = 0.25,
    ) -> IntentNeighbours:
        """Groups the training embeddings by intent and measures each intent's reference.

        Args:
            intents: The intents, in the order the classifier's probabilities come in.
            vectors: One L2-normalised embedding per training example.
            labels: Each example's intent.
            neighbours: How many nearest examples make an intent's similarity.
            reference_quantile: Which quantile of the intent's examples' own similarity (each to
                its nearest other examples) counts as typical; lower is more lenient.
        """
        label_array = np.asarray(labels, dtype=object)
        groups = [np.asarray(vectors[label_array == intent], np.float32) for intent in intents]
        counts = np.array([len(group) for group in groups], dtype=np.int64)
        width = max(1, int(counts.max(initial=1)))
        padded = np.zeros((len(groups), width, vectors.shape[1]), dtype=np.float32)
        own: list[float | None] = []
        for index, group in enumerate(groups):
            padded[index, : len(group)] = group
            if len(group) < 2:
                own.append(None)
                continue
            similarity = group @ group.T
            np.fill_diagonal(similarity, -np.inf)  # leave the example itself out
            own.append(float(np.quantile(_top_mean(similarity, neighbours), reference_quantile)))
        known = [value for value in own if value is not None]
        fallback = float(np.median(known)) if known else 1.0
        reference = np.array([fallback if v is None else v for v in own], dtype=np.float32)
        return cls(padded, counts, reference, neighbours)

    def similarity(self, vectors: np.ndarray) -> np.ndarray:
        """`[messages, intents]`: the mean similarity to each intent's nearest examples."""
        # einsum, not `@`: a BLAS product is faster alone (0.1 against 0.4 ms for the bot), but
        # OpenBLAS then keeps a second thread spinning on the other core (`rasa run` at 171% CPU
        # while handling one message at a time), taking the core another worker or the action
        # server needs (benchmarks/results.md, experiment 16).
        scores = np.einsum("iwd,md->miw", self.vectors, np.asarray(vectors, np.float32))
        padding = np.arange(self.vectors.shape[1])[np.newaxis, :] >= self.counts[:, np.newaxis]
        scores[:, padding] = -np.inf
        return _top_mean(scores, self.neighbours)

    def factors(self, vectors: np.ndarray, power: float) -> np.ndarray:
        """`[messages, intents]` in [0, 1]: (similarity / reference) ** power, capped at 1."""
        ratio = self.similarity(vectors) / np.maximum(self.reference, 1e-6)
        return np.clip(ratio, 0.0, 1.0) ** power

    def save(self, path: Path) -> None:
        """Stores the embeddings as float16 (half the size, the same factors to 3 decimals)."""
        np.savez(
            path,
            vectors=self.vectors.astype(np.float16),
            counts=self.counts,
            reference=self.reference,
            neighbours=np.array(self.neighbours),
        )

    @classmethod
    def load(cls, path: Path) -> IntentNeighbours:
        """Reads what `save` stored."""
        with np.load(path) as stored:
            return cls(
                stored["vectors"].astype(np.float32),
                stored["counts"],
                stored["reference"],
                int(stored["neighbours"]),
            )


def _top_mean(scores: np.ndarray, count: int) -> np.ndarray:
    """The mean of the `count` highest scores along the last axis, ignoring -inf entries."""
    if scores.shape[-1] > count:
        scores = -np.partition(-scores, count - 1, axis=-1)[..., :count]
    finite = np.isfinite(scores)
    total = np.where(finite, scores, 0.0).sum(axis=-1)
    return total / np.maximum(finite.sum(axis=-1), 1)
