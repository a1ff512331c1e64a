"""The addressing decision, validated on its own public posts (tests/nlu/addressing_posts.yml).

Issue 12, kind 1: public posts that name the brand but ask it nothing (news, a sponsorship, a joke,
a friend told to write to the brand) must get no reply, and no real request may be silenced. The
decision is learned (the `no_request` intent, data/nlu/*/mentions.yml); these posts were written
apart from its examples and are never trained on. Each post goes through the whole pipeline as a
public X mention, out of hours.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

POSTS = yaml.safe_load((Path(__file__).parent / "addressing_posts.yml").read_text("utf-8"))
FRIDAY_NIGHT = "2026-11-27T23:00:00+00:00"
# What the set must show: almost every non-request left alone, and no request silenced.
MIN_NOT_ADDRESSED = 0.9


def _decide(pipeline: Any, text: str) -> Any:
    sender = f"post-{uuid.uuid4().hex[:8]}"
    return pipeline.send(text, sender=sender, channel="x", public=True, at=FRIDAY_NIGHT)


def test_posts_that_ask_nothing_get_no_reply_and_requests_do(pipeline: Any) -> None:
    left_alone, total, silenced = 0, 0, []
    for language, posts in POSTS.items():
        for text in posts["not_addressed"]:
            result = _decide(pipeline, text)
            total += 1
            if (result.decision, result.reason) == ("ignore", "not_addressed"):
                assert result.replies == []
                left_alone += 1
        for text in posts["addressed"]:
            result = _decide(pipeline, text)
            if result.reason == "not_addressed":
                silenced.append(f"{language}: {text}")
    assert left_alone / total >= MIN_NOT_ADDRESSED, f"{left_alone}/{total} left alone"
    assert silenced == []
