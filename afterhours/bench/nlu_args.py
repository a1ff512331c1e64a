"""Arguments of `afterhours bench nlu` (light: no Rasa, no TensorFlow)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the `bench nlu` options to its subparser."""
    parser.add_argument(
        "--dataset",
        required=True,
        help="clinc150, banking77, hwu64; cross-lingual: xsid (en -> it), xsid-valid (en valid "
        "only -> it), xsid-it, "
        "mtod (en -> es), "
        "mtod-1per, mtod-3per, mtod-5per (en + that share of the Spanish training split), "
        "mtod-es; or the path of a plain .csv/.jsonl file or folder "
        "(text,intent; `oos` = out of scope)",
    )
    parser.add_argument(
        "--config", default="config.yml", help="the bot's config; its NLU pipeline is benchmarked"
    )
    parser.add_argument(
        "--with-signals",
        action="store_true",
        help="keep the brand signal components (language, addressing, personal data, emotion); "
        "they do not change the intent, so by default they are left out",
    )
    parser.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="COMPONENT",
        help="leave a pipeline component out, by the end of its name (repeatable), "
        "e.g. EmotionDetector",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="COMPONENT.KEY=VALUE",
        help="override a component's option (YAML value, repeatable), "
        "e.g. LinearIntentClassifier.C=4",
    )
    parser.add_argument(
        "--pipeline",
        default=None,
        metavar="YAML",
        help="a YAML file whose `pipeline` replaces the derived one (for experiments)",
    )
    parser.add_argument(
        "--oos-training",
        choices=("exclude", "class"),
        default="exclude",
        help="out-of-scope training examples: left out (default, as in Larson et al.) or "
        "trained as an `out_of_scope` intent",
    )
    parser.add_argument(
        "--per-intent-thresholds",
        action="store_true",
        help="also tune one rejection threshold per predicted intent on the validation split",
    )
    parser.add_argument(
        "--oos-target",
        type=float,
        default=0.7,
        help="also report the operating point whose threshold reaches this out-of-scope recall "
        "on the validation split (default 0.7)",
    )
    parser.add_argument(
        "--in-scope-target",
        type=float,
        default=0.95,
        help="also report the operating point with the highest threshold that keeps this "
        "in-scope accuracy on the validation split (default 0.95)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="evaluate this trained model (a `bench nlu --keep-model` one) instead of training",
    )
    parser.add_argument(
        "--latency-samples", type=int, default=200, help="single-message parses timed"
    )
    parser.add_argument(
        "--max-train-per-intent",
        type=int,
        default=0,
        help="use at most this many training examples per intent (0: all), e.g. to mimic the "
        "bot's few examples per intent",
    )
    _add_embedding_arguments(parser)
    parser.add_argument("--note", default="", help="a word on the run, written with its row")
    parser.add_argument(
        "--no-record", action="store_true", help="do not append the row to benchmarks/results.md"
    )
    parser.add_argument("--results", default=None, help="the results file to append to")
    parser.add_argument("--keep-model", default=None, help="copy the trained model to this folder")


def _add_embedding_arguments(parser: argparse.ArgumentParser) -> None:
    """The e5 cache and the e5-only reference."""
    parser.add_argument(
        "--e5-cache",
        action="store_true",
        help="reuse sentence embeddings across runs (experiments only: the training time is then "
        "not the real one; latency is always measured without the cache)",
    )
    parser.add_argument(
        "--e5-reference",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train and score a logistic regression on the e5 vectors alone, the reference "
        "of what the embedding allows (default: on for the cross-lingual datasets)",
    )
    parser.add_argument(
        "--e5-reference-c", type=float, default=10.0, help="that regression's C (not tuned)"
    )
