"""Timed work around the queue: the morning digest at each desk opening and the promise watch."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from handoff.calendar import BusinessCalendar
from handoff.queue import HandoffQueue

logger = logging.getLogger("afterhours.scheduler")


def digest_text(counts: dict[str, Any]) -> str:
    """One line summing up the queue: waiting by reason and department, overdue."""
    by_reason = (
        ", ".join(f"{k} {v}" for k, v in sorted((counts.get("by_reason") or {}).items())) or "none"
    )
    by_department = (
        ", ".join(f"{k} {v}" for k, v in sorted((counts.get("by_department") or {}).items()))
        or "none"
    )
    return (
        f"{counts.get('waiting', 0)} waiting "
        f"(by reason: {by_reason}; by department: {by_department}); "
        f"{counts.get('overdue', 0)} past their promised time"
    )


def morning_digest(queue: HandoffQueue, say: Callable[[str], None] = logger.info) -> None:
    """Reports the queue as the desk opens."""
    say("desk opening: " + digest_text(queue.counts(now=datetime.now(timezone.utc))))


def watch_promises(queue: HandoffQueue, say: Callable[[str], None] = logger.warning) -> None:
    """Warns while tickets are past the time the customer was promised."""
    overdue = queue.counts(now=datetime.now(timezone.utc)).get("overdue", 0)
    if overdue:
        say(f"{overdue} ticket(s) past their promised reply time")


# -- the agent desk (desk/): the digest on the desk and to the team chat, promise reminders -----

_desk_stores: dict[int, Any] = {}


def _desk_store(queue: HandoffQueue) -> Any:
    from desk.store import DeskStore

    key = id(queue.engine)
    if key not in _desk_stores:
        _desk_stores[key] = DeskStore(queue.engine)
    return _desk_stores[key]


def desk_digest(queue: HandoffQueue, now: datetime | None = None) -> None:
    """Posts the morning digest on the desk and to $AFTERHOURS_DESK_WEBHOOK_URL."""
    try:
        from desk.digest import post_digest

        post_digest(queue, _desk_store(queue), now=now)
    except Exception:  # noqa: BLE001 - the desk must never stop the scheduler
        logger.exception("the desk's morning digest failed")


def desk_reminders(queue: HandoffQueue, now: datetime | None = None) -> None:
    """Posts a reminder (desk and webhook) for each case that just passed its promised time."""
    try:
        from desk.digest import remind_overdue

        remind_overdue(queue, _desk_store(queue), now=now)
    except Exception:  # noqa: BLE001 - the desk must never stop the scheduler
        logger.exception("the desk's promise reminders failed")


# -- end of the desk's part ---------------------------------------------------------------------


def schedule_next_opening(
    scheduler: BackgroundScheduler,
    calendar: BusinessCalendar,
    queue: HandoffQueue,
    now: datetime | None = None,
) -> datetime:
    """Schedules the digest at the desk's next opening; each run schedules the following one."""
    moment = (now or datetime.now(timezone.utc)) + timedelta(seconds=1)
    opening = calendar.next_opening(moment)
    if opening <= moment:  # open right now: the next opening is after today's closing
        opening = calendar.next_opening(moment + timedelta(hours=1))
        while opening <= moment:
            opening = calendar.next_opening(opening + timedelta(hours=1))

    def run() -> None:
        # Reschedule even if the digest failed (a database hiccup): otherwise no digest ever again.
        try:
            morning_digest(queue)
            desk_digest(queue)
        finally:
            schedule_next_opening(scheduler, calendar, queue)

    scheduler.add_job(run, "date", run_date=opening, id="morning_digest", replace_existing=True)
    return opening


def start_scheduler(calendar: BusinessCalendar, queue: HandoffQueue) -> BackgroundScheduler:
    """Starts the scheduler with the queue's jobs."""
    scheduler = BackgroundScheduler(timezone=calendar.timezone)
    scheduler.add_job(watch_promises, "interval", minutes=15, args=[queue], id="watch_promises")
    scheduler.add_job(desk_reminders, "interval", minutes=5, args=[queue], id="desk_reminders")
    scheduler.start()
    schedule_next_opening(scheduler, calendar, queue)
    return scheduler
