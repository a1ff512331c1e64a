"""The morning digest and the promise watch: their text, on the desk, the team chat and the log.

`afterhours.scheduler` only decides when they run.

Nothing a customer wrote goes to the webhook or the log: counts, ticket numbers, channels and
reasons only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from desk.store import DeskStore
from handoff.clock import utc_now
from handoff.desk_side import DeskQueue

__all__ = [
    "WEBHOOK_ENV",
    "Digest",
    "build_digest",
    "desk_store",
    "digest_text",
    "post_digest",
    "post_webhook",
    "remind_overdue",
]

logger = logging.getLogger("afterhours.desk.digest")

#: Where the digest and reminders are also posted (a Slack/Mattermost/Teams incoming webhook).
WEBHOOK_ENV = "AFTERHOURS_DESK_WEBHOOK_URL"
# How many overdue ticket numbers a digest names.
_NAMED = 10


@dataclass(frozen=True)
class Digest:
    """A summary of the waiting queue.

    Attributes:
        text: A few lines, for the desk and the team chat.
        payload: Its numbers (JSON-serialisable).
        summary: One line, for the log (:func:`digest_text`).
    """

    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


def _tally(by: Mapping[str, int] | None) -> str:
    """``"billing 3, technical 1"`` (sorted by name), or ``"none"``."""
    return ", ".join(f"{k} {v}" for k, v in sorted((by or {}).items())) or "none"


def digest_text(counts: Mapping[str, Any]) -> str:
    """One line summing up the queue: waiting by reason and department, overdue.

    Args:
        counts: :meth:`handoff.views.QueueViews.counts`' mapping (missing keys count as none).

    Returns:
        ``"4 waiting (by reason: ...; by department: ...); 2 past their promised time"``.
    """
    return (
        f"{counts.get('waiting', 0)} waiting "
        f"(by reason: {_tally(counts.get('by_reason'))}; "
        f"by department: {_tally(counts.get('by_department'))}); "
        f"{counts.get('overdue', 0)} past their promised time"
    )


_stores: dict[int, DeskStore] = {}


def desk_store(queue: DeskQueue) -> DeskStore:
    """The desk's store on the queue's database (one per engine, kept for the process)."""
    key = id(queue.engine)
    if key not in _stores:
        _stores[key] = DeskStore(queue.engine)
    return _stores[key]


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
    at = now or utc_now()
    counts = queue.counts(now=at)
    overdue = queue.overdue(now=at)
    waiting = queue.list_tickets(now=at)
    oldest = min(waiting, key=lambda t: (t.created_at, t.id), default=None)
    lines = [
        f"Good morning: {counts['waiting']} case(s) waiting "
        f"({counts['open']} open, {counts['claimed']} claimed).",
        f"By reason: {_tally(counts['by_reason'])}.",
        f"By department: {_tally(counts['by_department'])}.",
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
    return Digest(text="\n".join(lines), payload=payload, summary=digest_text(counts))


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
    store: DeskStore | None = None,
    now: dt.datetime | None = None,
    webhook_url: str | None = None,
) -> Digest:
    """Post the morning digest to the log, on the desk and to the webhook.

    Args:
        queue: The handoff queue.
        store: The desk's store (the digest is shown on the queue page); by default
            :func:`desk_store` of the queue.
        now: The time (aware); now by default.
        webhook_url: The webhook; $AFTERHOURS_DESK_WEBHOOK_URL by default.

    Returns:
        The digest posted.
    """
    digest = build_digest(queue, now)
    # The log hears of the morning first: it needs neither the desk's tables nor the chat.
    logger.info("desk opening: %s", digest.summary)
    try:
        (store or desk_store(queue)).post_notice("digest", digest.text, digest.payload, now=now)
    finally:
        # The team chat hears of the morning even if the desk's table could not take it.
        post_webhook(digest.text, digest.payload, webhook_url)
    return digest


def remind_overdue(
    queue: DeskQueue,
    store: DeskStore | None = None,
    now: dt.datetime | None = None,
    webhook_url: str | None = None,
) -> list[int]:
    """Watch the promises: warn in the log, and remind once per case past its promised time.

    The warning repeats while cases are overdue; the reminder (desk and webhook) is posted once
    per case that passed its promised time unanswered.

    Args:
        queue: The handoff queue.
        store: The desk's store; by default :func:`desk_store` of the queue.
        now: The time (aware); now by default.
        webhook_url: The webhook; $AFTERHOURS_DESK_WEBHOOK_URL by default.

    Returns:
        The tickets reminded about now.
    """
    at = now or utc_now()
    overdue = queue.overdue(now=at)
    if overdue:
        logger.warning("%d ticket(s) past their promised reply time", len(overdue))
    store = store or desk_store(queue)
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
