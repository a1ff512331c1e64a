"""`afterhours bench channels`: scoring, the registry and the command's options (no servers)."""

from __future__ import annotations

import argparse
import math

import pytest

from afterhours.bench.channels import (
    CHANNELS,
    BurstResult,
    add_arguments,
    available_channels,
    percentile,
    score,
    table,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))


def test_score_counts_lost_and_duplicated_replies() -> None:
    sent = {"a": 10.0, "b": 10.5, "c": 11.0}
    replies = {
        "a": [(10.2, "answer"), (10.9, "answer")],  # the same reply twice: a duplicate
        "b": [(11.5, "part 1"), (12.0, "part 2")],  # two different parts: not a duplicate
        "zz": [(11.0, "someone else")],  # not ours
    }
    result = score("sms", sent, replies, accept_seconds=0.4)
    assert (result.messages, result.replied, result.lost, result.duplicated) == (3, 2, 1, 1)
    assert result.latencies_ms == pytest.approx((200.0, 1000.0))
    assert result.seconds == pytest.approx(1.5)  # first send to last first-reply
    assert result.per_second == pytest.approx(2 / 1.5)


def test_the_registry_offers_the_installed_channels() -> None:
    assert {"telegram", "sms"} <= set(available_channels())
    assert set(available_channels()) <= set(CHANNELS)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--channel", "telegram"])
    assert (args.messages, args.overall_per_second, args.no_record) == (1000, 30.0, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--channel", "pigeon"])


def test_the_table_shows_every_figure() -> None:
    result = BurstResult("telegram", 10, 10, 0, 0, 2.0, 0.1, tuple(float(i) for i in range(10)))
    text = table("telegram", result, ready=12.3)
    for label in ("latency p50", "latency p99", "sustained rate", "lost", "duplicated"):
        assert label in text
    assert "5.0 msg/s" in text and "12.3 s" in text
