"""The three decisions — answer, handoff with a reason, ignore with a reason — as one pure function.

`TriagePolicy` (bot/policy.py) collects the signals of a message from the tracker and calls
:func:`decide`; the result is stored in the `triage` slot, where the actions and replay read it.
Nothing here imports Rasa, so the rules are unit-tested without a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal

Decision = Literal["answer", "handoff", "ignore"]

ANSWER: Final = "answer"
HANDOFF: Final = "handoff"
IGNORE: Final = "ignore"

# The order in which handoff reasons are reported; the first one found is the primary reason.
REASON_ORDER = ("emotional", "human_requested", "private", "complex", "in_hours")

# Emotion labels (bot/nlu/emotion.py) that make a message a case for a person.
EMOTIONAL_LABELS = frozenset({"anger", "distress", "churn_threat", "complaint_threat"})


@dataclass(frozen=True)
class IntentRules:
    """Which intents the bot answers, hands off or ignores (configured in config.yml)."""

    answer: frozenset[str] = frozenset({"faq", "greet", "thanks", "goodbye", "bot_challenge"})
    handoff: Mapping[str, str] = field(
        default_factory=lambda: {
            "request_human": "human_requested",
            "complaint": "emotional",
            "account_request": "private",
            "not_helpful": "complex",
            "out_of_scope": "complex",
            # A question on an FAQ topic that its answer does not settle (the law behind a
            # penalty, a move whose installation is a month late): a person, never the FAQ.
            "beyond_faq": "complex",
            "nlu_fallback": "complex",
        }
    )
    ignore: Mapping[str, str] = field(
        default_factory=lambda: {
            "spam": "spam",
            "abuse": "abuse",
            "acknowledge": "no_reply_needed",
            # Talks about the brand but asks nothing. In public, AddressingDetector already made
            # it `not_addressed`; in a private chat nothing needs a reply either.
            "no_request": "no_reply_needed",
        }
    )
    # What closes a conversation after an answer: said back (thanks, goodbye) or left (ok).
    closers: frozenset[str] = frozenset({"thanks", "goodbye", "acknowledge"})
    retrieval_intent: str = "faq"
    # Handoff intents whose reason a fallback keeps when they lead the ranking: "why did you
    # charge me twice?" unsure between account_request and an FAQ is still about the account.
    # Neither raises the priority (a complaint's "emotional" would, on weak evidence).
    fallback_leans: frozenset[str] = frozenset({"account_request", "request_human"})


@dataclass(frozen=True)
class Thresholds:
    """How sure the bot must be before it answers."""

    intent: float = 0.45
    faq: float = 0.5
    faq_ambiguity: float = 0.1
    max_answerable_length: int = 600
    # Under a fallback, the share a leading handoff intent needs for its reason to be kept.
    fallback_lean: float = 0.3
    # After an answer, a message this short, without a question, whose closing intents together
    # reach `closer` and outweigh every other intent, closes the conversation.
    closer: float = 0.3
    closer_max_length: int = 80


@dataclass(frozen=True)
class Signals:
    """Everything known about one inbound message when the bot decides."""

    text: str
    intent: str | None
    intent_confidence: float
    faq_topic: str | None = None
    faq_confidence: float = 0.0
    faq_runner_up: float = 0.0
    language: str = "en"
    personal_data: Sequence[Mapping[str, Any]] = ()
    emotion: str | None = None
    addressed: bool = True
    public: bool = False
    in_hours: bool = False
    answer_in_hours: bool = False
    answered_topics: Sequence[str] = ()
    # The conversation so far: whether the bot's last decision was an answer, and the NLU's
    # confidence per intent (families: "faq", "thanks", ...; nlu_fallback left out).
    after_answer: bool = False
    intent_ranking: Mapping[str, float] = field(default_factory=dict)
    # The message says what was suggested did not help ("still nothing", "sigue igual"; the
    # emotion detector's `unresolved` cues): after an answer it is never a closer.
    unresolved: bool = False


@dataclass(frozen=True)
class Triage:
    """What the bot decided for one message."""

    decision: Decision
    reasons: tuple[str, ...] = ()
    topic: str | None = None
    suggested_topic: str | None = None
    language: str = "en"
    move_to_private: bool = False
    # The FAQ topic the message is about, even when it is handed off: it picks the department.
    about: str | None = None

    @property
    def reason(self) -> str | None:
        """The primary reason (handoff or ignore), or None for an answer."""
        return self.reasons[0] if self.reasons else None

    def as_slot(self, **extra: Any) -> dict[str, Any]:
        """The JSON value stored in the `triage` slot."""
        value = asdict(self)
        value["reasons"] = list(self.reasons)
        value.update(extra)
        return value


def answer_topic(signals: Signals, rules: IntentRules) -> str | None:
    """The topic the bot would answer with: the FAQ sub-intent or the small-talk intent."""
    if signals.intent == rules.retrieval_intent:
        return signals.faq_topic
    if signals.intent in rules.answer:
        return signals.intent
    return None


def _is_blank(text: str) -> bool:
    return not text or not text.strip()


def closing_intent(
    signals: Signals, rules: IntentRules, thresholds: Thresholds
) -> tuple[str, float] | None:
    """The closer a short message after an answer is, when the NLU alone was not sure of it.

    Right after the bot answered, "brilliant, that's all, night!" or "valeu, falou" closes the
    conversation even when no single closing intent won: the closing intents are added up and,
    when together they reach `thresholds.closer` and outweigh every other intent, the strongest
    of them is the message's intent. A question, personal data, an emotion or a long message is
    never a closer, nor is one that says the problem is still there.

    Returns:
        The closing intent and the closing intents' total confidence, or None.
    """
    if not signals.after_answer or signals.intent in rules.closers:
        return None
    text = signals.text.strip()
    if len(text) > thresholds.closer_max_length or "?" in text or signals.personal_data:
        return None
    if signals.emotion in EMOTIONAL_LABELS or signals.unresolved:
        return None
    closing = {name: signals.intent_ranking.get(name, 0.0) for name in rules.closers}
    total = sum(closing.values())
    others = [p for name, p in signals.intent_ranking.items() if name not in rules.closers]
    if total < thresholds.closer or total < max(others, default=0.0):
        return None
    return max(closing, key=lambda name: closing[name]), total


def _fallback_lean(signals: Signals, rules: IntentRules, thresholds: Thresholds) -> str | None:
    """The handoff intent an unsure message leans to, if it leads and `fallback_leans` has it."""
    if not signals.intent_ranking:
        return None
    leading, share = max(signals.intent_ranking.items(), key=lambda item: item[1])
    if leading in rules.fallback_leans and share >= thresholds.fallback_lean:
        return leading
    return None


def _unsure_answer(
    signals: Signals, intent: str, topic: str | None, rules: IntentRules, thresholds: Thresholds
) -> bool:
    """Whether an answerable intent is too unsure, or too long, to be answered."""
    if signals.intent_confidence < thresholds.intent:
        return True
    if intent == rules.retrieval_intent and (
        topic is None
        or signals.faq_confidence < thresholds.faq
        or signals.faq_confidence - signals.faq_runner_up < thresholds.faq_ambiguity
    ):
        # Not sure which question it is, or it asks several things at once.
        return True
    if intent == rules.retrieval_intent and topic and topic in signals.answered_topics:
        # The same question again after the bot answered it: the answer did not help.
        return True
    return len(signals.text) > thresholds.max_answerable_length


def decide(
    signals: Signals,
    rules: IntentRules | None = None,
    thresholds: Thresholds | None = None,
) -> Triage:
    """Decides what the bot does with one message.

    The order matters: a post not addressed to the brand is never answered; right after an
    answer, a short closer is read as one (:func:`closing_intent`); spam and abuse are ignored;
    then every handoff reason that applies is collected (the first is the primary); only a
    confident, routine, out-of-hours message is answered.

    Args:
        signals: What the NLU and the channel know about the message.
        rules: Which intents are answered, handed off or ignored.
        thresholds: Confidence limits.

    Returns:
        The decision with its reasons and topic.
    """
    rules = rules or IntentRules()
    thresholds = thresholds or Thresholds()
    language = signals.language
    has_personal_data = bool(signals.personal_data)
    closer = closing_intent(signals, rules, thresholds)
    if closer is not None:
        # The closing intents passed their own threshold together: that is the confidence.
        confidence = max(closer[1], thresholds.intent)
        signals = replace(signals, intent=closer[0], intent_confidence=confidence)

    if signals.public and not signals.addressed:
        return Triage(IGNORE, ("not_addressed",), language=language)
    if _is_blank(signals.text):
        return Triage(IGNORE, ("no_reply_needed",), language=language)

    intent = signals.intent or "nlu_fallback"
    if intent == "nlu_fallback":
        intent = _fallback_lean(signals, rules, thresholds) or intent
    emotional = signals.emotion in EMOTIONAL_LABELS
    # "did all that, still the same" right after an answer: the answer did not help, however
    # much the words look like a thank-you, a goodbye or an "ok", or like another FAQ ("restarted
    # it, checked every cable, still nothing" after the internet answer is not the TV's FAQ).
    not_helped = (
        signals.after_answer
        and signals.unresolved
        and (intent in rules.closers or intent == rules.retrieval_intent)
    )
    if intent in rules.ignore:
        reason = rules.ignore[intent]
        # An "ok" carrying anger or personal data is not nothing; spam and abuse stay ignored.
        if reason != "no_reply_needed" or not (emotional or has_personal_data or not_helped):
            return Triage(IGNORE, (reason,), language=language)

    reasons: list[str] = []
    if emotional:
        reasons.append("emotional")
    if intent in rules.handoff:
        reasons.append(rules.handoff[intent])
    if has_personal_data:
        reasons.append("private")
    if not_helped:
        reasons.append("complex")

    topic = answer_topic(signals, rules)
    if intent in rules.answer:
        if _unsure_answer(signals, intent, topic, rules, thresholds):
            reasons.append("complex")
    elif intent not in rules.handoff and intent not in rules.ignore:
        # An intent the rules do not know: never guess.
        reasons.append("complex")

    suggested = topic if intent in rules.answer else None
    # What the message is about, for the department: the answer's topic, else a clear FAQ topic.
    about = suggested if intent == rules.retrieval_intent else None
    if about is None and signals.faq_confidence >= thresholds.faq:
        about = signals.faq_topic
    if not reasons and intent in rules.answer and signals.in_hours and not signals.answer_in_hours:
        reasons.append("in_hours")

    if reasons:
        ordered = tuple(sorted(set(reasons), key=REASON_ORDER.index))
        move = signals.public and (
            has_personal_data or bool({"private", "emotional"} & set(ordered))
        )
        return Triage(
            HANDOFF,
            ordered,
            suggested_topic=suggested,
            language=language,
            move_to_private=move,
            about=about,
        )
    return Triage(ANSWER, topic=topic, suggested_topic=topic, language=language, about=about)
