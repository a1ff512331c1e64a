"""`afterhours bench nlu`: the bot's NLU pipeline on a public intent benchmark.

The pipeline is the one `config.yml` ships, trained with Rasa's own trainer on the dataset's
intents (NLU only: no policies). Left out by default, because they never change the intent:
the brand signal components (language, addressing, personal data, emotion; `--with-signals`
keeps them) and the `FallbackClassifier`, whose job — rejecting low confidence — is measured here
with a threshold tuned on the validation split only (and at the shipped fallback threshold).

Training runs in a child process so that its peak memory is measured apart from serving's; the
model is then loaded the way the server loads it (`Agent.load`) and the test split parsed
through the model's graph in batches; single-message latency is timed with `Agent.parse_message`.

Out-of-scope metrics follow Larson et al. (2019): in-scope accuracy counts an in-scope query as
right only if it gets its intent and is not rejected; out-of-scope recall is the share of
out-of-scope queries rejected (or predicted as the `out_of_scope` intent when it is trained).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from afterhours.bench.datasets import CROSSLINGUAL, OOS, Dataset, Example, load_dataset
from afterhours.bench.results import RESULTS_FILE, append_run, command_line
from afterhours.bench.scoring import (
    Prediction,
    as_labels,
    decide,
    e5_reference,
    intent_name,
    label_names,
    percentile,
    scores,
    threshold_for_in_scope,
    threshold_for_recall,
    tune_per_intent,
    tune_threshold,
)

# Components that add brand signals to parse data but never touch the intent.
SIGNAL_COMPONENTS = (
    "LanguageDetector",
    "AddressingDetector",
    "PersonalDataDetector",
    "EmotionDetector",
)
FALLBACK = "FallbackClassifier"
BATCH = 256


# ---------------------------------------------------------------------------------------------
# The pipeline and its training data


def derive_config(
    config: dict[str, Any],
    *,
    with_signals: bool = False,
    drop: Sequence[str] = (),
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """The NLU-only config: the bot's pipeline without policies, fallback and (by default) signals.

    Args:
        config: The bot's config (parsed `config.yml`).
        with_signals: Keep the brand signal components.
        drop: More components to leave out, matched by the end of their name.
        overrides: `Component.key=value` settings (value parsed as YAML).

    Raises:
        ValueError: an override names no component of the pipeline or is malformed.
    """
    signals = [] if with_signals else [s for s in SIGNAL_COMPONENTS if s != "LanguageDetector"]
    leave_out = [FALLBACK, *drop] + signals
    pipeline = [
        dict(step)
        for step in config.get("pipeline", [])
        if not any(str(step["name"]).endswith(name) for name in leave_out)
    ]
    for override in overrides:
        target, _, value = override.partition("=")
        component, _, key = target.rpartition(".")
        if not component or not key or not _:
            raise ValueError(f"--set {override!r}: expected COMPONENT.KEY=VALUE")
        steps = [s for s in pipeline if str(s["name"]).endswith(component)]
        if not steps:
            raise ValueError(f"--set {override!r}: no component {component!r} in the pipeline")
        for step in steps:
            step[key] = yaml.safe_load(value)
    if not with_signals and not any(s.get("language_coverage") is not None for s in pipeline):
        # Kept only when the classifier reads the message's language (`language_coverage`,
        # issue 17); otherwise the detector is a signal that never changes the intent.
        pipeline = [s for s in pipeline if not str(s["name"]).endswith("LanguageDetector")]
    derived = {k: v for k, v in config.items() if k not in ("pipeline", "policies")}
    derived["pipeline"] = pipeline
    derived["policies"] = []
    return derived


def fallback_threshold(config: dict[str, Any]) -> float | None:
    """The shipped `FallbackClassifier` threshold, if the config has one."""
    for step in config.get("pipeline", []):
        if str(step["name"]).endswith(FALLBACK):
            return float(step.get("threshold", 0.3))
    return None


def training_examples(
    dataset: Dataset, oos_training: str = "exclude", max_per_intent: int = 0
) -> list[Example]:
    """The examples the pipeline is trained on.

    Args:
        dataset: The benchmark.
        oos_training: `exclude` drops out-of-scope examples; `class` keeps them as `OOS`.
        max_per_intent: Keep at most this many per intent, the first ones (0: all).
    """
    kept: list[Example] = []
    seen: dict[str, int] = defaultdict(int)
    for example in dataset.train:
        if example.intent == OOS and oos_training != "class":
            continue
        if max_per_intent and seen[example.intent] >= max_per_intent:
            continue
        seen[example.intent] += 1
        kept.append(example)
    return kept


def write_nlu_data(examples: Sequence[Example], path: Path) -> Path:
    """Writes the examples as Rasa YAML NLU data (Rasa's own writer does the quoting)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    messages = [Message.build(text=e.text, intent=intent_name(e.intent)) for e in examples]
    RasaYAMLWriter().dump(path, TrainingData(training_examples=messages))
    return path


# ---------------------------------------------------------------------------------------------
# Sentence-embedding cache (experiments only)


def _cache_file(name: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return base / "afterhours" / "bench-e5" / f"{safe}.npz"


class EmbeddingCache:
    """Remembers e5 vectors by text so that experiments do not re-embed a dataset."""

    def __init__(self, path: Path) -> None:
        """Loads the cache file if it exists."""
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.added = 0
        self.hits = 0
        self._original: Callable[..., np.ndarray] | None = None
        if path.exists():
            with np.load(path) as stored:
                for text, vector in zip(stored["texts"], stored["vectors"], strict=True):
                    self.vectors[str(text)] = vector

    def embed(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """`bot.nlu.embeddings.embed`, from the cache where possible."""
        assert self._original is not None
        missing = sorted({t for t in texts if t not in self.vectors})
        self.hits += len(texts) - len(missing)
        if missing:
            for text, vector in zip(
                missing,
                self._original(missing, batch_size=batch_size, progress=progress),
                strict=True,
            ):
                self.vectors[text] = vector
            self.added += len(missing)
        return np.vstack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 384))

    def install(self) -> None:
        """Routes the featurizer's embeddings through the cache."""
        from bot.nlu import embeddings

        self._original = embeddings.embed
        embeddings.embed = self.embed

    def uninstall(self) -> None:
        """Restores the real embedding (latency is always measured without the cache)."""
        from bot.nlu import embeddings

        if self._original is not None:
            embeddings.embed = self._original

    def save(self) -> None:
        """Writes the cache if anything was added."""
        if not self.added:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self.vectors)
        np.savez(
            self.path.with_suffix(".tmp.npz"),
            texts=np.asarray(texts),
            vectors=np.vstack([self.vectors[t] for t in texts]),
        )
        os.replace(self.path.with_suffix(".tmp.npz"), self.path)


@contextmanager
def counted_embeddings() -> Iterator[list[str]]:
    """Records every text `bot.nlu.embeddings.embed` is asked for, while the block runs."""
    from bot.nlu import embeddings

    original = embeddings.embed
    asked: list[str] = []

    def counting(texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        asked.extend(texts)
        return original(texts, batch_size=batch_size, progress=progress)

    embeddings.embed = counting
    try:
        yield asked
    finally:
        embeddings.embed = original


# ---------------------------------------------------------------------------------------------
# Training (child process) and evaluation


def _quiet_rasa() -> None:
    import logging

    from rasa.utils.log_utils import configure_structlog

    logging.getLogger().setLevel(logging.WARNING)
    for name in ("rasa", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    configure_structlog(logging.WARNING)


def _train_child(
    config: str, data: str, out: str, cache: str | None, answer: multiprocessing.Queue
) -> None:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # No graph cache: every run trains from scratch, so the training time is the real one.
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    os.environ["RASA_CACHE_DIRECTORY"] = str(Path(out) / ".cache")
    try:
        from rasa.model_training import train_nlu

        _quiet_rasa()
        embedding_cache = EmbeddingCache(Path(cache)) if cache else None
        if embedding_cache:
            embedding_cache.install()
        started = time.perf_counter()
        model = train_nlu(config=config, nlu_data=data, output=out, fixed_model_name="bench")
        seconds = time.perf_counter() - started
        if embedding_cache:
            embedding_cache.save()
        hits = embedding_cache.hits if embedding_cache else 0
        answer.put({"model": model, "seconds": seconds, "cache_hits": hits})
    except BaseException as error:  # noqa: BLE001 (reported to the parent, which fails)
        answer.put({"error": f"{type(error).__name__}: {error}"})


def train_in_child(
    config: Path, data: Path, out: Path, cache: Path | None
) -> tuple[Path, float, float, int]:
    """Trains in a fresh process.

    Returns:
        (model file, training seconds, the child's peak RSS in MB, embedding-cache hits).

    Raises:
        RuntimeError: training failed.
    """
    context = multiprocessing.get_context("spawn")
    answer: multiprocessing.Queue = context.Queue()
    process = context.Process(
        target=_train_child,
        args=(str(config), str(data), str(out), str(cache) if cache else None, answer),
    )
    process.start()
    result = answer.get()
    process.join()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if "error" in result or not result.get("model"):
        raise RuntimeError(f"training failed: {result.get('error', 'no model written')}")
    return Path(result["model"]), float(result["seconds"]), peak, int(result["cache_hits"])


def parse_batches(agent: Any, texts: Sequence[str]) -> list[Prediction]:
    """Top intent and confidence of every text, through the model's NLU graph in batches."""
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import INTENT

    processor = agent.processor
    target = processor.model_metadata.nlu_target
    tracker = DialogueStateTracker.from_events("bench", [])
    predictions: list[Prediction] = []
    for start in range(0, len(texts), BATCH):
        messages = [UserMessage(text) for text in texts[start : start + BATCH]]
        results = processor.graph_runner.run(
            inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: tracker}, targets=[target]
        )
        for parsed in results[target]:
            intent = parsed.get(INTENT) or {}
            predictions.append(
                Prediction(str(intent.get("name")), float(intent.get("confidence") or 0.0))
            )
    return predictions


def _rate(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.1f}%"


def run(args: argparse.Namespace) -> int:
    """Trains, evaluates, prints the figures and appends them to the results file."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    dataset = load_dataset(args.dataset)
    print(dataset.summary(), flush=True)
    shipped, config = _configs(args)
    examples = training_examples(dataset, args.oos_training, args.max_train_per_intent)
    back = label_names([e.intent for e in examples])  # refuses colliding names before training
    cache = _cache_file(dataset.name) if args.e5_cache else None

    with tempfile.TemporaryDirectory(prefix="afterhours-bench-") as scratch_name:
        scratch = Path(scratch_name)
        config_path = scratch / "config.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        if args.model:
            model, train_seconds, train_peak, train_hits = Path(args.model), 0.0, 0.0, 0
            print(f"evaluating {model} (no training)", flush=True)
        else:
            data_path = write_nlu_data(examples, scratch / "nlu.yml")
            print(f"training on {len(examples)} examples ...", flush=True)
            model, train_seconds, train_peak, train_hits = train_in_child(
                config_path, data_path, scratch / "models", cache
            )
            print(f"trained in {train_seconds:.1f} s", flush=True)
        if args.keep_model:
            Path(args.keep_model).mkdir(parents=True, exist_ok=True)
            shutil.copy2(model, Path(args.keep_model) / model.name)

        from rasa.core.agent import Agent

        _quiet_rasa()
        started = time.perf_counter()
        agent = Agent.load(str(model))
        load_seconds = time.perf_counter() - started
        loop = asyncio.new_event_loop()
        started = time.perf_counter()
        loop.run_until_complete(agent.parse_message(dataset.test[0].text))
        first_parse = time.perf_counter() - started

        embedding_cache = EmbeddingCache(cache) if cache else None
        if embedding_cache:
            embedding_cache.install()
        started = time.perf_counter()
        test_predictions = parse_batches(agent, [e.text for e in dataset.test])
        batch_seconds = time.perf_counter() - started
        validation_predictions = (
            parse_batches(agent, [e.text for e in dataset.validation]) if dataset.validation else []
        )
        test_predictions, validation_predictions, reference = _labelled(
            args, dataset, examples, back, test_predictions, validation_predictions
        )
        if embedding_cache:
            embedding_cache.save()
            embedding_cache.uninstall()

        samples = [e.text for e in dataset.test[: max(0, args.latency_samples)]]
        latencies = []
        with counted_embeddings() as embedded:
            for text in samples:
                started = time.perf_counter()
                loop.run_until_complete(agent.parse_message(text))
                latencies.append(1000 * (time.perf_counter() - started))
        loop.close()
    serve_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    figures = evaluate(
        dataset,
        test_predictions,
        validation_predictions,
        fallback_threshold(shipped),
        per_intent=args.per_intent_thresholds,
        oos_target=args.oos_target,
        in_scope_target=args.in_scope_target,
    )
    if reference is not None:
        figures["e5 + logistic regression (reference)"] = _rate(reference)
    figures.update(
        {
            "train": f"{train_seconds:.1f} s" if not args.model else "n/a (--model)",
            "load": f"{load_seconds:.1f} s (+{first_parse:.1f} s first parse)",
            "parse p50": f"{percentile(latencies, 50):.1f} ms",
            "parse p99": f"{percentile(latencies, 99):.1f} ms",
            "embedded": f"{len(embedded)} of {len(samples)} parses (the rest exited early)",
            "batched": f"{len(dataset.test) / batch_seconds:.0f} msg/s"
            + (
                f" (e5 cache hits {embedding_cache.hits})"
                if embedding_cache and embedding_cache.hits
                else ""
            ),
            "peak RSS": (f"train {train_peak:.0f} MB, " if not args.model else "")
            + f"serve {serve_peak:.0f} MB",
            "load avg": f"{os.getloadavg()[0]:.1f}",
        }
    )
    notes = ["e5 embeddings cached: training time not comparable"] if train_hits else []
    _print_and_record(args, figures, notes)
    return 0


def _labelled(
    args: argparse.Namespace,
    dataset: Dataset,
    examples: list[Example],
    back: dict[str, str],
    test: list[Prediction],
    validation: list[Prediction],
) -> tuple[list[Prediction], list[Prediction], float | None]:
    """The predictions under the dataset's labels, and the e5-only reference if asked for."""
    wanted = dataset.name in CROSSLINGUAL if args.e5_reference is None else args.e5_reference
    reference = e5_reference(examples, dataset.test, C=args.e5_reference_c) if wanted else None
    return as_labels(test, back), as_labels(validation, back), reference


def _configs(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipped config and the one benchmarked (another pipeline, signals, drops, --set)."""
    shipped = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    base = yaml.safe_load(Path(args.pipeline).read_text(encoding="utf-8")) if args.pipeline else {}
    source = {**shipped, **({"pipeline": base["pipeline"]} if base else {})}
    config = derive_config(
        source, with_signals=args.with_signals, drop=args.drop, overrides=args.set
    )
    print("pipeline: " + " → ".join(str(s["name"]).rsplit(".", 1)[-1] for s in config["pipeline"]))
    return shipped, config


def _print_and_record(args: argparse.Namespace, figures: dict[str, Any], notes: list[str]) -> None:
    """Prints the figures (and notes, --note last) and, unless --no-record, records them."""
    if notes or args.note:
        figures["note"] = "; ".join(notes + ([args.note] if args.note else []))
    width = max(len(k) for k in figures)
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value}")
    if not args.no_record:
        target = Path(args.results) if args.results else RESULTS_FILE
        append_run("nlu", command_line(), figures, path=target)
        print(f"appended to {target}")


def evaluate(
    dataset: Dataset,
    test: Sequence[Prediction],
    validation: Sequence[Prediction],
    shipped_threshold: float | None,
    per_intent: bool = False,
    oos_target: float = 0.7,
    in_scope_target: float = 0.95,
) -> dict[str, str]:
    """The quality figures of one run, formatted.

    Args:
        dataset: The benchmark (gold labels).
        test: Predictions for the test split, in order.
        validation: Predictions for the validation split (empty when there is none).
        shipped_threshold: The bot's fallback threshold, also reported when there is OOS.
        per_intent: Also tune and report per-intent thresholds.
        oos_target: Also report the threshold reaching this OOS recall on validation.
        in_scope_target: Also report the highest threshold keeping this in-scope accuracy on
            validation.
    """
    gold = [e.intent for e in dataset.test]
    argmax = [decide(p, 0.0) for p in test]
    figures: dict[str, str] = {}
    if not dataset.has_oos:
        result = scores(gold, argmax)
        figures["accuracy"] = _rate(result["in_scope_accuracy"])
        figures["macro F1"] = _rate(result["macro_f1"])
        return figures
    figures["in-scope (no threshold)"] = _rate(scores(gold, argmax)["in_scope_accuracy"])
    figures["OOS recall (no threshold)"] = _rate(scores(gold, argmax)["oos_recall"])
    validation_gold = [e.intent for e in dataset.validation]
    if validation and OOS in validation_gold:
        threshold = tune_threshold(validation_gold, validation)
        tuned = scores(gold, [decide(p, threshold) for p in test])
        figures["threshold (tuned on validation)"] = f"{threshold:.3f}"
        figures["in-scope accuracy"] = _rate(tuned["in_scope_accuracy"])
        figures["OOS recall"] = _rate(tuned["oos_recall"])
        figures["OOS precision"] = _rate(tuned["oos_precision"])
        figures["macro F1"] = _rate(tuned["macro_f1"])

        def operating_point(at: float) -> str:
            reached = scores(gold, [decide(p, at) for p in test])
            return (
                f"threshold {at:.3f}: in-scope {_rate(reached['in_scope_accuracy'])} / "
                f"OOS recall {_rate(reached['oos_recall'])}"
            )

        if oos_target:
            figures[f"at validation OOS recall {100 * oos_target:g}%"] = operating_point(
                threshold_for_recall(validation_gold, validation, oos_target)
            )
        if in_scope_target:
            figures[f"at validation in-scope {100 * in_scope_target:g}%"] = operating_point(
                threshold_for_in_scope(validation_gold, validation, in_scope_target)
            )
        if per_intent:
            limits = tune_per_intent(validation_gold, validation, threshold)
            own = scores(gold, [decide(p, threshold, limits) for p in test])
            figures["per-intent thresholds"] = (
                f"in-scope {_rate(own['in_scope_accuracy'])} / OOS recall "
                f"{_rate(own['oos_recall'])} / macro F1 {_rate(own['macro_f1'])}"
            )
    else:
        figures["macro F1 (no threshold)"] = _rate(scores(gold, argmax)["macro_f1"])
    if shipped_threshold is not None:
        fixed = scores(gold, [decide(p, shipped_threshold) for p in test])
        figures[f"at shipped fallback {shipped_threshold:g}"] = (
            f"in-scope {_rate(fixed['in_scope_accuracy'])} / OOS recall "
            f"{_rate(fixed['oos_recall'])}"
        )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m afterhours.bench.nlu ...` (the same as `afterhours bench nlu ...`)."""
    from afterhours.bench.nlu_args import add_arguments

    parser = argparse.ArgumentParser(prog="afterhours bench nlu", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
