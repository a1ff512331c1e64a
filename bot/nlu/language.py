"""Which of the brand's languages a message is written in.

Statistical detection (lingua, restricted to the brand's languages) plus light hints read from
`bot/nlu/lexicons/language.<code>.yml`: whole-message phrases that lingua gets wrong ("olá", "hola",
"ciao") and distinctive words that nudge a close call. Messages that carry no language ("ok", "👍",
a number, a link, a lone @mention, mixed scripts) keep the conversation's language (`previous`) or
the brand's first language, and are marked unreliable.

Plain logic: no Rasa import. The Rasa component wrapping it is
`bot.nlu.components.LanguageDetector`.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.nlu.lexicons import fold, fold_phrase, load_lexicon, string_list

# Only the beginning of a long message is examined: it is enough to tell the language, and fast.
MAX_CHARS = 2000
# A guess is reliable from this share of the (lingua + hints) score on...
RELIABLE_CONFIDENCE = 0.6
# ...with this lead over the runner-up...
RELIABLE_MARGIN = 0.2
# ...and, for a single word, this share (one word is weak evidence).
SINGLE_WORD_CONFIDENCE = 0.8
# Each distinctive word adds this to its language's score, up to MAX_HINT_BONUS.
WORD_HINT_BONUS = 0.1
MAX_HINT_BONUS = 0.3
# A punctuation mark only one language uses ("¿", "¡") counts as this many distinctive words.
MARK_HITS = 3
# An unreliable guess keeps the conversation's language when that one scores at least this close.
KEEP_PREVIOUS_WITHIN = 0.3
# Letters outside the main script with at least this share make a message "mixed scripts".
MIXED_SCRIPT_SHARE = 0.25
PHRASE_CONFIDENCE = 0.95

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Dots between domain labels are mandatory, so the pattern cannot backtrack badly.
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_MENTION = re.compile(r"[@＠]\w+")
_HASHTAG = re.compile(r"[#＃]\w+")
# The labels a Portuguese bill prints before its Multibanco numbers ("Entidade 21312 Referência
# 845 022 316"): an Italian customer quotes them as written, so they say where the bill came from,
# not who writes. Only a label followed by its number is left out.
_BILL_LABEL = re.compile(r"\b(?:entidade|refer[eê]ncia)\b[\s:.#ºª°-]*(?=\d)", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class LanguageGuess:
    """The language of one message.

    Attributes:
        code: ISO 639-1 code, always one of the brand's languages.
        confidence: 0..1, the guessed language's share of the evidence (0.0 for a fallback).
        reliable: False when the message was too short or unclear and the code is a fallback or a
            weak guess; callers should then prefer the conversation's language.
        locale_hint: A regional variant when the text gives it away cheaply (e.g. "pt_BR"), else
            None.
    """

    code: str
    confidence: float
    reliable: bool
    locale_hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the parse-data value: `{"code", "confidence", "reliable"}` (see DEVELOPERS.md)."""
        return {
            "code": self.code,
            "confidence": round(self.confidence, 2),
            "reliable": self.reliable,
        }


@dataclass(frozen=True)
class _Hints:
    phrases: frozenset[str]
    words: frozenset[str]
    marks: frozenset[str]
    locales: tuple[tuple[str, frozenset[str]], ...]


def _script(ch: str) -> str:
    # The first word of a letter's Unicode name is its script: LATIN, CYRILLIC, GREEK, CJK, ...
    return unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]


def content_words(text: str) -> list[str]:
    """Return the words of `text` that can carry a language.

    Links, e-mail addresses, @mentions, #hashtags and the Multibanco labels quoted from a bill are
    removed; emoji, digits and punctuation are not words.

    Args:
        text: The message.

    Returns:
        The runs of letters, in order, as written.
    """
    for pattern in (_URL, _EMAIL, _MENTION, _HASHTAG, _BILL_LABEL):
        text = pattern.sub(" ", text)
    return _WORD.findall(text)


def _mixed_scripts(words: Sequence[str]) -> bool:
    counts = Counter(_script(ch) for word in words for ch in word)
    if len(counts) < 2:
        return False
    total = sum(counts.values())
    dominant = counts.most_common(1)[0][1]
    return (total - dominant) / total >= MIXED_SCRIPT_SHARE


class LanguageGuesser:
    """Guess the language of a message among a brand's languages.

    The lingua detector is built on first use (it loads its models then), so creating a guesser
    is cheap and has no side effects.
    """

    def __init__(self, languages: Sequence[str], lexicon_dir: str | None = None) -> None:
        """Create a guesser.

        Args:
            languages: The brand's ISO 639-1 codes; the first is the fallback.
            lexicon_dir: Where the language hint files are (default: `bot/nlu/lexicons/`).

        Raises:
            ValueError: `languages` is empty.
        """
        codes = [code.strip().lower() for code in languages if code and code.strip()]
        if not codes:
            raise ValueError("LanguageGuesser needs at least one language")
        self.languages: tuple[str, ...] = tuple(dict.fromkeys(codes))
        self._lexicon_dir = lexicon_dir
        self._lock = threading.Lock()
        self._detector: Any = None
        self._lingua_codes: dict[Any, str] = {}
        self._hints: dict[str, _Hints] | None = None
        self._unclear: frozenset[str] = frozenset()

    # -- lazy set-up -------------------------------------------------------------------------

    def _ensure_ready(self) -> None:
        if self._hints is not None:
            return
        with self._lock:
            if self._hints is not None:
                return
            self._detector, self._lingua_codes = self._build_detector()
            common = load_lexicon("language.common", self._lexicon_dir)
            self._unclear = frozenset(
                fold_phrase(item) for item in string_list(common.get("unclear"), "unclear")
            )
            self._hints = {code: self._load_hints(code) for code in self.languages}

    def _build_detector(self) -> tuple[Any, dict[Any, str]]:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        supported: dict[Any, str] = {}
        for code in self.languages:
            try:
                language = Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
            except ValueError:
                continue  # a language lingua lacks is still chosen through its hint files
            supported[language] = code
        if not supported:
            return None, {}
        # Default (high-accuracy) mode: measured better than low-accuracy mode on short messages.
        detector = LanguageDetectorBuilder.from_languages(*supported).build()
        return detector, supported

    def _load_hints(self, code: str) -> _Hints:
        data = load_lexicon(f"language.{code}", self._lexicon_dir)
        phrases = string_list(data.get("phrases"), f"language.{code}.phrases")
        words = string_list(data.get("words"), f"language.{code}.words")
        marks = string_list(data.get("marks"), f"language.{code}.marks")
        locales_raw = data.get("locales") or {}
        if not isinstance(locales_raw, dict):
            raise ValueError(f"lexicon entry `language.{code}.locales` must be a mapping")
        locales = tuple(
            (str(locale), frozenset(fold_phrase(cue) for cue in string_list(cues, f"{locale}")))
            for locale, cues in locales_raw.items()
        )
        return _Hints(
            phrases=frozenset(fold_phrase(p) for p in phrases),
            words=frozenset(fold_phrase(w) for w in words),
            marks=frozenset(marks),
            locales=locales,
        )

    # -- guessing ----------------------------------------------------------------------------

    def _fallback(self, previous: str | None) -> LanguageGuess:
        code = previous if previous in self.languages else self.languages[0]
        return LanguageGuess(code, 0.0, False, None)

    def _locale(self, code: str, folded: Sequence[str]) -> str | None:
        assert self._hints is not None
        present = set(folded)
        for locale, cues in self._hints[code].locales:
            if present & cues:
                return locale
        return None

    def _lingua_scores(self, text: str) -> dict[str, float]:
        scores = dict.fromkeys(self.languages, 0.0)
        if self._detector is None:
            return scores
        for value in self._detector.compute_language_confidence_values(text):
            code = self._lingua_codes.get(value.language)
            if code is not None:
                scores[code] = float(value.value)
        return scores

    def guess(self, text: str, previous: str | None = None) -> LanguageGuess:
        """Guess the language of one message.

        Args:
            text: The message as the customer wrote it (only the first MAX_CHARS are examined).
            previous: The conversation's language so far, if known; kept for unclear messages.

        Returns:
            The guess; `reliable` is False for short or unclear messages, whose code is then
            `previous` (when it is one of the brand's languages) or the first language.
        """
        self._ensure_ready()
        assert self._hints is not None
        if previous is not None:
            previous = previous.lower()
        text = (text or "")[:MAX_CHARS]
        words = content_words(text)
        if sum(len(word) for word in words) < 2 or _mixed_scripts(words):
            return self._fallback(previous)
        folded = [fold(word) for word in words]
        phrase = " ".join(folded)
        if phrase in self._unclear or all(w in self._unclear or len(w) == 1 for w in folded):
            return self._fallback(previous)
        for code in self.languages:
            if phrase in self._hints[code].phrases:
                return LanguageGuess(code, PHRASE_CONFIDENCE, True, self._locale(code, folded))

        # International words ("wifi", "internet") only blur the statistics; leave them out.
        telling = [w for w, low in zip(words, folded, strict=True) if low not in self._unclear]
        scores = self._lingua_scores(" ".join(telling))
        distinct = set(folded)
        for code in self.languages:
            hints = self._hints[code]
            hits = len(distinct & hints.words)
            if any(mark in text for mark in hints.marks):
                hits += MARK_HITS
            scores[code] += min(MAX_HINT_BONUS, WORD_HINT_BONUS * hits)
        total = sum(scores.values())
        if total <= 0.0:
            return self._fallback(previous)
        shares = {code: score / total for code, score in scores.items()}
        # Ties go to the conversation's language, then to the brand's order.
        order = sorted(
            self.languages,
            key=lambda code: (-shares[code], code != previous, self.languages.index(code)),
        )
        best = order[0]
        runner_up = shares[order[1]] if len(order) > 1 else 0.0
        confidence = shares[best]
        needed = RELIABLE_CONFIDENCE if len(words) > 1 else SINGLE_WORD_CONFIDENCE
        reliable = confidence >= needed and confidence - runner_up >= RELIABLE_MARGIN
        if (
            not reliable
            and previous in self.languages
            and previous != best
            and shares[previous] >= confidence - KEEP_PREVIOUS_WITHIN
        ):
            assert previous is not None
            best, confidence = previous, shares[previous]
        return LanguageGuess(best, confidence, reliable, self._locale(best, folded))
