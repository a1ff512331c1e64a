"""Issue 17, the bot's own case: an FAQ intent written in English only, asked in pt, es and it.

The bot's NLU (config.yml's pipeline) is trained on data/nlu with one FAQ intent's pt/es/it
examples left out (a copy under a temporary folder; data/ is untouched), and the held-out
questions of tests/nlu/crosslingual_faq.yml, written apart from the training data, are parsed.
A question counts as right when the parse reaches the intent (the FAQ family and the response
key) above the FallbackClassifier's threshold. Measure only: never tune on these questions.

    python -m tests.nlu.test_crosslingual_faq_slow [--config config.yml] [--set KEY=VALUE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = Path(__file__).with_name("crosslingual_faq.yml")


def english_only_data(source: Path, target: Path, intent: str, languages: Sequence[str]) -> int:
    """Copies the NLU data, leaving out `intent`'s examples in `languages`.

    Returns:
        How many examples were left out.
    """
    dropped = 0
    for path in sorted(source.glob("*/*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if path.parent.name in languages:
            kept = []
            for item in document.get("nlu", []):
                if item.get("intent") == intent:
                    dropped += sum(
                        line.strip().startswith("-") for line in item["examples"].splitlines()
                    )
                else:
                    kept.append(item)
            document["nlu"] = kept
        out = target / path.parent.name / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return dropped


def nlu_config(config: Path, overrides: Sequence[str], target: Path) -> Path:
    """The config with `LinearIntentClassifier` options overridden (`KEY=VALUE`, YAML values)."""
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    for override in overrides:
        key, _, value = override.partition("=")
        for step in document["pipeline"]:
            if str(step["name"]).endswith("LinearIntentClassifier"):
                step[key] = yaml.safe_load(value)
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


def reached(parse: dict[str, Any], intent: str) -> bool:
    """Whether a parse reaches the FAQ intent above the fallback threshold."""
    family, _, _ = intent.partition("/")
    if (parse.get("intent") or {}).get("name") != family:
        return False
    selected = ((parse.get("response_selector") or {}).get(family) or {}).get("response") or {}
    return selected.get("intent_response_key") == intent


def measure(
    config: Path = REPO / "config.yml", overrides: Sequence[str] = (), e5_cache: bool = False
) -> dict[str, tuple[int, int]]:
    """Trains the English-only NLU and parses the held-out questions.

    Returns:
        Per language, (questions reaching the intent, questions).
    """
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    spec = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    intent, languages = spec["intent"], spec["dropped_languages"]
    with tempfile.TemporaryDirectory(prefix="afterhours-crosslingual-") as scratch_name:
        scratch = Path(scratch_name)
        dropped = english_only_data(REPO / "data" / "nlu", scratch / "nlu", intent, languages)
        print(f"{intent}: {dropped} pt/es/it examples left out, English kept", flush=True)
        cache = None
        if e5_cache:
            from afterhours.bench.nlu import EmbeddingCache, _cache_file

            cache = EmbeddingCache(_cache_file("bot-nlu"))
            cache.install()
        model = train_nlu(
            config=str(nlu_config(config, overrides, scratch / "config.yml")),
            nlu_data=str(scratch / "nlu"),
            output=str(scratch / "models"),
            fixed_model_name="crosslingual",
        )
        if cache:
            cache.save()
            cache.uninstall()
        assert model, "training failed"
        agent = Agent.load(model)
        loop = asyncio.new_event_loop()
        results: dict[str, tuple[int, int]] = {}
        for language, questions in spec["questions"].items():
            right = 0
            for question in questions:
                parse = loop.run_until_complete(agent.parse_message(question))
                hit = reached(parse, intent)
                right += hit
                if not hit:
                    selector = (parse.get("response_selector") or {}).get("faq") or {}
                    key = (selector.get("response") or {}).get("intent_response_key")
                    print(f"  miss [{language}] {question!r}: {parse['intent']} {key}")
            results[language] = (right, len(questions))
        loop.close()
    return results


@pytest.mark.slow
def test_an_english_only_faq_is_understood_in_pt_es_it() -> None:
    # Measured 31 of 36 (pt 10, es 11, it 10 of 12; benchmarks/results.md), against 2 of 36 before
    # `language_coverage` and 23 with the all-language embedding model. The goal is 90%:
    # these floors only keep what was reached, less one question a language for the e5 engine's
    # rounding on other machines.
    results = measure()
    right = sum(r for r, _ in results.values())
    total = sum(n for _, n in results.values())
    for language, (r, n) in results.items():
        assert r / n >= 0.75, f"{language}: {r} of {n}"
    assert right / total >= 0.8, f"{right} of {total}"


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the per-language measurement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(REPO / "config.yml"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--e5-cache", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    results = measure(Path(args.config), args.set, args.e5_cache)
    for language, (right, total) in results.items():
        print(f"{language}: {right} of {total} ({100 * right / total:.0f}%)")
    right = sum(r for r, _ in results.values())
    total = sum(n for _, n in results.values())
    print(f"all: {right} of {total} ({100 * right / total:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
