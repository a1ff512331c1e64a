"""The parallel reference sentences (lexicons/reference.<lang>.yml) line up across languages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.nlu.lexicons import LEXICON_DIR
from bot.settings import load_brand

ROOT = Path(__file__).resolve().parents[2]
MIN_SENTENCES = 100


def _files() -> dict[str, Path]:
    return {path.name.split(".")[1]: path for path in sorted(LEXICON_DIR.glob("reference.*.yml"))}


def _sentences(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("sentences"), list), path.name
    return data["sentences"]


def test_every_brand_language_has_a_file() -> None:
    languages = load_brand(ROOT / "brand.yml").languages
    missing = [language for language in languages if language not in _files()]
    assert not missing, f"no reference.<lang>.yml for {missing}"


def test_files_are_parallel() -> None:
    counts = {language: len(_sentences(path)) for language, path in _files().items()}
    assert len(counts) >= 2, counts
    assert len(set(counts.values())) == 1, f"row counts differ: {counts}"
    assert min(counts.values()) >= MIN_SENTENCES, counts


@pytest.mark.parametrize("language", sorted(_files()))
def test_sentences_are_non_empty_and_unique(language: str) -> None:
    sentences = _sentences(_files()[language])
    assert all(isinstance(s, str) and s.strip() for s in sentences), "empty or non-text sentence"
    duplicates = sorted({s for s in sentences if sentences.count(s) > 1})
    assert not duplicates, f"duplicates in reference.{language}.yml: {duplicates}"
