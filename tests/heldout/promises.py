"""The promise rules every night set follows (held-out and validation alike)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any


def assert_promises_follow_the_calendar(cases: Iterable[dict[str, Any]], calendar: Any) -> None:
    """Checks each line's decision and promise against the brand's calendar.

    A conversation's later lines keep its first handoff's reason and promise; a first handoff is
    promised the calendar's reply time, written with the offset of that instant in Lisbon; an
    expected answer falls while the desk is closed, and `in_hours` only while it is open.

    Args:
        cases: The lines of one file (or set), in time order.
        calendar: The brand's calendar (`load_brand().calendar()`).
    """
    first: dict[tuple[str, str], tuple[str, str]] = {}
    for case in cases:
        expect, at = case["expect"], datetime.fromisoformat(case["at"])
        key = case["channel"], case["sender"]
        if key in first:
            assert expect["decision"] == "handoff", case["id"]
            assert (expect["reason"], expect["reply_eta"]) == first[key], case["id"]
            continue
        if expect["decision"] != "handoff":
            assert expect["reply_eta"] is None, case["id"]
            if expect["decision"] == "answer":
                assert not calendar.is_open(at), case["id"]
            continue
        promised = datetime.fromisoformat(expect["reply_eta"])
        assert promised == calendar.reply_eta(at), case["id"]
        assert promised.utcoffset() == calendar.reply_eta(at).utcoffset(), case["id"]
        assert (expect["reason"] == "in_hours") <= calendar.is_open(at), case["id"]
        first[key] = (expect["reason"], expect["reply_eta"])
