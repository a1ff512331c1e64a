"""Emotion in a message: anger, distress, a threat to leave, a threat to complain.

Lexicon-driven and explainable. Each language has `bot/nlu/lexicons/emotion.<code>.yml` with
weighted cues per label (words, phrases and regular expressions) plus duration cues ("3 days
without internet") and negators; `emotion.common.yml` holds what every language shares (angry emoji,
consumer regulators, acronyms that are not shouting). Intensity (ALL CAPS, "!!!", stretched
letters) is measured in code. A label's score adds the weights of its distinct cues; the message
gets the label when the score reaches THRESHOLD (0.5). Calm questions carry no cue strong enough on
their own: "how do I cancel my contract?" is not a threat, "I'm angry" is anger.

Three signals read a message as a whole rather than word by word:
- vulnerability: a person who depends on the line (an elderly or sick relative, a carer, a child's
  medical sensor) counts towards distress, and with a fault ("the line is dead", "no internet")
  reaches it: "my 88-year-old dad's landline is dead" is urgent, "my elderly mother needs a new
  SIM" is not;
- sarcasm: praise ("well done", "parabéns", "complimenti", a clapping emoji) next to a fault and no
  sign that it was fixed ("brilliant, third outage this week 👏") is anger;
- laughter ("hahaha", "kkkk", "jajaja", "😂") halves the anger and distress of the words (and the
  duration's share of that distress): "hahaha I'm desperate, forgot the wifi password again" is a
  routine question told with a smile.

Plain logic: no Rasa import. The Rasa component wrapping it is `bot.nlu.components.EmotionDetector`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.nlu.lexicons import fold, load_lexicon, string_list, strip_accents

LABELS = ("anger", "distress", "churn_threat", "complaint_threat")
# When several labels reach the threshold, the first here wins: a person in distress comes first,
# then the explicit threats, then plain anger. All cues are still reported.
PRIORITY = ("distress", "complaint_threat", "churn_threat", "anger")
THRESHOLD = 0.5
# Only the beginning of a long message is examined.
MAX_CHARS = 2000
MAX_CUES = 12

# Intensity, in code because it does not depend on the language.
CAPS_WEIGHT = 0.25
EXCLAIM_WEIGHT = 0.15  # "!!" or "?!"
MANY_EXCLAIM_WEIGHT = 0.25  # "!!!" and more
STRETCH_WEIGHT = 0.1  # "sooooo", "noooo"
MAX_INTENSITY = 0.45
# Intensity alone ("GOOD MORNING!!!") is not anger: without a word or duration cue it stays below.
INTENSITY_ONLY_CAP = 0.4
# How much of the anger score carries into a threat or into distress once one of their cues is seen.
ANGER_INTO_CHURN = 0.5
ANGER_INTO_COMPLAINT = 0.3
INTENSITY_INTO_DISTRESS = 0.3
# A lexicon group without a weight.
DEFAULT_WEIGHT = 0.25
# One angry emoji is anger on its own; a sad one only nudges towards distress.
ANGRY_EMOJI_WEIGHT = 0.5
DISTRESS_EMOJI_WEIGHT = 0.15
CALM_QUESTION_DAMPING = 0.7
# How many words before an anger or distress cue may name someone else (`others`).
OTHERS_WINDOW = 3
# Praise about a fault, with no sign it was fixed, is sarcasm: anger on its own.
SARCASM_WEIGHT = 0.6
# Laughter halves what the anger and distress words (and angry emoji) say.
LAUGHTER_DAMPING = 0.5

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"[@＠]\w+")
_LONG_WORD = re.compile(r"[^\W\d_]{4,}")
_LETTER = re.compile(r"[^\W\d_]")
_STRETCH = re.compile(r"([^\W\d_])\1{3,}")
_LONG_RUN = re.compile(r"(.)\1{2,}")
_CLAUSE_BREAK = re.compile(r"[,.;:!?()\n]")
_WORD = re.compile(r"[\w']+")
# Laughter and sleep ("kkkk", "hahaha", "zzzz") are stretched letters too, but not anger.
_NOT_STRETCH = frozenset("khzwxa")


@dataclass(frozen=True)
class Emotion:
    """The emotion of one message.

    Attributes:
        label: "anger", "distress", "churn_threat", "complaint_threat", or None.
        score: 0..1, the label's score (or, without a label, the highest score seen).
        cues: What was found, as "<signal>:<what>" (e.g. "anger:furious", "intensity:caps").
    """

    label: str | None
    score: float
    cues: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the parse-data value: `{"label", "score", "cues"}` (see DEVELOPERS.md)."""
        return {"label": self.label, "score": round(self.score, 2), "cues": list(self.cues)}


@dataclass(frozen=True)
class _CueGroup:
    weight: float
    regex: re.Pattern[str]
    negatable: bool


@dataclass
class EmotionLexicon:
    """The compiled emotion cues of one language.

    Build it with `EmotionLexicon.load(language)`; an unknown language gives an empty lexicon (only
    intensity and the shared cues then count).
    """

    language: str
    groups: dict[str, list[_CueGroup]] = field(default_factory=dict)
    duration: list[_CueGroup] = field(default_factory=list)
    # Whole-message signals (see the module docstring).
    vulnerable: list[_CueGroup] = field(default_factory=list)
    fault: list[_CueGroup] = field(default_factory=list)
    praise: list[_CueGroup] = field(default_factory=list)
    resolved: list[_CueGroup] = field(default_factory=list)
    # Signs that what the bot suggested did not help ("still nothing", "sigue igual"): no emotion
    # by themselves, but a message saying so is never a closer (bot/triage.py).
    unresolved: list[_CueGroup] = field(default_factory=list)
    laughter: list[_CueGroup] = field(default_factory=list)
    negators: frozenset[str] = frozenset()
    # Words naming someone else (the kids, the cat, a neighbour): anger or distress said of them
    # is theirs, not the customer's ("the kids are NOT happy", "the cat is furious").
    others: frozenset[str] = frozenset()
    angry_emoji: frozenset[str] = frozenset()
    distress_emoji: frozenset[str] = frozenset()
    acronyms: frozenset[str] = frozenset()

    @classmethod
    def load(cls, language: str, directory: str | None = None) -> EmotionLexicon:
        """Load and compiles the lexicon of `language` (cached per process).

        Args:
            language: ISO 639-1 code; reads `emotion.<language>.yml` and `emotion.common.yml`.
            directory: Another folder to read from (default: `bot/nlu/lexicons/`).

        Raises:
            ValueError: a lexicon file is malformed (wrong types, bad regular expression).
        """
        key = (language, directory)
        with _LOAD_LOCK:
            cached = _LOADED.get(key)
            if cached is None:
                cached = cls._build(language, directory)
                _LOADED[key] = cached
        return cached

    @classmethod
    def _build(cls, language: str, directory: str | None) -> EmotionLexicon:
        common = load_lexicon("emotion.common", directory)
        data = load_lexicon(f"emotion.{language}", directory)
        lexicon = cls(language=language)
        where = f"emotion.{language}"
        for label in LABELS:
            lexicon.groups[label] = _compile_groups(data.get(label), f"{where}.{label}", True)
            lexicon.groups[label] += _compile_groups(
                common.get(label), f"emotion.common.{label}", True
            )
        lexicon.duration = _compile_groups(data.get("duration"), f"{where}.duration", False)
        lexicon.vulnerable = _compile_groups(data.get("vulnerable"), f"{where}.vulnerable", True)
        # A fault is usually written with a negation ("isn't working"): never negated.
        lexicon.fault = _compile_groups(data.get("fault"), f"{where}.fault", False)
        lexicon.praise = _compile_groups(data.get("praise"), f"{where}.praise", True)
        lexicon.praise += _compile_groups(common.get("praise"), "emotion.common.praise", False)
        lexicon.resolved = _compile_groups(data.get("resolved"), f"{where}.resolved", True)
        lexicon.unresolved = _compile_groups(data.get("unresolved"), f"{where}.unresolved", False)
        lexicon.laughter = _compile_groups(data.get("laughter"), f"{where}.laughter", False)
        lexicon.laughter += _compile_groups(
            common.get("laughter"), "emotion.common.laughter", False
        )
        lexicon.negators = frozenset(
            fold(word) for word in string_list(data.get("negators"), f"{where}.negators")
        )
        lexicon.others = frozenset(
            fold(word) for word in string_list(data.get("others"), f"{where}.others")
        )
        lexicon.angry_emoji = frozenset(string_list(common.get("angry_emoji"), "angry_emoji"))
        lexicon.distress_emoji = frozenset(
            string_list(common.get("distress_emoji"), "distress_emoji")
        )
        lexicon.acronyms = frozenset(
            fold(word) for word in string_list(common.get("acronyms"), "acronyms")
        )
        return lexicon


_LOADED: dict[tuple[str, str | None], EmotionLexicon] = {}
_LOAD_LOCK = threading.Lock()


def _term_regex(term: str) -> str:
    """Turn a lexicon term into a regex.

    Accents and case are folded, letters may be stretched or a double letter typed once, spaces
    match any whitespace, an apostrophe is optional and a trailing * matches any ending.
    """
    folded = fold(term.strip())
    prefix = folded.endswith("*")
    folded = folded.rstrip("*")
    parts: list[str] = []
    previous = ""
    for ch in folded:
        if ch.isalpha():
            # Doubled letters collapse too: "annoyed" also matches "anoyed" and "annnoyed".
            if ch != previous:
                parts.append(re.escape(ch) + "+")
        elif ch.isspace():
            parts.append(r"\s+")
        elif ch in "'’":
            parts.append("'?")
        elif ch == "-":
            parts.append(r"[\s-]?")
        else:
            parts.append(re.escape(ch))
        previous = ch
    body = "".join(parts)
    return rf"(?<!\w){body}" + (r"\w*" if prefix else r"(?!\w)")


def _compile_groups(raw: Any, where: str, negatable: bool) -> list[_CueGroup]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"lexicon entry `{where}` must be a list of groups")
    groups: list[_CueGroup] = []
    for index, group in enumerate(raw):
        if not isinstance(group, Mapping):
            raise ValueError(f"lexicon entry `{where}[{index}]` must be a mapping")
        weight = group.get("weight", DEFAULT_WEIGHT)
        if not isinstance(weight, (int, float)) or not 0 < weight <= 1:
            raise ValueError(f"lexicon entry `{where}[{index}].weight` must be in (0, 1]")
        alternatives = [
            _term_regex(term) for term in string_list(group.get("terms"), f"{where}.terms")
        ]
        # Patterns are regular expressions: strip their accents but keep their case ("\\D").
        alternatives += [
            strip_accents(pattern)
            for pattern in string_list(group.get("patterns"), f"{where}.patterns")
        ]
        if not alternatives:
            continue
        try:
            regex = re.compile("|".join(f"(?:{alt})" for alt in alternatives), re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"lexicon entry `{where}[{index}]`: bad pattern ({error})") from error
        # Regex patterns (as opposed to plain terms) are exact phrases: never negated.
        only_terms = not group.get("patterns")
        groups.append(_CueGroup(float(weight), regex, negatable and only_terms))
    return groups


def _normalise(text: str) -> str:
    """Fold case and accents, unifies apostrophes, shortens stretched letters to two."""
    text = fold(text).replace("’", "'").replace("`", "'")
    return _LONG_RUN.sub(r"\1\1", text)


def _words_before(text: str, start: int, count: int) -> list[str]:
    """The last `count` words before `start`, within its clause (and 40 characters)."""
    before = text[max(0, start - 40) : start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    return _WORD.findall(before)[-count:]


def _negated(text: str, start: int, negators: frozenset[str]) -> bool:
    """Whether one of the two words before `start`, in the same clause, is a negator."""
    return bool(negators) and any(word in negators for word in _words_before(text, start, 2))


def _said_of_others(text: str, start: int, others: frozenset[str]) -> bool:
    """Whether the cue's clause names someone else in the few words before it."""
    return bool(others) and any(
        word in others for word in _words_before(text, start, OTHERS_WINDOW)
    )


def _matches(
    text: str,
    groups: Iterable[_CueGroup],
    negators: frozenset[str],
    others: frozenset[str] = frozenset(),
) -> list[tuple[float, str]]:
    """Return the distinct cues found, as (weight, matched text).

    Overlapping matches count once, as the heaviest (then longest): "i'll cancel" is one cue, not
    "i'll cancel" plus "cancel". A negated cue, or one said of someone in `others`, is left out.
    """
    spans: list[tuple[int, int, float]] = []
    for group in groups:
        for match in group.regex.finditer(text):
            if match.end() == match.start():
                continue
            if group.negatable and (
                _negated(text, match.start(), negators)
                or _said_of_others(text, match.start(), others)
            ):
                continue
            spans.append((match.start(), match.end(), group.weight))
    spans.sort(key=lambda span: (-span[2], span[0] - span[1]))
    kept: list[tuple[int, int, float]] = []
    for start, end, weight in spans:
        if all(end <= other_start or start >= other_end for other_start, other_end, _ in kept):
            kept.append((start, end, weight))
    found: dict[str, float] = {}
    for start, end, weight in sorted(kept):
        cue = " ".join(text[start:end].split())
        found[cue] = max(found.get(cue, 0.0), weight)
    return [(weight, cue) for cue, weight in found.items()]


def _intensity(raw: str, lexicon: EmotionLexicon) -> tuple[float, list[str]]:
    cues: list[str] = []
    score = 0.0
    caps = [w for w in _LONG_WORD.findall(raw) if w.isupper() and fold(w) not in lexicon.acronyms]
    letters = _LETTER.findall(raw)
    upper_share = sum(ch.isupper() for ch in letters) / len(letters) if letters else 0.0
    if len(caps) >= 2 or (len(letters) >= 12 and upper_share >= 0.7):
        score += CAPS_WEIGHT
        cues.append("intensity:caps")
    if "!!!" in raw:
        score += MANY_EXCLAIM_WEIGHT
        cues.append("intensity:!!!")
    elif "!!" in raw or "?!" in raw or "!?" in raw:
        score += EXCLAIM_WEIGHT
        cues.append("intensity:!!")
    if any(m.group(1).lower() not in _NOT_STRETCH for m in _STRETCH.finditer(raw)):
        score += STRETCH_WEIGHT
        cues.append("intensity:stretched")
    return min(score, MAX_INTENSITY), cues


@dataclass(frozen=True)
class _Context:
    """What the whole message says besides its emotion words (see the module docstring)."""

    vulnerable: float
    fault: float
    sarcastic: bool
    laughing: bool
    cues: tuple[str, ...]


def _context(norm: str, lexicon: EmotionLexicon, emotional_words: bool, lasting: bool) -> _Context:
    """Vulnerability, faults, sarcasm and laughter in a normalised message.

    Each costs a scan of the text, so each is looked for only when it can matter: a fault next to
    a vulnerable person, praise or a duration (`lasting`), a fix only next to praise and a fault,
    laughter only when there are anger or distress words (`emotional_words`) for it to soften.
    """
    cues: list[str] = []
    vulnerable = _matches(norm, lexicon.vulnerable, lexicon.negators)
    cues += [f"vulnerable:{cue}" for _, cue in vulnerable]
    praise = _matches(norm, lexicon.praise, lexicon.negators)
    wanted = bool(vulnerable or praise) or lasting
    faults = _matches(norm, lexicon.fault, frozenset()) if wanted else []
    fault = max((weight for weight, _ in faults), default=0.0)
    # Praise of a fault that was not fixed: "well done, third outage this week".
    sarcastic = (
        bool(praise) and fault > 0.0 and not _matches(norm, lexicon.resolved, lexicon.negators)
    )
    if sarcastic:
        cues += [f"sarcasm:{cue}" for _, cue in praise]
    if fault > 0.0 and (vulnerable or sarcastic):
        cues += [f"fault:{cue}" for _, cue in faults]
    laughing = emotional_words and bool(_matches(norm, lexicon.laughter, frozenset()))
    if laughing:
        cues.append("laughter")
    return _Context(
        vulnerable=sum(weight for weight, _ in vulnerable),
        fault=fault,
        sarcastic=sarcastic,
        laughing=laughing,
        cues=tuple(cues),
    )


def detect_emotion(text: str, language: str, lexicons: Mapping[str, EmotionLexicon]) -> Emotion:
    """Detect the emotion of one message.

    Args:
        text: The message (only the first MAX_CHARS are examined).
        language: The message's language; its lexicon is used.
        lexicons: Loaded lexicons by language (a missing one counts as empty).

    Returns:
        The emotion; `label` is None when no label reaches THRESHOLD.
    """
    lexicon = lexicons.get(language) or EmotionLexicon(language=language)
    # Handles and links say nothing about emotion; a hashtag's word does ("#vergonha").
    raw = _MENTION.sub(" ", _URL.sub(" ", (text or "")[:MAX_CHARS])).replace("#", " ")
    norm = _normalise(raw)
    cues: list[str] = []
    scores: dict[str, float] = {}
    word_scores: dict[str, float] = {}
    for label in LABELS:
        # Threats are the customer's whoever they name ("my wife says we're leaving you").
        others = lexicon.others if label in ("anger", "distress") else frozenset()
        found = _matches(norm, lexicon.groups.get(label, []), lexicon.negators, others)
        word_scores[label] = sum(weight for weight, _ in found)
        cues += [f"{label}:{cue}" for _, cue in found]

    angry_emoji = sorted({ch for ch in raw if ch in lexicon.angry_emoji})
    if angry_emoji:
        word_scores["anger"] += ANGRY_EMOJI_WEIGHT
        cues += [f"anger:{ch}" for ch in angry_emoji]
    distress_emoji = sorted({ch for ch in raw if ch in lexicon.distress_emoji})
    if distress_emoji:
        word_scores["distress"] += DISTRESS_EMOJI_WEIGHT
        cues += [f"distress:{ch}" for ch in distress_emoji]

    durations = _matches(norm, lexicon.duration, frozenset())
    duration = max((weight for weight, _ in durations), default=0.0)
    intensity, intensity_cues = _intensity(raw, lexicon)

    emotional_words = word_scores["anger"] > 0.0 or word_scores["distress"] > 0.0
    context = _context(norm, lexicon, emotional_words, lasting=duration > 0.0)
    cues += context.cues
    if context.laughing:
        word_scores["anger"] *= LAUGHTER_DAMPING
        word_scores["distress"] *= LAUGHTER_DAMPING
    if context.vulnerable > 0.0:
        # Someone who depends on the line; with the line broken, that is distress on its own.
        word_scores["distress"] += context.vulnerable + context.fault
    if context.sarcastic:
        word_scores["anger"] += SARCASM_WEIGHT
    cues += [f"duration:{cue}" for _, cue in durations]
    cues += [f"unresolved:{cue}" for _, cue in _matches(norm, lexicon.unresolved, frozenset())]
    cues += intensity_cues

    anger = word_scores["anger"] + duration + intensity
    if word_scores["anger"] == 0.0 and (duration == 0.0 or context.fault == 0.0):
        # Shouting, or "AGAIN!!!" about something that is not a fault of ours ("my son used all
        # the data AGAIN!!!"), is not anger by itself.
        anger = min(anger, INTENSITY_ONLY_CAP)
    scores["anger"] = anger
    distress = word_scores["distress"]
    if distress > 0.0:
        # Laughing at a despair word softens how long it lasted too: "socorro kkkk she used all
        # the data in 3 days" is a routine question told with a smile.
        softened = LAUGHTER_DAMPING if context.laughing else 1.0
        distress += softened * duration + INTENSITY_INTO_DISTRESS * intensity
    scores["distress"] = distress
    # A threat is a statement; a calm question that names one ("can I switch to X and keep my
    # number?") is information-seeking, so its threat cues count for less.
    calm_question = "?" in raw and intensity == 0.0 and word_scores["anger"] == 0.0
    damping = CALM_QUESTION_DAMPING if calm_question else 1.0
    churn = damping * word_scores["churn_threat"]
    if churn > 0.0:
        churn += ANGER_INTO_CHURN * min(anger, 1.0)
    scores["churn_threat"] = churn
    complaint = damping * word_scores["complaint_threat"]
    if complaint > 0.0:
        complaint += ANGER_INTO_COMPLAINT * min(anger, 1.0)
    scores["complaint_threat"] = complaint

    scores = {label: min(1.0, score) for label, score in scores.items()}
    for label in PRIORITY:
        if scores[label] >= THRESHOLD:
            return Emotion(label, scores[label], tuple(cues[:MAX_CUES]))
    return Emotion(None, max(scores.values()), tuple(cues[:MAX_CUES]))
