"""The figures an intent benchmark prints: accuracy, macro F1, out-of-scope thresholds.

Out-of-scope metrics follow Larson et al. (2019): in-scope accuracy counts an in-scope query as
right only if it gets its intent and is not rejected; out-of-scope recall is the share of
out-of-scope queries rejected (or predicted as the `out_of_scope` intent when it is trained).
Thresholds are tuned on the validation split only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from afterhours.bench.datasets import OOS, Example

# The intent out-of-scope training examples get with `--oos-training class`.
OOS_INTENT = "out_of_scope"


@dataclass(frozen=True)
class Prediction:
    """The top intent of one parse and its confidence."""

    intent: str
    confidence: float


# ---------------------------------------------------------------------------------------------
# Metrics (plain logic, tested without Rasa)


def decide(
    prediction: Prediction, threshold: float, per_intent: dict[str, float] | None = None
) -> str:
    """The label a prediction gets: its intent, or `OOS` when rejected or out of scope."""
    if prediction.intent in (OOS, OOS_INTENT):
        return OOS
    limit = (per_intent or {}).get(prediction.intent, threshold)
    return prediction.intent if prediction.confidence >= limit else OOS


def scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """In-scope accuracy, out-of-scope recall and precision, macro F1 (over the gold labels).

    Returns:
        Fractions in 0..1; `oos_recall` / `oos_precision` are NaN without out-of-scope gold.
    """
    from sklearn.metrics import f1_score

    in_scope = [(g, p) for g, p in zip(gold, predicted, strict=True) if g != OOS]
    oos_gold = sum(g == OOS for g in gold)
    oos_hits = sum(g == OOS and p == OOS for g, p in zip(gold, predicted, strict=True))
    oos_predicted = sum(p == OOS for p in predicted)
    labels = sorted(set(gold))
    return {
        "in_scope_accuracy": sum(g == p for g, p in in_scope) / len(in_scope)
        if in_scope
        else float("nan"),
        "oos_recall": oos_hits / oos_gold if oos_gold else float("nan"),
        "oos_precision": oos_hits / oos_predicted if oos_predicted else float("nan"),
        "macro_f1": float(
            f1_score(list(gold), list(predicted), labels=labels, average="macro", zero_division=0)
        ),
    }


def tune_threshold(gold: Sequence[str], predictions: Sequence[Prediction]) -> float:
    """The rejection threshold that maximises in-scope accuracy + out-of-scope recall.

    Tune it on a validation split only. Every distinct confidence is a candidate; ties go to
    the lowest threshold (reject as little as possible).

    Raises:
        ValueError: the split has no out-of-scope or no in-scope examples.
    """
    gold_array = np.asarray(gold, dtype=object)
    is_oos = gold_array == OOS
    if is_oos.all() or not is_oos.any():
        raise ValueError("tuning a threshold needs in-scope and out-of-scope examples")
    intents = np.asarray([p.intent for p in predictions], dtype=object)
    confidence = np.asarray([p.confidence for p in predictions], dtype=float)
    forced_oos = np.isin(intents, [OOS, OOS_INTENT])
    right_intent = (intents == gold_array) & ~is_oos & ~forced_oos
    candidates = np.unique(np.concatenate([[0.0], confidence, [1.0 + 1e-9]]))
    # kept[i, j]: example j is not rejected at candidate i.
    best, best_value = 0.0, -1.0
    for start in range(0, len(candidates), 512):
        chunk = candidates[start : start + 512]
        kept = confidence[np.newaxis, :] >= chunk[:, np.newaxis]
        in_scope_acc = (kept & right_intent).sum(axis=1) / (~is_oos).sum()
        oos_rec = ((~kept | forced_oos) & is_oos).sum(axis=1) / is_oos.sum()
        values = in_scope_acc + oos_rec
        index = int(np.argmax(values))
        if values[index] > best_value + 1e-12:
            best, best_value = float(chunk[index]), float(values[index])
    return best


def threshold_for_recall(
    gold: Sequence[str], predictions: Sequence[Prediction], target: float
) -> float:
    """The lowest threshold whose out-of-scope recall reaches `target` (tune on validation).

    Raises:
        ValueError: the split has no out-of-scope examples.
    """
    confidences = sorted(
        p.confidence
        for g, p in zip(gold, predictions, strict=True)
        if g == OOS and p.intent not in (OOS, OOS_INTENT)
    )
    total = sum(g == OOS for g in gold)
    if not total:
        raise ValueError("no out-of-scope examples")
    caught_already = total - len(confidences)
    needed = max(0, int(np.ceil(target * total - 1e-9)) - caught_already)
    if needed == 0:
        return 0.0
    if needed > len(confidences):
        return 1.0 + 1e-9
    # Rejecting the `needed` least confident ones: just above the last of them.
    return float(np.nextafter(confidences[needed - 1], np.inf))


def threshold_for_in_scope(
    gold: Sequence[str], predictions: Sequence[Prediction], target: float
) -> float:
    """The highest threshold whose in-scope accuracy still reaches `target` (tune on validation).

    The other way to choose an operating point: keep the in-scope accuracy the product needs and
    reject as much as that allows. Rejected in-scope queries count as wrong, so the accuracy only
    falls as the threshold rises. When even no threshold misses the target, returns 0.

    Raises:
        ValueError: the split has no in-scope examples.
    """
    total = sum(g != OOS for g in gold)
    if not total:
        raise ValueError("no in-scope examples")
    right = sorted(
        (
            p.confidence
            for g, p in zip(gold, predictions, strict=True)
            if g != OOS and p.intent == g
        ),
        reverse=True,
    )
    needed = int(np.ceil(target * total - 1e-9))
    if needed == 0:
        return 1.0 + 1e-9
    if needed > len(right):
        return 0.0
    # Keeping exactly the `needed` most confident right answers (and everything above them).
    return float(right[needed - 1])


def tune_per_intent(
    gold: Sequence[str], predictions: Sequence[Prediction], base: float
) -> dict[str, float]:
    """One threshold per predicted intent, each maximising the same objective.

    The objective (in-scope accuracy + out-of-scope recall) is a sum over examples, and every
    example counts for the intent it was predicted as, so each intent's threshold can be tuned
    on its own. Intents the validation split never predicts keep `base`; ties go to the value
    nearest `base`.
    """
    in_count = sum(g != OOS for g in gold) or 1
    oos_count = sum(g == OOS for g in gold) or 1
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for g, p in zip(gold, predictions, strict=True):
        if p.intent not in (OOS, OOS_INTENT):
            groups[p.intent].append((g, p.confidence))
    thresholds = {}
    for intent, members in groups.items():
        candidates = sorted({0.0, base, *(c for _, c in members), 1.0 + 1e-9})
        best, best_value = base, -1.0
        for candidate in candidates:
            value = sum(
                (1 / in_count) if g == intent and c >= candidate else 0.0 for g, c in members
            ) + sum((1 / oos_count) if g == OOS and c < candidate else 0.0 for g, c in members)
            closer = abs(candidate - base) < abs(best - base)
            if value > best_value + 1e-12 or (abs(value - best_value) <= 1e-12 and closer):
                best, best_value = candidate, value
        thresholds[intent] = best
    return thresholds


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN when empty."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=float), q))


def e5_reference(train: Sequence[Example], test: Sequence[Example], C: float = 10.0) -> float:
    """In-scope accuracy of a logistic regression on the pipeline's e5 vectors alone.

    The reference of what the sentence embedding allows, trained in the same run on the same
    examples (`bench nlu --e5-reference`): on a language the n-gram model never saw, the pipeline
    should reach it. `C` 10 and unweighted classes were chosen on the cross-lingual validation
    splits (xSID it.valid, Multilingual TOD es eval), never on a test split.
    """
    from sklearn.linear_model import LogisticRegression

    from bot.nlu import embeddings  # looked up on the module: the benchmark's cache wraps it

    kept = [e for e in test if e.intent != OOS]
    if not kept:
        return float("nan")
    model = LogisticRegression(C=C, max_iter=3000)
    model.fit(embeddings.embed([e.text for e in train]), [e.intent for e in train])
    predicted = model.predict(embeddings.embed([e.text for e in kept]))
    return float(np.mean([p == e.intent for p, e in zip(predicted, kept, strict=True)]))


def intent_name(label: str) -> str:
    """A dataset label as a Rasa intent name (`/` would make it a retrieval intent)."""
    return OOS_INTENT if label == OOS else label.replace("/", "_")


def label_names(labels: Sequence[str]) -> dict[str, str]:
    """Each Rasa intent name the training data gets, mapped back to its dataset label.

    `/` is Rasa's retrieval-intent separator (`alarm/set_alarm` would be trained as the intent
    `alarm` with a response key), so labels are trained under `intent_name` and the predictions
    mapped back to the labels before scoring; scored under the Rasa name, every prediction of
    such a label would count as wrong (0.0% on Multilingual TOD).

    Raises:
        ValueError: two labels would be trained under the same name (`a/b` and `a_b`).
    """
    back: dict[str, str] = {}
    for label in sorted(set(labels)):
        name = intent_name(label)
        if back.get(name, label) != label:
            raise ValueError(
                f"intents {back[name]!r} and {label!r} would both be trained as {name!r} "
                "(Rasa reads `/` as its retrieval-intent separator); rename one of them"
            )
        back[name] = label
    return back


def as_labels(predictions: Sequence[Prediction], back: dict[str, str]) -> list[Prediction]:
    """The predictions under the dataset's labels (see `label_names`).

    Raises:
        RuntimeError: the model predicted an intent it was not trained on under that name (a
            retrieval intent's family, another model's intents): scoring it would print a wrong
            figure without a word.
    """
    unknown = sorted({p.intent for p in predictions} - set(back) - {OOS_INTENT, "None"})
    if unknown:
        raise RuntimeError(
            f"the model predicts intents the dataset does not have ({', '.join(unknown[:5])}): "
            "not scoring it (was it trained on other data, or are intents renamed?)"
        )
    return [Prediction(back.get(p.intent, p.intent), p.confidence) for p in predictions]
