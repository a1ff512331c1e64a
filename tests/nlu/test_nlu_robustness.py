"""Every signal survives odd input quickly (seeded random texts; no Rasa, no TensorFlow)."""

from __future__ import annotations

import random
import time

import pytest

from bot.nlu.addressing import addressing
from bot.nlu.emotion import EmotionLexicon, detect_emotion
from bot.nlu.language import LanguageGuesser
from bot.nlu.personal_data import as_spans, find_personal_data
from handoff.transcript import mask

LANGUAGES = ["en", "pt", "es", "it"]
ALPHABETS = [
    "0123456789 -.",
    "0123456789 -.@aA+",
    "aA@._-+ \n",
    "@#!?.,:;'\"()[] aeiouAEIOU",
    "😡🤬👍🏽\u200d\ufe0f🇵🇹 é ç ñ",
    "\x00\x01\x07\x1b\x7f\u200b\u202e\ufeff \t\r\n",
    "абвгд 你好 مرحبا ΑΒΓ abc",
    "PT50ES91IT60X 0123456789",
]


def _texts() -> list[str]:
    rng = random.Random(20240510)
    texts = []
    for alphabet in ALPHABETS:
        for length in (1, 50, 2000):
            texts.append("".join(rng.choice(alphabet) for _ in range(length)))
    texts.append("".join(rng.choice(ALPHABETS[1]) for _ in range(10000)))
    # Repetitions that catch regular expressions that backtrack badly.
    texts += ["@." * 5000, "a@" * 5000, "1" * 10000 + "a", "1 " * 5000 + "x", "a." * 5000 + "@"]
    texts += ["if you " * 1400, "!?" * 5000, "ANGRY " * 1600, "PT50" + " 1" * 4990 + "x"]
    return texts


TEXTS = _texts()


@pytest.fixture(scope="module")
def guesser() -> LanguageGuesser:
    return LanguageGuesser(LANGUAGES)


@pytest.fixture(scope="module")
def lexicons() -> dict[str, EmotionLexicon]:
    return {code: EmotionLexicon.load(code) for code in LANGUAGES}


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_every_signal_is_safe_and_fast(
    guesser: LanguageGuesser, lexicons: dict[str, EmotionLexicon], index: int
) -> None:
    text = TEXTS[index]
    started = time.perf_counter()
    guess = guesser.guess(text, previous="pt")
    assert guess.code in LANGUAGES and 0.0 <= guess.confidence <= 1.0
    for language in LANGUAGES:
        emotion = detect_emotion(text, language, lexicons)
        assert 0.0 <= emotion.score <= 1.0
    findings = find_personal_data(
        text, account_pattern=r"\bAUR-?\d{8}\b", phone_regions=["PT", "ES", "IT", "GB", "BR"]
    )
    assert all(0 <= f.start < f.end <= len(text) for f in findings)
    assert all(a.end <= b.start for a, b in zip(findings, findings[1:], strict=False))
    mask(text, as_spans(findings))
    addressing(text, public=True, brand_handle="@AuroraCare")
    assert time.perf_counter() - started < 3.0
