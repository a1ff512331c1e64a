"""The incident store: detection thresholds, linking, the parent case, posts and notices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from handoff.incidents import IncidentStore, Report, Rules, area_in, compatible
from handoff.queue import HandoffQueue
from tests.handoff.conftest import T0

RULES = Rules(window=dt.timedelta(minutes=30), threshold=5, update_every=dt.timedelta(hours=1))
AREAS = ["Lisboa/Lisbon/Lisbona", "Setúbal", "Évora"]


@pytest.fixture
def store(db_url: str) -> Iterator[IncidentStore]:
    """A migrated incident store on each database."""
    incidents = IncidentStore.from_url(db_url)
    try:
        yield incidents
    finally:
        incidents.dispose()


def report(n: int, minutes: float = 0, kind: str = "internet", area: str | None = None) -> Report:
    """Customer ``n``'s report, ``minutes`` after T0."""
    return Report(
        conversation_id=f"sms:+3519100000{n:02d}",
        customer=f"+3519100000{n:02d}",
        kind=kind,
        area=area,
        channel="sms",
        public=False,
        language="en",
        text=f"no internet here ({n})",
        at=T0 + dt.timedelta(minutes=minutes),
    )


def test_areas_are_matched_without_accents_or_case() -> None:
    assert area_in("no net in SETUBAL since 10", AREAS) == "Setúbal"
    assert area_in("fibra giù a lisbona", AREAS) == "Lisboa"
    assert area_in("evora: sem internet", AREAS) == "Évora"
    assert area_in("my neighbour evoralo", AREAS) is None


def test_outage_is_general() -> None:
    assert compatible("internet", "outage") and compatible("outage", "tv")
    assert not compatible("internet", "tv")


def test_opens_at_the_threshold_of_distinct_customers(store: IncidentStore) -> None:
    for n in range(4):
        assert store.note_report(report(n, n), RULES) == (None, False)
    # The same customer twice counts once.
    assert store.note_report(report(3, 4.5), RULES) == (None, False)
    incident, opened = store.note_report(report(4, 5), RULES)
    assert opened and incident is not None and incident.kind == "internet"
    links = store.links(incident.id)
    assert len(links) == 5  # those who reported before it opened are linked too
    again, opened_again = store.note_report(report(9, 6, kind="outage"), RULES)
    assert again is not None and again.id == incident.id and not opened_again
    assert len(store.incidents()) == 1


def test_reports_outside_the_window_do_not_count(store: IncidentStore) -> None:
    for n in range(4):
        store.note_report(report(n, n * 20), RULES)  # spread over an hour
    assert store.note_report(report(4, 80), RULES) == (None, False)


def test_per_area_when_named(store: IncidentStore) -> None:
    for n in range(4):
        store.note_report(report(n, n, area="Lisboa"), RULES)
    # A fifth customer in another town does not open Lisbon's incident.
    assert store.note_report(report(5, 5, area="Évora"), RULES) == (None, False)
    incident, opened = store.note_report(report(6, 6, area="Lisboa"), RULES)
    assert opened and incident is not None and incident.area == "Lisboa"
    # A report naming no town joins it; one naming another town does not.
    assert store.note_report(report(7, 7), RULES)[0] is not None
    assert store.matching("internet", "Évora") is None


def test_other_kind_does_not_join(store: IncidentStore) -> None:
    for n in range(5):
        store.note_report(report(n, n), RULES)
    assert store.matching("tv", None) is None
    assert store.matching("outage", None) is not None


def test_parent_case_counts_and_sample(store: IncidentStore, db_url: str) -> None:
    for n in range(30):
        store.note_report(report(n, n / 2), RULES)
    [incident] = store.incidents()
    queue = HandoffQueue.from_url(db_url)
    try:
        ticket = queue.get(incident.ticket_id or 0)
        assert ticket is not None and ticket.reasons == ["incident"]
        assert ticket.channel == "incident" and len(ticket.transcript) == 20
    finally:
        queue.dispose()
    assert incident.first_report_at == T0
    assert len(store.links(incident.id)) == 30
    assert store.by_ticket(incident.ticket_id or 0).id == incident.id  # type: ignore[union-attr]


def test_notices_once_per_customer_and_post(store: IncidentStore) -> None:
    for n in range(6):
        store.note_report(report(n, n), RULES)
    [incident] = store.incidents()
    store.post(incident.id, "update", {"*": "Crews on site."}, "sup", T0, RULES.update_every)
    claimed = store.claim_notices("sms", 100, [f"d{i}" for i in range(100)], T0)
    assert len(claimed) == 6 and {n.texts["*"] for n in claimed} == {"Crews on site."}
    # A second sender finds nothing to claim: each notice goes to one sender.
    assert store.claim_notices("sms", 100, [f"e{i}" for i in range(100)], T0) == []
    for notice in claimed[:4]:
        store.finish_notice(notice.id, "sent", T0)
    # The sender died with two claimed: they are stale, not pending (never sent blind again).
    stale = store.stale_notices(T0 + dt.timedelta(minutes=5))
    assert {n.id for n in stale} == {n.id for n in claimed[4:]}
    store.finish_notice(stale[0].id, "pending", T0)  # its delivery record says it never left
    assert [n.id for n in store.claim_notices("sms", 10, ["f"], T0)] == [stale[0].id]
    store.post(incident.id, "resolved", {}, "sup", T0, RULES.update_every)
    assert store.incident(incident.id).status == "resolved"  # type: ignore[union-attr]
    assert store.notice_counts(incident.id) == {"sent": 4, "sending": 2, "pending": 6}
    with pytest.raises(ValueError, match="already resolved"):
        store.post(incident.id, "update", {"*": "x"}, "sup", T0, RULES.update_every)


def test_declared_by_a_supervisor(store: IncidentStore) -> None:
    incident = store.declare("tv", "Setúbal", "sup", T0, RULES.update_every)
    assert incident.opened_by == "sup" and incident.ticket_id is not None
    linked, opened = store.note_report(report(1, 1, kind="tv"), RULES)
    assert linked is not None and linked.id == incident.id and not opened


def test_report_size_and_time_to_first_update(store: IncidentStore) -> None:
    from handoff.reports import incident_report

    for n in range(7):
        store.note_report(report(n, n), RULES)
    [incident] = store.incidents()
    store.post(
        incident.id,
        "update",
        {"*": "On it."},
        "sup",
        T0 + dt.timedelta(minutes=34),
        RULES.update_every,
    )
    store.post(incident.id, "resolved", {}, "sup", T0 + dt.timedelta(hours=2), RULES.update_every)
    found = incident_report(store.engine, T0, T0 + dt.timedelta(hours=12))
    assert found["count"] == 1 and found["customers"] == 7
    [row] = found["list"]
    # Opened by the fifth report (at 4 minutes): first update 30 minutes later.
    assert row["minutes_to_first_update"] == 30.0 and row["minutes_to_resolve"] == 116.0
    assert found["median_minutes_to_first_update"] == 30.0
    assert (
        incident_report(store.engine, T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2))["count"]
        == 0
    )


def test_erasure_and_purge(store: IncidentStore) -> None:
    for n in range(6):
        store.note_report(report(n, n), RULES)
    [incident] = store.incidents()
    store.post(incident.id, "update", {"*": "On it."}, "sup", T0, RULES.update_every)
    assert store.erase_conversation("sms:+351910000003") == 3  # report, link, notice
    assert len(store.links(incident.id)) == 5 and len(store.notices(incident.id)) == 5
    store.note_report(report(40, 200, kind="tv"), RULES)  # a lone report no incident took
    assert store.purge_reports(T0 + dt.timedelta(days=1)) == 1


def test_posts_are_the_parent_cases_agent_lines(store: IncidentStore, db_url: str) -> None:
    incident = store.declare("internet", None, "sup", T0, RULES.update_every)
    store.post(incident.id, "update", {"*": "Crews on site."}, "sofia", T0, RULES.update_every)
    queue = HandoffQueue.from_url(db_url)
    try:
        ticket = queue.get(incident.ticket_id or 0)
        assert ticket is not None and ticket.reply_eta == T0 + RULES.update_every
        [line] = ticket.transcript
        assert (line.author, line.text) == ("agent", "[update] Crews on site.")
    finally:
        queue.dispose()
