"""actions/: adding a handed-off conversation's messages to its ticket, and running again.

ActionAppendToTicket against a real SQLite queue, and both actions run a second time for the same
message (the action server died before Rasa got its answer).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.csat import ActionRecordCsat
from actions.handoff import ActionAppendToTicket, ActionHandoff
from handoff.queue import HandoffQueue
from tests import actions_support
from tests.actions_support import (  # noqa: F401 - fixtures
    COMPLEX_PROMISE_WEDNESDAY,
    COMPLEX_PROMISE_WEDNESDAY_PT,
    DM_OPENING,
    EMOTIONAL_PROMISE_SATURDAY,
    FRIDAY_NIGHT,
    IN_HOURS_IT,
    LISBON,
    MONDAY_NIGHT,
    MOVE_TO_DM,
    PRIVATE_PROMISE_SATURDAY,
    PUBLIC_DATA_WARNING,
    REPO,
    ROAMING_IT,
    WEDNESDAY_MORNING,
    bot_event,
    handoff_triage,
    make_tracker,
    promised,
    run,
    transcript_of,
    user_event,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

# The shared fixtures (tests/actions_support.py), under the names the tests ask for.
domain = actions_support.domain
queue = actions_support.queue


# -- ActionAppendToTicket ----------------------------------------------------------------------


def _hand_off_first(queue: HandoffQueue, domain: dict[str, Any]) -> None:
    tracker = make_tracker(
        text="My bill is wrong", at=FRIDAY_NIGHT, triage=handoff_triage(FRIDAY_NIGHT, ["private"])
    )
    run(ActionHandoff(), tracker, domain)


FOLLOWUP_TRIAGE = {"decision": "handoff", "followup": True, "language": "en"}


def _followup(
    text: str,
    at: datetime,
    *,
    emotion: str | None = None,
    personal_data: list[dict[str, Any]] | None = None,
    ticket: int | None = 1,
) -> Tracker:
    meta = {"channel": "telegram", "public": False, "sender": "1001"}
    return make_tracker(
        text=text,
        at=at,
        triage=dict(FOLLOWUP_TRIAGE),
        emotion=emotion,
        personal_data=personal_data,
        handoff_ticket=ticket,
        history=[
            user_event("My bill is wrong", FRIDAY_NIGHT, meta),
            bot_event(PRIVATE_PROMISE_SATURDAY, FRIDAY_NIGHT),
        ],
    )


def test_append_adds_the_message_and_says_nothing(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    _hand_off_first(queue, domain)
    later = FRIDAY_NIGHT + timedelta(minutes=10)
    text = "it's account AUR-87654321"
    start = text.index("AUR")
    span = {"kind": "account_number", "start": start, "end": len(text)}

    events, said = run(ActionAppendToTicket(), _followup(text, later, personal_data=[span]), domain)

    assert said == []
    assert events == [
        SlotSet(
            "triage",
            {
                **FOLLOWUP_TRIAGE,
                "reasons": ["private"],
                "ticket": 1,
                "reply_eta": "2026-11-28T10:00:00+00:00",
            },
        )
    ]
    ticket = queue.get(1)
    assert ticket is not None
    assert ticket.need == 3  # no emotion: unchanged
    assert transcript_of(queue, 1) == [
        ("customer", "My bill is wrong", []),
        ("bot", PRIVATE_PROMISE_SATURDAY, []),
        ("customer", text, [span]),
    ]
    assert ticket.transcript[-1].at == later
    assert ticket.last_customer_message_at == later
    assert len(queue.list_tickets(now=later)) == 1


@pytest.mark.parametrize(("emotion", "need"), [("anger", 2), ("distress", 1), ("churn_threat", 1)])
def test_append_raises_the_need_on_emotion(
    queue: HandoffQueue, domain: dict[str, Any], emotion: str, need: int
) -> None:
    _hand_off_first(queue, domain)
    later = FRIDAY_NIGHT + timedelta(minutes=10)
    events, said = run(
        ActionAppendToTicket(), _followup("this is ridiculous!!", later, emotion=emotion), domain
    )
    assert said == []
    assert events[0]["value"]["ticket"] == 1
    ticket = queue.get(1)
    assert ticket is not None
    assert ticket.need == need
    assert ticket.transcript[-1].text == "this is ridiculous!!"


def test_append_never_lowers_the_need(queue: HandoffQueue, domain: dict[str, Any]) -> None:
    tracker = make_tracker(
        text="I can't take this anymore",
        at=FRIDAY_NIGHT,
        emotion="distress",
        triage=handoff_triage(FRIDAY_NIGHT, ["emotional"], emotion="distress"),
    )
    run(ActionHandoff(), tracker, domain)
    assert queue.get(1).need == 1  # type: ignore[union-attr]
    run(ActionAppendToTicket(), _followup("ok", FRIDAY_NIGHT + timedelta(minutes=1)), domain)
    assert queue.get(1).need == 1  # type: ignore[union-attr]


def test_append_after_resolution_opens_a_new_ticket(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    _hand_off_first(queue, domain)
    queue.resolve(1, "ana", "account_request", at=datetime(2026, 11, 28, 10, 30, tzinfo=LISBON))
    # Saturday after closing: the desk opens again on Monday at 09:00.
    later = datetime(2026, 11, 28, 15, 0, tzinfo=LISBON)

    events, said = run(ActionAppendToTicket(), _followup("still wrong", later), domain)

    promise = (
        "This one needs a person from our team. They'll answer you here on Monday, 30 November "
        "at 09:00 (Lisbon time), with everything you've already told us."
    )
    assert events == [
        SlotSet("handoff_ticket", None),
        SlotSet("handoff_ticket", 2),
        SlotSet(
            "triage",
            {
                **FOLLOWUP_TRIAGE,
                "ticket": 2,
                "reply_eta": "2026-11-30T09:00:00+00:00",
                "reasons": ["complex"],
            },
        ),
    ]
    assert said == [(promise, None)]
    assert queue.get(1).status == "resolved"  # type: ignore[union-attr]
    new = queue.get(2)
    assert new is not None and new.status == "open"
    assert new.conversation_id == "telegram:1001"
    assert transcript_of(queue, 2)[-2:] == [("customer", "still wrong", []), ("bot", promise, [])]


def test_append_in_hours_after_resolution_promises_a_reply_now(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    _hand_off_first(queue, domain)
    queue.resolve(1, "ana", "account_request", at=datetime(2026, 11, 28, 10, 30, tzinfo=LISBON))
    # Saturday while the desk is open: a person answers now, not "on Saturday at 11:00".
    later = datetime(2026, 11, 28, 11, 0, tzinfo=LISBON)
    events, said = run(ActionAppendToTicket(), _followup("still wrong", later), domain)
    assert said == [
        (
            "Thanks for your message. Our team is online now and a person will reply to you here "
            "shortly.",
            None,
        )
    ]
    assert events[1] == SlotSet("handoff_ticket", 2)
    assert events[2]["value"]["reply_eta"] == "2026-11-28T11:00:00+00:00"


def test_append_reports_the_promise_as_the_handoff_did(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    # Summer: Lisbon is UTC+1, so the zone of the string matters.
    friday = datetime(2026, 7, 3, 23, 0, tzinfo=LISBON)
    tracker = make_tracker(
        text="My bill is wrong", at=friday, triage=handoff_triage(friday, ["private"])
    )
    events, said = run(ActionHandoff(), tracker, domain)
    assert events[1]["value"]["reply_eta"] == "2026-07-04T10:00:00+01:00"
    assert "Saturday, 4 July at 10:00" in said[0][0]
    events, said = run(
        ActionAppendToTicket(), _followup("hello?", friday + timedelta(minutes=3)), domain
    )
    assert said == []
    assert events[0]["value"]["reply_eta"] == "2026-07-04T10:00:00+01:00"


@pytest.mark.parametrize("ticket", [None, 99])
def test_append_without_a_ticket_opens_one(
    queue: HandoffQueue, domain: dict[str, Any], ticket: int | None
) -> None:
    events, said = run(
        ActionAppendToTicket(), _followup("hello?", FRIDAY_NIGHT, ticket=ticket), domain
    )
    assert events[:2] == [SlotSet("handoff_ticket", None), SlotSet("handoff_ticket", 1)]
    assert len(said) == 1
    assert queue.get(1) is not None


def test_utc_and_lisbon_agree_in_winter() -> None:
    # The expected strings above assume Lisbon is on UTC in November and December.
    assert FRIDAY_NIGHT.utcoffset() == timedelta(0)
    assert MONDAY_NIGHT.astimezone(timezone.utc).hour == 20


# -- running again after a crash ------------------------------------------------------------------


def test_an_append_run_again_for_the_same_message_adds_it_once(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    """The action server appended, then died before Rasa got its answer: Rasa runs it again."""
    _hand_off_first(queue, domain)
    later = FRIDAY_NIGHT + timedelta(minutes=10)
    tracker = _followup("any news?", later)
    tracker.events[-1]["message_id"] = "sms-41"
    first, _ = run(ActionAppendToTicket(), tracker, domain)
    again, said = run(ActionAppendToTicket(), tracker, domain)
    assert again == first and said == []
    assert [text for _, text, _ in transcript_of(queue, 1)].count("any news?") == 1
    assert queue.get(1).transcript[-1].meta["message_id"] == "sms-41"  # type: ignore[union-attr]


def test_a_handoff_run_again_for_the_same_message_keeps_one_ticket_and_one_promise(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    tracker = make_tracker(
        text="My bill is wrong", at=FRIDAY_NIGHT, triage=handoff_triage(FRIDAY_NIGHT, ["private"])
    )
    first, said_first = run(ActionHandoff(), tracker, domain)
    again, said_again = run(ActionHandoff(), tracker, domain)
    assert again == first and said_again == said_first
    assert len(queue.list_tickets(now=FRIDAY_NIGHT)) == 1
    assert transcript_of(queue, 1) == [
        ("customer", "My bill is wrong", []),
        ("bot", PRIVATE_PROMISE_SATURDAY, []),
    ]


def test_every_custom_action_returns_an_event_when_it_succeeds(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    """bot/turns.py reads "a custom action followed by none of its events" as a lost call."""
    import yaml

    listed = yaml.safe_load((REPO / "domain.yml").read_text(encoding="utf-8"))["actions"]
    custom = {name for name in listed if not name.startswith("utter_")}
    assert custom == {
        "action_handoff",
        "action_append_to_ticket",
        "action_record_csat",
        "action_incident",  # returns the triage slot always (tests/test_actions_incident.py)
    }
    handed, _ = run(
        ActionHandoff(),
        make_tracker(text="hi", at=FRIDAY_NIGHT, triage=handoff_triage(FRIDAY_NIGHT, ["complex"])),
        domain,
    )
    appended, _ = run(ActionAppendToTicket(), _followup("more", FRIDAY_NIGHT), domain)
    scored, _ = run(ActionRecordCsat(), _followup("5", FRIDAY_NIGHT), domain)  # no question open
    assert handed and appended and scored
