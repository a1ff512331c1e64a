"""A move to private through replay (issue 18), with the shipped model: what it reports and what
the ticket holds are the same."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_replay_reports_and_records_the_move_as_it_sent_it(pipeline: Any) -> None:
    # Replay's output collects every reply: the DM "goes", so the public reply claims it; the
    # ticket holds the same two lines, with their routes.
    result = pipeline.send(
        "@AuroraCare please change my direct debit to PT50000201231234567890154",
        sender="replay_move",
        channel="x",
        public=True,
        at="2026-11-27T23:00:00+00:00",
    )
    assert [r["public"] for r in result.replies] == [False, True]
    assert result.replies[1]["text"].startswith("@replay_move We've sent you a private message")
    ticket = pipeline.queue().get(result.ticket)
    moved = [(e.text, (e.meta or {}).get("route")) for e in ticket.transcript[1:]]
    assert moved == [
        (result.replies[0]["text"], "dm_delivered"),
        (result.replies[1]["text"], "public_post"),
    ]
