"""OOS metric definitions, threshold tuning on a toy set, and the derived NLU-only config."""

from __future__ import annotations

import math

import pytest

from afterhours.bench.datasets import OOS, Dataset, Example
from afterhours.bench.nlu import (
    derive_config,
    evaluate,
    fallback_threshold,
    intent_name,
    training_examples,
)
from afterhours.bench.scoring import (
    OOS_INTENT,
    Prediction,
    decide,
    percentile,
    scores,
    threshold_for_in_scope,
    threshold_for_recall,
    tune_per_intent,
    tune_threshold,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

# Validation: in-scope predictions are confident when right; out-of-scope ones are not.
GOLD = ["a", "a", "b", "b", OOS, OOS, OOS]
PREDICTIONS = [
    Prediction("a", 0.9),
    Prediction("a", 0.7),
    Prediction("b", 0.8),
    Prediction("a", 0.35),  # wrong intent, low confidence
    Prediction("a", 0.4),
    Prediction("b", 0.3),
    Prediction("b", 0.75),  # a confident out-of-scope query: cannot be caught
]


def test_decide_rejects_below_the_threshold_and_the_oos_intent() -> None:
    assert decide(Prediction("a", 0.5), 0.5) == "a"
    assert decide(Prediction("a", 0.49), 0.5) == OOS
    assert decide(Prediction(OOS_INTENT, 0.99), 0.0) == OOS
    assert decide(Prediction("a", 0.6), 0.5, {"a": 0.7}) == OOS
    assert decide(Prediction("b", 0.6), 0.5, {"a": 0.7}) == "b"


def test_in_scope_accuracy_counts_a_rejected_in_scope_query_as_wrong() -> None:
    gold = ["a", "a", "b", "b", OOS, OOS]
    predicted = ["a", OOS, "b", "a", OOS, "b"]
    result = scores(gold, predicted)
    assert result["in_scope_accuracy"] == 0.5  # 2 of 4: one rejected, one wrong
    assert result["oos_recall"] == 0.5  # 1 of 2 out-of-scope rejected
    assert result["oos_precision"] == 0.5  # 1 of 2 rejections was out of scope
    # F1 per gold label (one hit, one false alarm, one miss each): 1/2.
    assert result["macro_f1"] == pytest.approx(0.5)


def test_scores_without_out_of_scope() -> None:
    result = scores(["a", "b"], ["a", "b"])
    assert result["in_scope_accuracy"] == 1.0 and result["macro_f1"] == 1.0
    assert math.isnan(result["oos_recall"]) and math.isnan(result["oos_precision"])


def test_tuned_threshold_maximises_in_scope_accuracy_plus_oos_recall() -> None:
    threshold = tune_threshold(GOLD, PREDICTIONS)
    # At 0.7: in-scope 3/4 + OOS 2/3 = 1.42; at 0.8: in-scope 2/4 + OOS 3/3 = 1.5, the best
    # (0.8 is the lowest candidate that rejects the confident 0.75 out-of-scope query).
    assert threshold == pytest.approx(0.8)
    predicted = [decide(p, threshold) for p in PREDICTIONS]
    result = scores(GOLD, predicted)
    assert result["in_scope_accuracy"] == 0.5
    assert result["oos_recall"] == 1.0
    at_07 = scores(GOLD, [decide(p, 0.7) for p in PREDICTIONS])
    assert at_07["in_scope_accuracy"] + at_07["oos_recall"] < 1.5


def test_threshold_for_a_target_oos_recall_is_the_lowest_reaching_it() -> None:
    # Out-of-scope confidences 0.3, 0.4, 0.75: two of three need a threshold just above 0.4.
    at_60 = threshold_for_recall(GOLD, PREDICTIONS, 0.6)
    assert 0.4 < at_60 < 0.4001
    assert scores(GOLD, [decide(p, at_60) for p in PREDICTIONS])["oos_recall"] == pytest.approx(
        2 / 3
    )
    assert 0.75 < threshold_for_recall(GOLD, PREDICTIONS, 0.7) < 0.7501
    assert threshold_for_recall(GOLD, PREDICTIONS, 0.0) == 0.0
    forced = [Prediction(OOS_INTENT, 0.9)] * 3
    assert threshold_for_recall([OOS] * 3, forced, 1.0) == 0.0  # already caught as a class


def test_threshold_for_a_target_in_scope_accuracy_is_the_highest_keeping_it() -> None:
    # Right in-scope answers at 0.9, 0.7 and 0.8 of four in-scope queries (one is wrong anyway).
    at_half = threshold_for_in_scope(GOLD, PREDICTIONS, 0.5)
    assert at_half == pytest.approx(0.8)  # keeps 0.9 and 0.8: 2 of 4
    result = scores(GOLD, [decide(p, at_half) for p in PREDICTIONS])
    assert result["in_scope_accuracy"] == 0.5 and result["oos_recall"] == 1.0
    assert threshold_for_in_scope(GOLD, PREDICTIONS, 0.75) == pytest.approx(0.7)
    assert threshold_for_in_scope(GOLD, PREDICTIONS, 0.9) == 0.0  # out of reach: reject nothing
    assert threshold_for_in_scope(GOLD, PREDICTIONS, 0.0) > 1.0
    with pytest.raises(ValueError, match="no in-scope"):
        threshold_for_in_scope([OOS], [Prediction("a", 0.5)], 0.9)


def test_tuning_needs_both_kinds() -> None:
    with pytest.raises(ValueError, match="in-scope and out-of-scope"):
        tune_threshold(["a", "b"], [Prediction("a", 0.9), Prediction("b", 0.9)])


def test_per_intent_thresholds_are_tuned_on_what_each_intent_predicted() -> None:
    limits = tune_per_intent(GOLD, PREDICTIONS, base=0.5)
    # Intent a: right at 0.9 and 0.7, OOS at 0.4 -> any threshold in (0.4, 0.7]; nearest 0.5.
    assert limits["a"] == 0.5
    # Intent b: right at 0.8, OOS at 0.3 and 0.75 -> above 0.75 catches both OOS.
    assert limits["b"] == 0.8
    predicted = [decide(p, 0.5, limits) for p in PREDICTIONS]
    assert scores(GOLD, predicted)["oos_recall"] == 1.0


def test_evaluate_reports_tuned_and_shipped_thresholds() -> None:
    dataset = Dataset(
        "toy",
        train=[Example("x", "a")],
        validation=[Example(str(i), g) for i, g in enumerate(GOLD)],
        test=[Example(str(i), g) for i, g in enumerate(GOLD)],
    )
    figures = evaluate(dataset, PREDICTIONS, PREDICTIONS, 0.45, per_intent=True)
    assert figures["threshold (tuned on validation)"] == "0.800"
    assert figures["in-scope accuracy"] == "50.0%"
    assert figures["OOS recall"] == "100.0%"
    assert figures["in-scope (no threshold)"] == "75.0%"
    assert figures["OOS recall (no threshold)"] == "0.0%"
    assert figures["at shipped fallback 0.45"] == "in-scope 75.0% / OOS recall 66.7%"
    assert figures["at validation OOS recall 70%"] == (
        "threshold 0.750: in-scope 50.0% / OOS recall 100.0%"
    )
    assert figures["per-intent thresholds"].startswith("in-scope 75.0% / OOS recall 100.0%")


def test_evaluate_without_out_of_scope_is_plain_accuracy() -> None:
    dataset = Dataset("toy", train=[], test=[Example("1", "a"), Example("2", "b")])
    figures = evaluate(dataset, [Prediction("a", 0.2), Prediction("a", 0.9)], [], 0.45)
    assert figures == {"accuracy": "50.0%", "macro F1": "33.3%"}


def test_percentile() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 100.0], 50) == 3.0
    assert math.isnan(percentile([], 50))


CONFIG = {
    "recipe": "default.v1",
    "language": "en",
    "pipeline": [
        {"name": "bot.nlu.components.LanguageDetector"},
        {"name": "WhitespaceTokenizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "word"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb"},
        {"name": "bot.nlu.classifiers.LinearIntentClassifier", "sentence_embedding": "e5"},
        {"name": "FallbackClassifier", "threshold": 0.45},
        {"name": "bot.nlu.components.EmotionDetector"},
    ],
    "policies": [{"name": "RulePolicy"}],
}


def test_derived_config_is_nlu_only_without_signals_and_fallback() -> None:
    derived = derive_config(CONFIG)
    assert [s["name"] for s in derived["pipeline"]] == [
        "WhitespaceTokenizer",
        "CountVectorsFeaturizer",
        "CountVectorsFeaturizer",
        "bot.nlu.classifiers.LinearIntentClassifier",
    ]
    assert derived["policies"] == [] and derived["recipe"] == "default.v1"
    assert CONFIG["pipeline"][0] == {"name": "bot.nlu.components.LanguageDetector"}  # untouched
    assert fallback_threshold(CONFIG) == 0.45


def test_derived_config_variants() -> None:
    derived = derive_config(
        CONFIG,
        with_signals=True,
        drop=["EmotionDetector"],
        overrides=[
            "LinearIntentClassifier.C=2",
            "LinearIntentClassifier.sentence_embedding=null",
            "CountVectorsFeaturizer.max_ngram=3",
        ],
    )
    names = [s["name"].rsplit(".", 1)[-1] for s in derived["pipeline"]]
    assert names == [
        "LanguageDetector",
        "WhitespaceTokenizer",
        "CountVectorsFeaturizer",
        "CountVectorsFeaturizer",
        "LinearIntentClassifier",
    ]
    assert derived["pipeline"][4]["C"] == 2
    assert derived["pipeline"][4]["sentence_embedding"] is None
    assert derived["pipeline"][2]["max_ngram"] == 3
    with pytest.raises(ValueError, match="no component"):
        derive_config(CONFIG, overrides=["DIETClassifier.epochs=1"])
    with pytest.raises(ValueError, match="COMPONENT.KEY=VALUE"):
        derive_config(CONFIG, overrides=["C=2"])


def test_training_examples_oos_and_few_per_intent() -> None:
    dataset = Dataset(
        "toy",
        train=[Example("1", "a"), Example("2", "a"), Example("3", "a"), Example("4", OOS)],
        test=[],
    )
    assert [e.text for e in training_examples(dataset)] == ["1", "2", "3"]
    assert [e.text for e in training_examples(dataset, "class", 2)] == ["1", "2", "4"]
    assert intent_name(OOS) == OOS_INTENT and intent_name("faq/x") == "faq_x"
