"""`afterhours bench faults` in its fast form: both servers killed mid-burst, nothing lost or twice.

The real thing: the action server and `rasa run` with the SMS and Telegram connectors against the
fake platforms, each killed with SIGKILL a third of the way through a burst and started again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from afterhours.bench.faults import FaultResult, burst, run_faults
from afterhours.bench.stack import Driver


@pytest.mark.slow
def test_killing_either_server_loses_nothing_and_sends_nothing_twice(trained_model: Path) -> None:
    results = run_faults(trained_model, 40, ["rasa", "actions"], down=2.0)
    assert [r.scenario for r in results] == ["rasa", "actions"]
    for result in results:
        assert (result.sent, result.answered, result.lost) == (40, 40, 0), result
        assert (result.handoffs, result.tickets, result.duplicate_tickets) == (8, 8, 0), result
        assert result.unfinished == 0, result
        # A reply the platform took in the instant before the kill may go out again: counted,
        # and kept to a handful (README "Channels"; benchmarks/results.md has the full runs).
        assert result.duplicated <= 5, result
        assert result.fault_seconds < 120, result


class Named(Driver):
    def __init__(self, name: str) -> None:
        self.name = name

    def customer(self, index: int) -> str:
        return f"{self.name}-{index}"


def test_a_burst_alternates_channels_and_one_message_in_five_needs_a_person() -> None:
    sms, telegram = Named("sms"), Named("telegram")
    messages = burst([sms, telegram], 10, 100)
    assert [m.driver.name for m in messages[:4]] == ["sms", "telegram", "sms", "telegram"]
    assert [m.handoff for m in messages] == [False] * 4 + [True] + [False] * 4 + [True]
    assert len({m.conversation for m in messages}) == 10
    assert messages[0].conversation == "sms:sms-100"


def test_a_result_is_clean_only_with_nothing_lost_twice_or_left() -> None:
    fields = dict(sent=10, answered=10, handoffs=2, tickets=2, lost=0, duplicated=0,
                  duplicate_tickets=0, unfinished=0, ready_seconds=1.0, recovery_seconds=2.0,
                  fault_seconds=3.0, pickup_seconds=0.5)  # fmt: skip
    assert FaultResult(scenario="rasa", **fields).clean
    for name in ("lost", "duplicated", "duplicate_tickets", "unfinished"):
        assert not FaultResult(scenario="rasa", **{**fields, name: 1}).clean
