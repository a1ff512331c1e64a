"""afterhours.scheduler: when the morning digest and the promise watch run (desk.digest: what)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from afterhours.scheduler import morning_digest, schedule_next_opening, watch_promises
from bot.settings import load_brand
from desk.db import migrate as migrate_desk
from desk.digest import digest_text
from handoff.calendar import BusinessCalendar
from handoff.queue import HandoffQueue
from handoff.transcript import Entry

REPO = Path(__file__).resolve().parents[1]
LISBON = ZoneInfo("Europe/Lisbon")
#: desk.digest logs the digest and the promise watch.
DIGEST_LOG = "afterhours.desk.digest"

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


def lisbon(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A wall time in Lisbon."""
    return datetime(year, month, day, hour, minute, tzinfo=LISBON)


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    """The shipped brand's desk: Mon-Fri 09-18, Sat 10-14, Portuguese holidays."""
    return load_brand(REPO / "brand.yml").calendar()


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[HandoffQueue]:
    service = HandoffQueue.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    migrate_desk(service.engine)  # the digest and the reminders are posted on the desk too
    try:
        yield service
    finally:
        service.dispose()


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    """A started but paused scheduler: jobs are stored with their run times and never run."""
    background = BackgroundScheduler(timezone="Europe/Lisbon")
    background.start(paused=True)
    try:
        yield background
    finally:
        background.shutdown(wait=False)


def add_ticket(
    queue: HandoffQueue, customer: str, reason: str, department: str, reply_eta: datetime
) -> int:
    created = datetime.now(timezone.utc) - timedelta(hours=2)
    return queue.open_ticket(
        channel="telegram",
        conversation_id=f"telegram:{customer}",
        customer=customer,
        public=False,
        language="en",
        locale="en_GB",
        reasons=[reason],
        need=3,
        department=department,
        reply_eta=reply_eta,
        created_at=created,
        transcript=[Entry(at=created, author="customer", text="hello")],
    ).id


# -- digest_text (desk.digest's one-line summary) --------------------------------------------------


def test_digest_text() -> None:
    counts = {
        "open": 3,
        "claimed": 1,
        "waiting": 4,
        "overdue": 2,
        "by_reason": {"private": 2, "emotional": 1, "complex": 1},
        "by_department": {"technical": 1, "billing": 3},
    }
    assert digest_text(counts) == (
        "4 waiting (by reason: complex 1, emotional 1, private 2; "
        "by department: billing 3, technical 1); 2 past their promised time"
    )


def test_digest_text_of_an_empty_queue() -> None:
    expected = "0 waiting (by reason: none; by department: none); 0 past their promised time"
    assert digest_text({}) == expected
    assert digest_text({"waiting": 0, "overdue": 0, "by_reason": {}, "by_department": {}}) == (
        expected
    )


# -- morning_digest and watch_promises ---------------------------------------------------------


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What desk.digest logged."""
    return [r.getMessage() for r in caplog.records if r.name == DIGEST_LOG]


def test_morning_digest(queue: HandoffQueue, caplog: pytest.LogCaptureFixture) -> None:
    now = datetime.now(timezone.utc)
    add_ticket(queue, "1001", "private", "billing", now + timedelta(hours=5))
    add_ticket(queue, "1002", "private", "billing", now - timedelta(minutes=5))
    add_ticket(queue, "1003", "emotional", "general", now + timedelta(hours=5))
    with caplog.at_level(logging.INFO, logger=DIGEST_LOG):
        morning_digest(queue)
    assert said(caplog) == [
        "desk opening: 3 waiting (by reason: emotional 1, private 2; "
        "by department: billing 2, general 1); 1 past their promised time"
    ]


def test_morning_digest_of_an_empty_queue(
    queue: HandoffQueue, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=DIGEST_LOG):
        morning_digest(queue)
    assert said(caplog) == [
        "desk opening: 0 waiting (by reason: none; by department: none); 0 past their promised time"
    ]


def test_watch_promises_warns_about_overdue_tickets(
    queue: HandoffQueue, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(timezone.utc)
    add_ticket(queue, "1001", "private", "billing", now - timedelta(minutes=5))
    add_ticket(queue, "1002", "complex", "general", now - timedelta(hours=1))
    add_ticket(queue, "1003", "complex", "general", now + timedelta(hours=1))
    with caplog.at_level(logging.WARNING, logger=DIGEST_LOG):
        watch_promises(queue)
    assert said(caplog) == ["2 ticket(s) past their promised reply time"]


def test_watch_promises_is_quiet_when_promises_hold(
    queue: HandoffQueue, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=DIGEST_LOG):
        watch_promises(queue)
        assert said(caplog) == []
        ticket = add_ticket(
            queue, "1001", "private", "billing", datetime.now(timezone.utc) - timedelta(minutes=5)
        )
        queue.reply(ticket, "ana", "Hello, I'm looking into it.")  # answered: no longer overdue
        watch_promises(queue)
    assert said(caplog) == []


# -- schedule_next_opening ---------------------------------------------------------------------


def _digest_time(scheduler: BackgroundScheduler) -> Any:
    jobs = [job for job in scheduler.get_jobs() if job.id == "morning_digest"]
    assert len(jobs) == 1
    return jobs[0].trigger.run_date


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Friday evening after closing: Saturday's opening.
        (lisbon(2026, 11, 27, 20, 0), lisbon(2026, 11, 28, 10, 0)),
        # Saturday after closing: Sunday is closed, so Monday.
        (lisbon(2026, 11, 28, 15, 0), lisbon(2026, 11, 30, 9, 0)),
        # Monday evening: Tuesday 1 December is a holiday, so Wednesday.
        (lisbon(2026, 11, 30, 20, 0), lisbon(2026, 12, 2, 9, 0)),
        # Early morning: today's opening.
        (lisbon(2026, 11, 25, 7, 30), lisbon(2026, 11, 25, 9, 0)),
        # While open: the next day's opening, not the one that already happened.
        (lisbon(2026, 11, 25, 11, 0), lisbon(2026, 11, 26, 9, 0)),
        # Friday while open: Saturday opens later.
        (lisbon(2026, 11, 27, 12, 0), lisbon(2026, 11, 28, 10, 0)),
        # The digest job itself runs at the opening: the following opening is next.
        (lisbon(2026, 11, 25, 9, 0), lisbon(2026, 11, 26, 9, 0)),
        # Given in UTC: Lisbon's summer time is UTC+1.
        (datetime(2026, 7, 3, 19, 0, tzinfo=timezone.utc), lisbon(2026, 7, 4, 10, 0)),
    ],
)
def test_schedule_next_opening(
    scheduler: BackgroundScheduler,
    calendar: BusinessCalendar,
    queue: HandoffQueue,
    now: datetime,
    expected: datetime,
) -> None:
    opening = schedule_next_opening(scheduler, calendar, queue, now=now)
    assert opening == expected
    assert _digest_time(scheduler) == expected


def test_rescheduling_replaces_the_digest_job(
    scheduler: BackgroundScheduler, calendar: BusinessCalendar, queue: HandoffQueue
) -> None:
    schedule_next_opening(scheduler, calendar, queue, now=lisbon(2026, 11, 27, 20, 0))
    schedule_next_opening(scheduler, calendar, queue, now=lisbon(2026, 11, 30, 20, 0))
    assert _digest_time(scheduler) == lisbon(2026, 12, 2, 9, 0)


def test_the_digest_job_reports_and_schedules_the_following_opening(
    scheduler: BackgroundScheduler,
    calendar: BusinessCalendar,
    queue: HandoffQueue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    past = lisbon(2026, 1, 2, 20, 0)
    schedule_next_opening(scheduler, calendar, queue, now=past)
    (job,) = scheduler.get_jobs()
    before = datetime.now(timezone.utc)
    with caplog.at_level(logging.INFO, logger=DIGEST_LOG):
        job.func()
    assert any(line.startswith("desk opening: 0 waiting") for line in said(caplog))
    following = _digest_time(scheduler)
    assert following > before
    assert following == calendar.next_opening(before + timedelta(seconds=1))


def test_a_failed_digest_still_schedules_the_next_one(
    scheduler: BackgroundScheduler, calendar: BusinessCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenQueue:
        def counts(self, now: datetime | None = None) -> dict[str, Any]:
            raise RuntimeError("database is locked")

    broken: Any = BrokenQueue()
    schedule_next_opening(scheduler, calendar, broken, now=lisbon(2026, 1, 2, 20, 0))
    (job,) = scheduler.get_jobs()
    before = datetime.now(timezone.utc)
    job.func()  # logged, not raised: the scheduler goes on
    assert "the morning digest failed" in caplog.text and "database is locked" in caplog.text
    assert _digest_time(scheduler) > before
