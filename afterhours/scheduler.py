"""When the queue's timed work runs: the digest at each opening, the promise watch, the purge.

What they say and where it goes (log, desk, team chat) is :mod:`desk.digest`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from desk.digest import post_digest, remind_overdue
from desk.retention import purge_product
from handoff.calendar import BusinessCalendar
from handoff.clock import utc_now
from handoff.queue import HandoffQueue

logger = logging.getLogger("afterhours.scheduler")


def _guarded(job: Callable[..., Any], what: str) -> Callable[[HandoffQueue], None]:
    """``job(queue)`` that logs its failure instead of raising: the scheduler must go on."""

    def run(queue: HandoffQueue) -> None:
        try:
            job(queue)
        except Exception:  # noqa: BLE001 - a database hiccup must never stop the scheduler
            logger.exception("%s failed", what)

    return run


#: The morning digest (log, desk, team chat).
morning_digest = _guarded(post_digest, "the morning digest")
#: The promise watch (a warning in the log, a reminder per overdue case).
watch_promises = _guarded(remind_overdue, "the promise watch")
#: The retention purge (brand.yml `retention:`; one log line with the counts).
purge_retention = _guarded(lambda queue: purge_product(queue.engine), "the retention purge")


def schedule_next_opening(
    scheduler: BackgroundScheduler,
    calendar: BusinessCalendar,
    queue: HandoffQueue,
    now: datetime | None = None,
) -> datetime:
    """Schedules the digest at the desk's next opening; each run schedules the following one."""
    moment = (now or utc_now()) + timedelta(seconds=1)
    opening = calendar.next_opening(moment)
    if opening <= moment:  # open right now: the next opening is after today's closing
        opening = calendar.next_opening(moment + timedelta(hours=1))
        while opening <= moment:
            opening = calendar.next_opening(opening + timedelta(hours=1))

    def run() -> None:
        # Reschedule even if the digest failed: otherwise no digest ever again.
        try:
            morning_digest(queue)
        finally:
            schedule_next_opening(scheduler, calendar, queue)

    scheduler.add_job(run, "date", run_date=opening, id="morning_digest", replace_existing=True)
    return opening


_senders: dict[int, Any] = {}


def send_incident_notices(queue: HandoffQueue) -> None:
    """Sends what the incidents' notices' buckets allow now (desk/incident_notices.py).

    One sender per queue, kept between runs (its per-channel buckets); a claim left by a run
    that died is settled by the next from its delivery record.
    """
    from bot.settings import load_brand
    from desk.incident_notices import NoticeSender
    from desk.rasa import RasaClient
    from handoff.incidents import IncidentStore

    sender = _senders.get(id(queue))
    if sender is None:
        store = IncidentStore(queue.engine)
        sender = _senders[id(queue)] = NoticeSender(store, RasaClient.from_env(), load_brand())
    sender.run_once()


#: The incidents' updates to linked customers, every few seconds.
incident_notices = _guarded(send_incident_notices, "the incident notices")


def start_scheduler(calendar: BusinessCalendar, queue: HandoffQueue) -> BackgroundScheduler:
    """Starts the scheduler with the queue's jobs."""
    scheduler = BackgroundScheduler(timezone=calendar.timezone)
    scheduler.add_job(watch_promises, "interval", minutes=5, args=[queue], id="watch_promises")
    scheduler.add_job(
        incident_notices,
        "interval",
        seconds=5,
        args=[queue],
        id="incident_notices",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(purge_retention, "interval", days=1, args=[queue], id="purge_retention")
    scheduler.start()
    schedule_next_opening(scheduler, calendar, queue)
    return scheduler
