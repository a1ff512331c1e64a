"""actions/: a public case moved to private (issue 18) — the customer's side of it.

The handoff action leaves a move to private's two lines out of the ticket for the connector's
output to record as sent (tests/channels/test_x_private.py); here: the customer's first private
message is marked for the desk, and when the bot's private line never reached them (X refused the
DM) it goes now, by the way they just wrote.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from actions.handoff import ActionAppendToTicket, ActionHandoff, transcript_from
from bot.channels.output import MoveToPrivate
from bot.channels.private_links import move_entries
from handoff.queue import HandoffQueue
from tests import actions_support
from tests.actions_support import (  # noqa: F401 - fixtures
    DM_OPENING,
    FRIDAY_NIGHT,
    PRIVATE_PROMISE_SATURDAY,
    PUBLIC_DATA_WARNING,
    bot_event,
    handoff_triage,
    make_tracker,
    run,
    transcript_of,
    user_event,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

domain = actions_support.domain
queue = actions_support.queue

DM_LINE = f"{DM_OPENING} {PRIVATE_PROMISE_SATURDAY}"
LINK = "https://x.com/messages/compose?recipient_id=1500000000000000001"
POSTED_LINK = f"@rita Please write to us privately here, so we can continue safely: {LINK}"


def _public_case(queue: HandoffQueue, domain: dict[str, Any], dm: str) -> int:
    """A public X case moved to private; the X output recorded the move (``dm``'s outcome)."""
    tracker = make_tracker(
        text="@AuroraCare my bill is wrong",
        at=FRIDAY_NIGHT,
        triage=handoff_triage(FRIDAY_NIGHT, ["private"], move_to_private=True),
        channel="x",
        sender="rita",
        public=True,
    )
    events, said = run(ActionHandoff(), tracker, domain)
    assert [visibility for _, visibility in said] == ["private", "public"]
    ticket_id = int(events[0]["value"])
    move = MoveToPrivate(private=[DM_LINE], dm=dm)
    if dm == "delivered":
        move.public = [f"@rita {PUBLIC_DATA_WARNING}"]
    else:
        move.public, move.link = [POSTED_LINK], LINK
    queue.append(ticket_id, move_entries(move, at=FRIDAY_NIGHT + timedelta(seconds=5)))
    return ticket_id


def _dm(text: str, minutes: int, ticket: int, history: list[dict[str, Any]] | None = None) -> Any:
    return make_tracker(
        text=text,
        at=FRIDAY_NIGHT + timedelta(minutes=minutes),
        triage={"decision": "handoff", "followup": True, "language": "en"},
        channel="x",
        sender="rita",
        public=False,
        handoff_ticket=ticket,
        history=history,
    )


def _routes(queue: HandoffQueue, ticket_id: int) -> list[tuple[str, str | None, str | None]]:
    ticket = queue.get(ticket_id)
    assert ticket is not None
    return [
        (e.author, (e.meta or {}).get("visibility"), (e.meta or {}).get("route"))
        for e in ticket.transcript
    ]


def test_the_first_dm_after_a_refused_one_is_marked_and_gets_the_missed_line(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    ticket = _public_case(queue, domain, "refused")
    assert _routes(queue, ticket) == [
        ("customer", None, None),
        ("bot", "private", "dm_refused"),
        ("bot", "public", "link_sent"),
    ]

    first_dm = _dm("here is my account: 12345", 30, ticket)
    _events, said = run(ActionAppendToTicket(), first_dm, domain)

    # Unmarked: it goes where she wrote, by DM (X allows it now that she wrote first).
    assert said == [(DM_LINE, None)]
    assert _routes(queue, ticket)[3:] == [
        ("customer", None, "first_private_message"),
        ("bot", "private", None),
    ]
    assert transcript_of(queue, ticket)[-1][1] == DM_LINE

    # Her second DM: nothing more is said, nothing marked.
    _events, said = run(ActionAppendToTicket(), _dm("are you there?", 40, ticket), domain)
    assert said == []
    assert _routes(queue, ticket)[-1] == ("customer", None, None)


def test_the_first_dm_after_a_delivered_one_is_marked_and_the_bot_stays_quiet(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    ticket = _public_case(queue, domain, "delivered")
    _events, said = run(ActionAppendToTicket(), _dm("my account is 12345", 30, ticket), domain)
    assert said == []
    assert _routes(queue, ticket)[-1] == ("customer", None, "first_private_message")


def test_a_later_public_post_is_not_a_private_message(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    ticket = _public_case(queue, domain, "refused")
    tracker = make_tracker(
        text="@AuroraCare still waiting",
        at=FRIDAY_NIGHT + timedelta(minutes=20),
        triage={"decision": "handoff", "followup": True, "language": "en"},
        channel="x",
        sender="rita",
        public=True,
        handoff_ticket=ticket,
    )
    _events, said = run(ActionAppendToTicket(), tracker, domain)
    assert said == []
    assert _routes(queue, ticket)[-1] == ("customer", None, None)


def test_a_later_ticket_leaves_out_the_wording_the_output_did_not_choose() -> None:
    # The tracker keeps the action's wording ("we've sent you ..."); the output may have posted
    # the link instead. Its ticket holds what went out; a later ticket's history leaves it out.
    meta = {"channel": "x", "public": True, "sender": "rita"}
    moved = bot_event(f"@rita {PUBLIC_DATA_WARNING}", FRIDAY_NIGHT)
    moved["metadata"] = {"visibility": "public", "move_to_private": "public", "ticket": 1}
    plain = bot_event("Anything else?", FRIDAY_NIGHT + timedelta(minutes=1))
    tracker = make_tracker(
        text="@AuroraCare hello again",
        at=FRIDAY_NIGHT + timedelta(days=2),
        triage=None,
        channel="x",
        sender="rita",
        public=True,
        history=[user_event("@AuroraCare my bill", FRIDAY_NIGHT, meta), moved, plain],
    )
    texts = [(e.author, e.text) for e in transcript_from(tracker)]
    assert texts == [
        ("customer", "@AuroraCare my bill"),
        ("bot", "@rita Anything else?"),
        ("customer", "@AuroraCare hello again"),
    ]
