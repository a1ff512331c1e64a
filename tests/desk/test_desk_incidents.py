"""The desk's incident pages: agents see the parent case; supervisors declare, update, resolve."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from desk.services import Desk
from handoff.incidents import IncidentStore, Report, Rules
from tests.desk.conftest import Client

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def reported(desk: Desk, customers: int = 12) -> IncidentStore:
    """Enough SMS customers reported an outage in Almada to open an incident."""
    store = IncidentStore(desk.queue.engine)
    for n in range(customers):
        store.note_report(
            Report(
                conversation_id=f"sms:+3519100000{n:02d}",
                customer=f"+3519100000{n:02d}",
                kind="internet",
                area="Almada",
                channel="sms",
                public=False,
                language="pt",
                text="sem internet em Almada, conta [account_number]",
                at=T0 + dt.timedelta(minutes=n),
            ),
            Rules(threshold=10),
        )
    return store


def test_agents_see_the_parent_case_masked(
    desk: Desk, client: Callable[[str | None], Client]
) -> None:
    store = reported(desk)
    [incident] = store.incidents()
    ana = client("ana")
    listing = ana.get("/incidents")
    assert listing.status_code == 200 and incident.ref in listing.text
    assert "Declare an incident" not in listing.text  # agents do not declare
    case = ana.get(f"/incidents/{incident.id}")
    assert case.status_code == 200
    assert "<b>12</b> customers linked" in case.text and "Almada (12)" in case.text
    assert "sms (12)" in case.text and "sem internet em Almada" in case.text
    assert "+351910000003" not in case.text and "…003" in case.text  # numbers masked
    assert "Post update" not in case.text
    # Agents cannot post.
    assert ana.post(f"/incidents/{incident.id}/update", {"message": "x"}).status_code == 403
    assert ana.get("/incidents/999").status_code == 404


def test_supervisor_declares_updates_resolves(
    desk: Desk, client: Callable[[str | None], Client]
) -> None:
    store = reported(desk)
    sofia = client("sofia")
    made = sofia.post("/incidents", {"kind": "tv", "area": "Setúbal", "message": ""})
    assert made.status_code == 200
    tv = next(i for i in store.incidents() if i.kind == "tv")
    assert tv.opened_by == "sofia" and tv.area == "Setúbal"
    [internet] = [i for i in store.incidents() if i.kind == "internet"]
    assert sofia.post(f"/incidents/{internet.id}/update", {"message": ""}).status_code == 400
    assert sofia.post("/incidents", {"kind": "weather"}).status_code == 400
    posted = sofia.post(f"/incidents/{internet.id}/update", {"message": "Crews on site."})
    assert posted.status_code == 200 and "Crews on site." in posted.text
    assert store.notice_counts(internet.id) == {"pending": 12}
    done = sofia.post(f"/incidents/{internet.id}/resolve", {"message": ""})
    assert done.status_code == 200 and "(resolved)" in done.text
    assert store.notice_counts(internet.id) == {"pending": 24}
    assert sofia.post(f"/incidents/{internet.id}/resolve", {}).status_code == 409
    actions = [e.action for e in desk.store.audit_log()]
    assert {"incident_open", "incident_update", "incident_resolved"} <= set(actions)


def test_the_parent_case_is_in_the_queue(
    desk: Desk, client: Callable[[str | None], Client]
) -> None:
    store = reported(desk)
    [incident] = store.incidents()
    ana = client("ana")
    queue = ana.get("/queue")
    assert queue.status_code == 200 and "INC-1: internet in Almada" in queue.text
    case = ana.get(f"/cases/{incident.ticket_id}")
    assert case.status_code == 200 and "sem internet em Almada" in case.text
