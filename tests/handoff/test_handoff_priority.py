from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from handoff.priority import effective_priority, need_for, sort_key

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reasons", "emotion", "need"),
    [
        (["emotional"], "distress", 1),
        (["private"], "distress", 1),
        (["emotional"], "churn_threat", 1),
        (["emotional"], "complaint_threat", 1),
        (["emotional"], "anger", 2),
        (["emotional"], None, 2),
        (["complex", "emotional"], None, 2),
        (["private"], "anger", 2),
        (["private"], None, 3),
        (["human_requested"], None, 3),
        (["complex"], None, 3),
        (["in_hours", "private"], None, 3),
        (["in_hours"], None, 4),
        ([], None, 4),
    ],
)
def test_need_for(reasons: list[str], emotion: str | None, need: int) -> None:
    assert need_for(reasons, emotion) == need


def test_need_for_takes_no_audience_input() -> None:
    # Priority depends on need only: there is no parameter for followers or fame.
    import inspect

    assert list(inspect.signature(need_for).parameters) == ["reasons", "emotion_label"]


def test_effective_priority_ages_one_level_per_period() -> None:
    assert effective_priority(4, NOW, NOW) == 4
    assert effective_priority(4, NOW - dt.timedelta(hours=11, minutes=59), NOW) == 4
    assert effective_priority(4, NOW - dt.timedelta(hours=12), NOW) == 3
    assert effective_priority(4, NOW - dt.timedelta(hours=25), NOW) == 2
    assert effective_priority(4, NOW - dt.timedelta(days=10), NOW) == 1
    assert effective_priority(2, NOW - dt.timedelta(hours=3), NOW, aging_hours=1.0) == 1
    assert effective_priority(3, NOW + dt.timedelta(hours=5), NOW) == 3  # clock skew: no change
    with pytest.raises(ValueError):
        effective_priority(3, NOW, NOW, aging_hours=0)
    with pytest.raises(ValueError):
        effective_priority(3, NOW.replace(tzinfo=None), NOW)


@dataclass
class FakeTicket:
    name: str
    need: int
    created_at: dt.datetime
    reply_eta: dt.datetime


def ordered(tickets: list[FakeTicket]) -> list[str]:
    return [t.name for t in sorted(tickets, key=lambda t: sort_key(t, NOW))]


def test_distress_first() -> None:
    eta = NOW
    tickets = [
        FakeTicket("routine", 4, NOW - dt.timedelta(hours=1), eta),
        FakeTicket("private", 3, NOW - dt.timedelta(hours=2), eta),
        FakeTicket("distress", 1, NOW - dt.timedelta(minutes=5), eta),
        FakeTicket("angry", 2, NOW - dt.timedelta(hours=3), eta),
    ]
    assert ordered(tickets) == ["distress", "angry", "private", "routine"]


def test_long_wait_catches_up() -> None:
    eta = NOW
    tickets = [
        FakeTicket("new_angry", 2, NOW - dt.timedelta(minutes=10), eta),
        FakeTicket("old_private", 3, NOW - dt.timedelta(hours=13), eta),  # 3 -> 2
        FakeTicket("ancient_routine", 4, NOW - dt.timedelta(hours=40), eta),  # 4 -> 1
    ]
    assert ordered(tickets) == ["ancient_routine", "old_private", "new_angry"]


def test_ties_broken_by_promise_then_age() -> None:
    tickets = [
        FakeTicket("later_promise", 3, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=2)),
        FakeTicket("younger", 3, NOW - dt.timedelta(hours=1), NOW),
        FakeTicket("older", 3, NOW - dt.timedelta(hours=2), NOW),
    ]
    assert ordered(tickets) == ["older", "younger", "later_promise"]
