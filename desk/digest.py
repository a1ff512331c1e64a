"""The morning digest and the promise reminders, posted on the desk and to a team-chat webhook.

Nothing a customer wrote goes to the webhook: counts, ticket numbers, channels and reasons only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from desk.store import DeskStore
from handoff.desk_side import DeskQueue

__all__ = ["WEBHOOK_ENV", "Digest", "build_digest", "post_digest", "post_webhook", "remind_overdue"]

logger = logging.getLogger("afterhours.desk.digest")

#: Where the digest and reminders are also posted (a Slack/Mattermost/Teams incoming webhook).
WEBHOOK_ENV = "AFTERHOURS_DESK_WEBHOOK_URL"
# How many overdue ticket numbers a digest names.
_NAMED = 10


@dataclass(frozen=True)
class Digest:
    """A summary of the waiting queue."""

    text: str
    payload: dict[str, Any] = field(default_factory=dict)


def _ago(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} h"
    return f"{max(int(delta.total_seconds() // 60), 0)} min"


def build_digest(queue: DeskQueue, now: dt.datetime | None = None) -> Digest:
    """Summarise the queue: waiting by reason and department, the oldest case, the overdue.

    Args:
        queue: The handoff queue.
        now: The time to judge at (aware); now by default.

    Returns:
        The digest's text (a few lines) and its numbers.
    """
    at = now or dt.datetime.now(dt.timezone.utc)
    counts = queue.counts(now=at)
    overdue = queue.overdue(now=at)
    waiting = queue.list_tickets(now=at)
    oldest = min(waiting, key=lambda t: (t.created_at, t.id), default=None)
    by_reason = ", ".join(f"{k} {v}" for k, v in sorted(counts["by_reason"].items())) or "none"
    by_department = (
        ", ".join(f"{k} {v}" for k, v in sorted(counts["by_department"].items())) or "none"
    )
    lines = [
        f"Good morning: {counts['waiting']} case(s) waiting "
        f"({counts['open']} open, {counts['claimed']} claimed).",
        f"By reason: {by_reason}.",
        f"By department: {by_department}.",
    ]
    if oldest is not None:
        lines.append(
            f"Oldest: #{oldest.id} ({oldest.channel}, {', '.join(oldest.reasons)}), "
            f"waiting {_ago(at - oldest.created_at)}."
        )
    if overdue:
        named = ", ".join(f"#{t.id}" for t in overdue[:_NAMED])
        more = f" and {len(overdue) - _NAMED} more" if len(overdue) > _NAMED else ""
        lines.append(f"Past their promised time: {len(overdue)} ({named}{more}).")
    else:
        lines.append("Nothing is past its promised time.")
    payload = {
        "at": at.isoformat(),
        "waiting": counts["waiting"],
        "open": counts["open"],
        "claimed": counts["claimed"],
        "by_reason": counts["by_reason"],
        "by_department": counts["by_department"],
        "oldest": (
            {"id": oldest.id, "created_at": oldest.created_at.isoformat()} if oldest else None
        ),
        "overdue": [t.id for t in overdue],
    }
    return Digest(text="\n".join(lines), payload=payload)


def post_webhook(text: str, payload: dict[str, Any], url: str | None = None) -> bool:
    """POST ``{"text": ..., "afterhours": payload}`` to the team chat's webhook, if one is set.

    Failures are logged, never raised: a chat being down must not stop the scheduler.

    Returns:
        True if the webhook accepted it.
    """
    target = url if url is not None else os.environ.get(WEBHOOK_ENV)
    if not target:
        return False
    request = urllib.request.Request(
        target,
        data=json.dumps({"text": text, "afterhours": payload}).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
        return True
    except (urllib.error.URLError, OSError) as error:
        logger.warning("the desk webhook %s failed: %s", target.split("?")[0], error)
        return False


def post_digest(
    queue: DeskQueue,
    store: DeskStore,
    now: dt.datetime | None = None,
    webhook_url: str | None = None,
) -> Digest:
    """Post the morning digest on the desk and to the webhook.

    Args:
        queue: The handoff queue.
        store: The desk's store (the digest is shown on the queue page).
        now: The time (aware); now by default.
        webhook_url: The webhook; $AFTERHOURS_DESK_WEBHOOK_URL by default.

    Returns:
        The digest posted.
    """
    digest = build_digest(queue, now)
    try:
        store.post_notice("digest", digest.text, digest.payload, now=now)
    finally:
        # The team chat hears of the morning even if the desk's table could not take it.
        post_webhook(digest.text, digest.payload, webhook_url)
    return digest


def remind_overdue(
    queue: DeskQueue,
    store: DeskStore,
    now: dt.datetime | None = None,
    webhook_url: str | None = None,
) -> list[int]:
    """Post one reminder per case that passed its promised time unanswered (once per case).

    Returns:
        The tickets reminded about now.
    """
    at = now or dt.datetime.now(dt.timezone.utc)
    overdue = queue.overdue(now=at)
    done = store.reminded([t.id for t in overdue])
    fresh = [t for t in overdue if t.id not in done]
    for ticket in fresh:
        late = _ago(at - ticket.reply_eta)
        holder = f", claimed by {ticket.claimed_by}" if ticket.status == "claimed" else ""
        text = (
            f"Case #{ticket.id} ({ticket.channel}, {', '.join(ticket.reasons)}, "
            f"{ticket.department}) passed its promised time {late} ago{holder}."
        )
        payload = {"ticket": ticket.id, "reply_eta": ticket.reply_eta.isoformat()}
        store.post_notice("reminder", text, payload, ticket_id=ticket.id, now=at)
        post_webhook(text, payload, webhook_url)
    return [t.id for t in fresh]
