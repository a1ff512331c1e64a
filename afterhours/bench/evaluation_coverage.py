"""What trainers must add for every language: warnings about gaps in the training data (issue 17).

Two gaps a trainer can act on, each a warning naming the file kind, the language and the fix:

- a response with no variation for one of the brand's languages (variations are chosen by the
  `language` slot, so the bot would answer in another language than the customer's, or not at
  all), and
- an intent with no or few examples in a language (the classifier still understands such a
  question through the multilingual embedding, `language_coverage` in config.yml, but less well,
  and it gives up its n-gram early exit for that language, so each message there costs more).

`afterhours evaluate` prints them before its figures;
`python -m afterhours.bench.evaluation_coverage` prints them alone (exit 1 when there is one).
Not part of `rasa data validate`: Rasa's validator is a fixed class behind its own CLI, and it
knows neither the brand's languages nor that a response's language is a slot condition.
Plain logic, no Rasa import.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
# As config.yml's `language_coverage`: fewer examples than this in a language is a gap.
MIN_EXAMPLES = 5


def _documents(paths: Iterable[Path]) -> Iterable[tuple[Path, dict[str, Any]]]:
    for path in paths:
        files = (
            sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
        )
        for file in files:
            document = yaml.safe_load(file.read_text(encoding="utf-8"))
            if isinstance(document, dict):
                yield file, document


def response_languages(paths: Iterable[Path]) -> dict[str, set[str] | None]:
    """Each response's languages: the `language` slot values of its variations' conditions.

    None means a variation without a language condition, which answers in every language.
    """
    languages: dict[str, set[str] | None] = {}
    for _, document in _documents(paths):
        for name, variations in (document.get("responses") or {}).items():
            for variation in variations or []:
                conditions = (variation or {}).get("condition") or []
                values = {
                    str(c.get("value"))
                    for c in conditions
                    if isinstance(c, dict) and c.get("name") == "language"
                }
                if not values or languages.get(name, set()) is None:
                    languages[name] = None
                else:
                    languages.setdefault(name, set()).update(values)  # type: ignore[union-attr]
    return languages


def _examples(block: str) -> list[str]:
    return [line.strip()[1:].strip() for line in block.splitlines() if line.strip().startswith("-")]


def intent_examples(nlu: Path, languages: Sequence[str]) -> dict[str, dict[str, int]]:
    """Each intent's example count per language.

    A file under a folder named after one of the languages (`data/nlu/pt/`) is in that language;
    the examples of any other file are each given the language the bot's detector guesses.
    """
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    guesser = None
    for file, document in _documents([nlu]):
        folder = next((p for p in file.relative_to(nlu).parts[:-1] if p in languages), None)
        for item in document.get("nlu") or []:
            if not isinstance(item, dict) or "intent" not in item:
                continue
            for example in _examples(str(item.get("examples") or "")):
                code = folder
                if code is None:
                    if guesser is None:
                        from bot.nlu.language import LanguageGuesser

                        guesser = LanguageGuesser(languages)
                    code = guesser.guess(example).code
                counts[str(item["intent"])][code] += 1
    return counts


def coverage_warnings(
    languages: Sequence[str],
    nlu: Path = REPO / "data" / "nlu",
    responses: Sequence[Path] = (REPO / "domain.yml", REPO / "data" / "responses"),
    min_examples: int = MIN_EXAMPLES,
) -> list[str]:
    """The gaps in the training data, one warning each (see the module docstring).

    Args:
        languages: The brand's languages.
        nlu: The NLU data folder.
        responses: The domain file(s) and folders holding `responses:`.
        min_examples: Fewer examples than this in a language is a gap.
    """
    warnings = []
    for name, known in sorted(response_languages([p for p in responses if p.exists()]).items()):
        missing = [] if known is None else [code for code in languages if code not in known]
        if missing:
            warnings.append(
                f"response {name} has no variation in {', '.join(missing)}: a customer writing "
                f"in it gets no answer in their language; add a variation with the condition "
                f"`language: {missing[0]}`"
            )
    for intent, per_language in sorted(intent_examples(nlu, languages).items()):
        for code in languages:
            count = per_language.get(code, 0)
            if count < min_examples:
                warnings.append(
                    f"intent {intent} has {count} example{'s' if count != 1 else ''} in {code} "
                    f"(fewer than {min_examples}): the bot understands it there only through the "
                    f"multilingual embedding, less surely and more slowly; add {code} examples "
                    f"to data/nlu/{code}/"
                )
    return warnings


def print_coverage_warnings() -> None:
    """Prints the shipped data's gaps as warnings (`afterhours evaluate`); never fails."""
    from bot.settings import load_brand

    try:
        found = coverage_warnings(load_brand().languages)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"warning: training data not checked for gaps in a language ({error})")
        return
    for warning in found:
        print(f"warning: {warning}")


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the warnings; exit 1 when there is one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nlu", default=str(REPO / "data" / "nlu"))
    parser.add_argument(
        "--responses", action="append", default=None, help="domain file or folder (repeatable)"
    )
    parser.add_argument("--min-examples", type=int, default=MIN_EXAMPLES)
    args = parser.parse_args(argv)
    from bot.settings import load_brand

    responses = [Path(p) for p in args.responses] if args.responses else None
    found = coverage_warnings(
        load_brand().languages,
        Path(args.nlu),
        responses or (REPO / "domain.yml", REPO / "data" / "responses"),
        args.min_examples,
    )
    for warning in found:
        print(f"warning: {warning}")
    print(f"{len(found)} gap(s) in the training data for the brand's languages")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
