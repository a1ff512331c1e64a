"""The decision table (bot/triage.py), without a model."""

from __future__ import annotations

import pytest

from bot.triage import Signals, decide


def signals(**overrides: object) -> Signals:
    base: dict[str, object] = {
        "text": "how do I use my phone abroad?",
        "intent": "faq",
        "intent_confidence": 0.95,
        "faq_topic": "faq/roaming",
        "faq_confidence": 0.9,
        "faq_runner_up": 0.05,
        "language": "en",
    }
    base.update(overrides)
    return Signals(**base)  # type: ignore[arg-type]


def test_a_confident_faq_out_of_hours_is_answered() -> None:
    triage = decide(signals())
    assert (triage.decision, triage.topic, triage.reasons) == ("answer", "faq/roaming", ())


def test_in_hours_a_person_answers_with_the_bot_suggestion() -> None:
    triage = decide(signals(in_hours=True))
    assert (triage.decision, triage.reason, triage.suggested_topic) == (
        "handoff",
        "in_hours",
        "faq/roaming",
    )


def test_the_brand_may_let_the_bot_answer_in_hours() -> None:
    assert decide(signals(in_hours=True, answer_in_hours=True)).decision == "answer"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"emotion": "anger"}, "emotional"),
        ({"emotion": "distress", "in_hours": True}, "emotional"),
        ({"intent": "complaint", "faq_topic": None}, "emotional"),
        ({"intent": "request_human", "faq_topic": None}, "human_requested"),
        ({"intent": "account_request", "faq_topic": None}, "private"),
        ({"personal_data": [{"kind": "nif", "start": 0, "end": 9}]}, "private"),
        ({"intent": "out_of_scope", "faq_topic": None}, "complex"),
        ({"intent": "nlu_fallback", "faq_topic": None}, "complex"),
        ({"intent": None, "faq_topic": None}, "complex"),
        ({"intent": "not_helpful", "faq_topic": None}, "complex"),
        ({"faq_confidence": 0.3}, "complex"),
        ({"faq_confidence": 0.48, "faq_runner_up": 0.45}, "complex"),
        ({"intent_confidence": 0.2}, "complex"),
        ({"answered_topics": ["faq/roaming"]}, "complex"),
        ({"text": "x" * 10_000}, "complex"),
        ({"intent": "some_new_intent"}, "complex"),
    ],
)
def test_handoff_reasons(overrides: dict[str, object], reason: str) -> None:
    triage = decide(signals(**overrides))
    assert triage.decision == "handoff"
    assert triage.reason == reason


def test_all_reasons_are_kept_emotional_first() -> None:
    triage = decide(
        signals(
            intent="request_human",
            emotion="anger",
            personal_data=[{"kind": "iban", "start": 0, "end": 5}],
        )
    )
    assert triage.reasons == ("emotional", "human_requested", "private")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"public": True, "addressed": False}, "not_addressed"),
        ({"public": True, "addressed": False, "emotion": "anger"}, "not_addressed"),
        ({"intent": "spam"}, "spam"),
        ({"intent": "abuse"}, "abuse"),
        ({"intent": "abuse", "in_hours": True}, "abuse"),
        ({"intent": "acknowledge"}, "no_reply_needed"),
        ({"text": "   "}, "no_reply_needed"),
        ({"text": ""}, "no_reply_needed"),
    ],
)
def test_ignore_reasons(overrides: dict[str, object], reason: str) -> None:
    triage = decide(signals(**overrides))
    assert (triage.decision, triage.reason, triage.topic) == ("ignore", reason, None)


def test_an_angry_ok_is_not_ignored() -> None:
    assert decide(signals(intent="acknowledge", emotion="anger")).reason == "emotional"


def test_a_private_message_is_always_addressed() -> None:
    assert decide(signals(public=False, addressed=False)).decision == "answer"


def test_public_personal_data_moves_to_private() -> None:
    triage = decide(signals(public=True, personal_data=[{"kind": "email", "start": 0, "end": 3}]))
    assert triage.move_to_private
    assert not decide(
        signals(public=False, personal_data=[{"kind": "email", "start": 0, "end": 3}])
    ).move_to_private


def test_public_account_request_moves_to_private() -> None:
    assert decide(signals(public=True, intent="account_request", faq_topic=None)).move_to_private


def test_small_talk_is_answered_with_its_intent_as_topic() -> None:
    triage = decide(signals(intent="greet", faq_topic=None, text="hi"))
    assert (triage.decision, triage.topic) == ("answer", "greet")
