"""Whole conversations through the real pipeline: model, policies, action server, queue, rendering.

Times are chosen against the demo brand's calendar (Europe/Lisbon, Mon–Fri 09–18, Sat 10–14,
Portuguese holidays): Friday 2026-11-27 23:00 is out of hours, the desk opens Saturday at 10:00;
Monday 2026-11-30 20:00 is before Tuesday 1 December, a holiday.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.render.sms import encoding_of
from bot.render.x import weighted_length

pytestmark = pytest.mark.slow

FRIDAY_NIGHT = "2026-11-27T23:00:00+00:00"
SATURDAY_OPENING = "2026-11-28T10:00:00+00:00"
MONDAY_BEFORE_HOLIDAY = "2026-11-30T20:00:00+00:00"
WEDNESDAY_OPENING = "2026-12-02T09:00:00+00:00"
TUESDAY_IN_HOURS = "2026-11-24T11:30:00+00:00"


def unique(name: str) -> str:
    """A sender of its own per test, so conversations never mix."""
    import uuid

    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    ("text", "language", "topic"),
    [
        ("how can I use my phone when I travel to Spain?", "en", "faq/roaming"),
        ("como é que desbloqueio o cartão sim? pede-me o código puk", "pt", "faq/puk_code"),
        ("¿cómo puedo descargar una copia de mi factura?", "es", "faq/invoice_copy"),
        ("come posso cambiare la password del wifi?", "it", "faq/wifi_password"),
    ],
)
def test_routine_questions_out_of_hours_are_answered_in_the_customers_language(
    pipeline: Any, text: str, language: str, topic: str
) -> None:
    result = pipeline.send(text, sender=unique("faq"), at=FRIDAY_NIGHT)
    assert (result.decision, result.topic, result.language) == ("answer", topic, language)
    assert len(result.replies) == 1 and not result.replies[0]["public"]
    assert result.ticket is None and result.reply_eta is None


def test_in_hours_a_person_answers_and_the_ticket_carries_the_bot_suggestion(pipeline: Any) -> None:
    result = pipeline.send(
        "how can I use my phone when I travel to Spain?", sender=unique("day"), at=TUESDAY_IN_HOURS
    )
    assert (result.decision, result.reason) == ("handoff", "in_hours")
    assert result.reply_eta == TUESDAY_IN_HOURS
    ticket = pipeline.queue().get(result.ticket)
    assert ticket.reasons == ["in_hours"]
    assert ticket.suggested_answer and "EU" in ticket.suggested_answer


def test_friday_night_handoff_promises_saturday_morning_in_the_customers_language(
    pipeline: Any,
) -> None:
    result = pipeline.send(
        "quero falar com uma pessoa por favor", sender=unique("pt"), at=FRIDAY_NIGHT
    )
    assert (result.decision, result.reason, result.language) == ("handoff", "human_requested", "pt")
    assert result.reply_eta == SATURDAY_OPENING
    assert "sábado, 28 de novembro" in result.replies[0]["text"]
    assert "10:00" in result.replies[0]["text"]


def test_the_promise_skips_a_holiday_and_says_so(pipeline: Any) -> None:
    result = pipeline.send(
        "I want to talk to a real person", sender=unique("hol"), at=MONDAY_BEFORE_HOLIDAY
    )
    assert result.reply_eta == WEDNESDAY_OPENING
    text = result.replies[0]["text"]
    assert "Wednesday, 2 December" in text and "09:00" in text
    assert "Tuesday, 1 December" in text  # the holiday note


def test_later_messages_join_the_same_ticket_and_the_bot_stays_quiet(pipeline: Any) -> None:
    sender = unique("follow")
    first = pipeline.send("can I speak to an agent please", sender=sender, at=FRIDAY_NIGHT)
    second = pipeline.send(
        "also, when is my bill due?", sender=sender, at="2026-11-27T23:05:00+00:00"
    )
    third = pipeline.send("hello??", sender=sender, at="2026-11-27T23:10:00+00:00")
    assert first.decision == second.decision == third.decision == "handoff"
    assert first.ticket == second.ticket == third.ticket
    assert second.reason == third.reason == "human_requested"
    assert second.reply_eta == first.reply_eta
    assert second.replies == [] and third.replies == []
    ticket = pipeline.queue().get(first.ticket)
    customer_lines = [e.text for e in ticket.transcript if e.author == "customer"]
    assert customer_lines == [
        "can I speak to an agent please",
        "also, when is my bill due?",
        "hello??",
    ]
    assert [e.author for e in ticket.transcript].count("bot") == 1


def test_distress_is_emotional_and_most_urgent(pipeline: Any) -> None:
    result = pipeline.send(
        "please help, my elderly mother lives alone and her phone line has been dead for 3 days, "
        "I'm desperate",
        sender=unique("distress"),
        at=FRIDAY_NIGHT,
    )
    assert (result.decision, result.reason) == ("handoff", "emotional")
    assert pipeline.queue().get(result.ticket).need == 1


def test_a_post_about_the_brand_to_someone_else_is_ignored(pipeline: Any) -> None:
    result = pipeline.send(
        "@maria_s have you tried @AuroraCare fibre? mine has been great",
        sender=unique("friend"),
        channel="x",
        public=True,
        at=FRIDAY_NIGHT,
    )
    assert (result.decision, result.reason, result.replies) == ("ignore", "not_addressed", [])


def test_a_public_question_gets_a_public_reply_with_the_handle_within_280(pipeline: Any) -> None:
    sender = unique("xuser")
    result = pipeline.send(
        "@AuroraCare how do I activate an eSIM on my new phone?",
        sender=sender,
        channel="x",
        public=True,
        at=FRIDAY_NIGHT,
    )
    assert (result.decision, result.topic) == ("answer", "faq/sim_activation")
    (reply,) = result.replies
    assert reply["public"] and reply["text"].startswith(f"@{sender} ")
    assert weighted_length(reply["text"]) <= 280


def test_personal_data_in_public_moves_to_dm_and_is_never_repeated(pipeline: Any) -> None:
    iban = "PT50000201231234567890154"
    result = pipeline.send(
        f"@AuroraCare please change my direct debit to {iban}",
        sender=unique("leak"),
        channel="x",
        public=True,
        at=FRIDAY_NIGHT,
    )
    assert (result.decision, result.reason) == ("handoff", "private")
    # The DM first (issue 18): the public reply's wording follows from what became of it.
    assert [r["public"] for r in result.replies] == [False, True]
    assert all(iban not in r["text"] and "0154" not in r["text"] for r in result.replies)
    ticket = pipeline.queue().get(result.ticket)
    first = ticket.transcript[0]
    assert iban in first.text and iban not in first.masked_text and "[iban]" in first.masked_text


def test_sms_replies_fit_two_segments_even_with_portuguese_accents(pipeline: Any) -> None:
    result = pipeline.send(
        "a internet em casa não funciona, o que posso fazer?",
        sender="+351912345678",
        channel="sms",
        at=FRIDAY_NIGHT,
    )
    assert result.decision == "answer"
    assert all(encoding_of(r["text"]).segments <= 2 for r in result.replies)


def test_the_same_question_after_an_answer_means_the_answer_did_not_help(pipeline: Any) -> None:
    sender = unique("again")
    first = pipeline.send(
        "my wifi is not working, what should I do?", sender=sender, at=FRIDAY_NIGHT
    )
    second = pipeline.send(
        "that didn't help at all, still no internet", sender=sender, at="2026-11-27T23:20:00+00:00"
    )
    assert first.decision == "answer"
    assert (second.decision, second.reason) in {("handoff", "complex"), ("handoff", "emotional")}


@pytest.mark.parametrize(
    ("text", "decision", "reason"),
    [
        (
            "🔥🔥🔥 FREE crypto giveaway!!! follow and DM me to earn 5000$ http://scam.example",
            "ignore",
            "spam",
        ),
        ("ok", "ignore", "no_reply_needed"),
        ("", "ignore", "no_reply_needed"),
        ("\x00\x07\x1b", "ignore", "no_reply_needed"),
        ("what's the best recipe for lasagna?", "handoff", "complex"),
    ],
)
def test_messages_that_need_no_answer_or_no_guess(
    pipeline: Any, text: str, decision: str, reason: str
) -> None:
    result = pipeline.send(text, sender=unique("odd"), at=FRIDAY_NIGHT)
    assert (result.decision, result.reason) == (decision, reason)


def test_a_10000_character_message_reaches_a_person_whole(pipeline: Any) -> None:
    text = ("I would like to understand the options for my family plan and the router. " * 140)[
        :10_000
    ]
    result = pipeline.send(text, sender=unique("long"), at=FRIDAY_NIGHT)
    assert (result.decision, result.reason) == ("handoff", "complex")
    assert pipeline.queue().get(result.ticket).transcript[0].text == text.strip()


@pytest.mark.parametrize(
    "text", ["😀😀😀", "привет мой интернет не работает 你好", "ok\x00 \u200b"]
)
def test_odd_scripts_and_emoji_get_a_decision_and_a_trace(pipeline: Any, text: str) -> None:
    result = pipeline.send(text, sender=unique("script"), at=FRIDAY_NIGHT)
    assert result.error is None
    assert result.decision in {"answer", "handoff", "ignore"}
    assert result.language in {"en", "pt", "es", "it"}


@pytest.mark.postgres
def test_the_same_conversation_on_postgresql(postgres_pipeline: Any) -> None:
    sender = unique("pg")
    first = postgres_pipeline.send("I need to talk to a human", sender=sender, at=FRIDAY_NIGHT)
    second = postgres_pipeline.send("are you there?", sender=sender, at="2026-11-27T23:03:00+00:00")
    assert first.ticket == second.ticket and first.reply_eta == SATURDAY_OPENING
    assert len(postgres_pipeline.queue().get(first.ticket).transcript) == 3


# -- judgment on the messages people really write (issue 12) ---------------------------------------


def after_an_answer(pipeline: Any, question: str, then: str) -> Any:
    """Asks `question` on a Friday night, checks it was answered, and sends `then` just after."""
    sender = unique("after-answer")
    answered = pipeline.send(question, sender=sender, at=FRIDAY_NIGHT)
    assert answered.decision == "answer"
    return pipeline.send(then, sender=sender, at="2026-11-27T23:05:00+00:00")


@pytest.mark.parametrize(
    ("question", "closer"),
    [
        ("¿cómo puedo pagar la factura?", "vale, perfecto, todo claro"),
        ("como vejo a password do wifi?", "ok top, era isso mesmo"),
    ],
)
def test_after_an_answer_a_short_closer_is_answered_briefly(
    pipeline: Any, question: str, closer: str
) -> None:
    # Said back briefly, or left without a reply as an "ok" is: never a case for a person. (How
    # the conversation decides when the NLU alone is unsure: tests/test_triage.py, closers.)
    after = after_an_answer(pipeline, question, closer)
    closed = {("answer", "thanks"), ("answer", "goodbye"), ("ignore", "no_reply_needed")}
    assert (after.decision, after.topic or after.reason) in closed
    assert len(after.replies) == (after.decision == "answer") and after.ticket is None


@pytest.mark.parametrize(
    ("question", "still"),
    [
        (
            "the tv box says no signal, what do I do?",
            "restarted it and checked the cables, still the same",
        ),
        (
            "a box da tv diz sem sinal, o que faço?",
            "já reiniciei e verifiquei os cabos, continua igual",
        ),
    ],
)
def test_after_an_answer_a_problem_still_there_goes_to_a_person(
    pipeline: Any, question: str, still: str
) -> None:
    # However much it reads like a goodbye or an "ok", the answer did not help.
    after = after_an_answer(pipeline, question, still)
    assert (after.decision, after.reason) == ("handoff", "complex")


def test_a_public_post_that_asks_nothing_gets_no_reply(pipeline: Any) -> None:
    result = pipeline.send(
        "Aurora Telecom announces 5G rollout in the Algarve by spring @AuroraCare",
        sender=unique("news"),
        channel="x",
        public=True,
        at=FRIDAY_NIGHT,
    )
    assert (result.decision, result.reason, result.replies) == ("ignore", "not_addressed", [])


def test_public_sarcasm_about_an_outage_is_urgent_not_ignored(pipeline: Any) -> None:
    result = pipeline.send(
        "@AuroraCare oh brilliant, third outage this week, truly world-class service 👏👏",
        sender=unique("sarcasm"),
        channel="x",
        public=True,
        at=FRIDAY_NIGHT,
    )
    assert (result.decision, result.reason) == ("handoff", "emotional")
    assert pipeline.queue().get(result.ticket).need == 2  # anger: ahead of every routine case


def test_a_carer_whose_mothers_line_is_dead_is_urgent(pipeline: Any) -> None:
    result = pipeline.send(
        "sou cuidadora da minha mãe de 90 anos e o telefone fixo dela está mudo",
        sender=unique("carer"),
        at=FRIDAY_NIGHT,
    )
    assert (result.decision, result.reason, result.language) == ("handoff", "emotional", "pt")
    assert pipeline.queue().get(result.ticket).need == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "no rush at all, but whenever someone can, could a person look at my case?",
            "human_requested",
        ),
        ("there's an extra charge on my bill I don't recognise", "private"),
        (
            "on what legal basis do you charge a penalty for cancelling? I don't think that clause "
            "is lawful",
            "complex",
        ),
    ],
)
def test_what_needs_a_person_is_handed_off_with_its_reason(
    pipeline: Any, text: str, reason: str
) -> None:
    result = pipeline.send(text, sender=unique("person"), at=FRIDAY_NIGHT)
    assert (result.decision, result.reason) == ("handoff", reason)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("I rang 210 000 000 and it was closed, what are your hours?", "faq/support_hours"),
        (
            "Referência MB: entidade 21345 referência 912 345 678. Como posso pagar?",
            "faq/payment_methods",
        ),
    ],
)
def test_the_brands_number_and_a_payment_reference_are_not_personal_data(
    pipeline: Any, text: str, topic: str
) -> None:
    result = pipeline.send(text, sender=unique("numbers"), at=FRIDAY_NIGHT)
    assert (result.decision, result.topic) == ("answer", topic)


def test_a_card_number_sent_about_a_bill_goes_to_billing(pipeline: Any) -> None:
    result = pipeline.send(
        "here's my card 4111 1111 1111 1111, can I use it to pay this month's bill?",
        sender=unique("card"),
        at=FRIDAY_NIGHT,
    )
    assert (result.decision, result.reason) == ("handoff", "private")
    assert pipeline.queue().get(result.ticket).department == "billing"
