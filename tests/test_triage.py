"""The decision table (bot/triage.py), without a model."""

from __future__ import annotations

from dataclasses import replace

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


# -- after an answer, a short closer is a closer (issue 12, kind 2) ------------------------------


def closer(**overrides: object) -> Signals:
    base: dict[str, object] = {
        "text": "brilliant, that's all, night!",
        "intent": "nlu_fallback",
        "intent_confidence": 0.45,
        "faq_topic": "faq/wifi_password",
        "faq_confidence": 0.3,
        "after_answer": True,
        "intent_ranking": {"goodbye": 0.3, "thanks": 0.15, "faq": 0.1, "not_helpful": 0.05},
    }
    base.update(overrides)
    return signals(**base)


def test_after_an_answer_an_unsure_short_closer_is_answered_as_one() -> None:
    triage = decide(closer())
    assert (triage.decision, triage.topic) == ("answer", "goodbye")
    thanks = decide(closer(intent_ranking={"thanks": 0.25, "goodbye": 0.1, "spam": 0.1}))
    assert (thanks.decision, thanks.topic) == ("answer", "thanks")


def test_after_an_answer_an_acknowledgement_closes_without_a_reply() -> None:
    triage = decide(closer(text="ta bom 👍", intent_ranking={"acknowledge": 0.4, "goodbye": 0.1}))
    assert (triage.decision, triage.reason) == ("ignore", "no_reply_needed")


@pytest.mark.parametrize(
    "overrides",
    [
        {"after_answer": False},  # no answer to close
        {"text": "great, and how do I pay my bill?"},  # a new question
        {"text": "great " * 30},  # too long to be a closer
        {"emotion": "anger"},
        {"personal_data": [{"kind": "phone", "start": 0, "end": 9}]},
        {"intent_ranking": {"not_helpful": 0.6, "thanks": 0.2, "goodbye": 0.1}},  # outweighed
        {"intent_ranking": {"goodbye": 0.1, "thanks": 0.1}},  # too weak
    ],
)
def test_what_is_not_a_closer(overrides: dict[str, object]) -> None:
    assert decide(closer(**overrides)).decision == "handoff"


def test_a_confident_intent_is_left_alone_after_an_answer() -> None:
    # "did that, still nothing" right after an answer is what the classifier said: not helpful.
    triage = decide(
        closer(
            intent="not_helpful",
            intent_confidence=0.8,
            intent_ranking={"not_helpful": 0.8, "thanks": 0.1},
        )
    )
    assert (triage.decision, triage.reason) == ("handoff", "complex")


@pytest.mark.parametrize("intent", ["goodbye", "thanks", "acknowledge"])
def test_after_an_answer_a_problem_still_there_is_never_a_closer(intent: str) -> None:
    # "did all that, still the same" reads like a goodbye or an "ok" to the classifier.
    said = {"intent": intent, "intent_confidence": 0.7, "unresolved": True}
    triage = decide(closer(text="did all that... still the same", **said))
    assert (triage.decision, triage.reasons) == ("handoff", ("complex",))
    unsure = decide(closer(unresolved=True))  # the closing intents summed would have said goodbye
    assert (unsure.decision, unsure.reason) == ("handoff", "complex")


def test_after_an_answer_a_problem_still_there_is_not_another_faq() -> None:
    # "restarted it, checked every cable, still nothing" after the internet answer reads like
    # the TV's FAQ to the classifier; the answer did not help.
    said = {"text": "restarted it, checked every cable, still nothing", "unresolved": True}
    triage = decide(signals(after_answer=True, faq_topic="faq/tv_no_signal", **said))
    assert (triage.decision, triage.reasons) == ("handoff", ("complex",))
    # Without an answer before, or without the cue, it is the FAQ.
    assert decide(signals(faq_topic="faq/tv_no_signal", **said)).decision == "answer"
    plain = signals(after_answer=True, faq_topic="faq/tv_no_signal", text="and the tv? no signal")
    assert decide(plain).decision == "answer"


@pytest.mark.parametrize(
    ("ranking", "reason"),
    [
        ({"account_request": 0.41, "faq": 0.15}, "private"),
        ({"request_human": 0.35, "faq": 0.3}, "human_requested"),
        ({"complaint": 0.44, "faq": 0.2}, "complex"),  # a complaint's urgency needs certainty
        ({"account_request": 0.25, "faq": 0.2}, "complex"),  # too weak
        ({"faq": 0.4, "account_request": 0.35}, "complex"),  # not the leader
        ({}, "complex"),
    ],
)
def test_an_unsure_message_keeps_the_reason_of_a_leading_account_or_person_request(
    ranking: dict[str, float], reason: str
) -> None:
    unsure = signals(intent="nlu_fallback", intent_confidence=0.45, intent_ranking=ranking)
    triage = decide(replace(unsure, text="why did you charge me twice this month"))
    assert (triage.decision, triage.reason) == ("handoff", reason)


def test_without_an_answer_before_a_goodbye_is_a_goodbye_whatever_it_says() -> None:
    # No suggestion to have failed: the cue only matters right after an answer.
    said = {"intent": "goodbye", "intent_confidence": 0.7, "unresolved": True}
    triage = decide(closer(after_answer=False, **said))
    assert (triage.decision, triage.topic) == ("answer", "goodbye")


# -- new intents --------------------------------------------------------------------------------


def test_a_question_the_faq_does_not_settle_goes_to_a_person() -> None:
    triage = decide(signals(intent="beyond_faq", faq_topic="faq/cancel_contract"))
    assert (triage.decision, triage.reason, triage.topic) == ("handoff", "complex", None)


def test_a_message_that_asks_nothing_gets_no_reply() -> None:
    private = decide(signals(intent="no_request", faq_topic=None))
    assert (private.decision, private.reason) == ("ignore", "no_reply_needed")
    public = decide(signals(intent="no_request", public=True, addressed=False))
    assert (public.decision, public.reason) == ("ignore", "not_addressed")


# -- the department comes from the topic, even on a handoff -------------------------------------

DEPARTMENTS = {
    "billing": ["faq/bill_due_date", "faq/payment_methods", "account_request"],
    "technical": ["faq/internet_down", "faq/wifi_password"],
    "sales": ["faq/plans_prices"],
}


def department(triage_signals: Signals) -> str:
    from handoff.departments import department_of

    triage = decide(triage_signals)
    return department_of(triage.as_slot(intent=triage_signals.intent), DEPARTMENTS)


def test_a_card_number_sent_about_a_bill_goes_to_billing() -> None:
    card = [{"kind": "card", "start": 10, "end": 29}]
    assert department(signals(faq_topic="faq/bill_due_date", personal_data=card)) == "billing"
    # Even when the classifier was unsure which question it is, the clear topic decides.
    unsure = signals(
        intent="nlu_fallback",
        intent_confidence=0.45,
        faq_topic="faq/payment_methods",
        faq_confidence=0.7,
        personal_data=card,
    )
    assert department(unsure) == "billing"


def test_an_emotional_handoff_goes_to_the_team_of_its_topic() -> None:
    angry = signals(intent="complaint", faq_topic="faq/internet_down", faq_confidence=0.8)
    assert decide(angry).about == "faq/internet_down"
    assert department(angry) == "technical"


def test_without_a_clear_topic_the_intent_decides_then_general() -> None:
    vague = {"faq_topic": "faq/plans_prices", "faq_confidence": 0.2}
    assert department(signals(intent="account_request", **vague)) == "billing"  # type: ignore[arg-type]
    assert department(signals(intent="request_human", **vague)) == "general"  # type: ignore[arg-type]
    clear = signals(intent="account_request", faq_topic="faq/wifi_password", faq_confidence=0.9)
    assert department(clear) == "technical"
