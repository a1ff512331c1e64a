"""The queue page, a case, roles, reveal with audit, replying through Rasa, resolving, canned."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from desk.app import Desk
from handoff.transcript import Entry
from tests.desk.conftest import HOSTILE, UTC, Client, FakeRasa, add_ticket

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

IBAN = "PT50000201231234567890154"


# -- the queue ---------------------------------------------------------------------------------


def test_queue_order_filters_overdue_and_counts(client: Callable[..., Client], desk: Desk) -> None:
    now = dt.datetime.now(UTC)
    calm = add_ticket(
        desk.queue,
        customer="1",
        need=4,
        reasons=["in_hours"],
        department="sales",
        language="es",
        created_at=now - dt.timedelta(hours=1),
    )
    urgent = add_ticket(
        desk.queue,
        customer="2",
        need=1,
        reasons=["emotional"],
        department="general",
        created_at=now - dt.timedelta(hours=1),
    )
    late = add_ticket(
        desk.queue,
        customer="+351912345678",
        channel="sms",
        need=3,
        reply_eta=now - dt.timedelta(minutes=30),
        created_at=now - dt.timedelta(hours=2),
    )
    ana = client("ana")
    page = ana.get("/queue").text
    order = [page.index(f'data-ticket="{t.id}"') for t in (urgent, late, calm)]
    assert order == sorted(order)
    row = page.split(f'data-ticket="{late.id}"')[0].rsplit("<tr", 1)[1]
    assert "overdue" in row
    assert "+351912345678" not in page and "…678" in page  # phone numbers are personal data
    assert "<b>3</b> waiting" in page and "<b>1</b> overdue" in page
    assert "emotional 1" in page and "sales 1" in page
    spanish = ana.get("/queue?language=es").text
    assert f'data-ticket="{calm.id}"' in spanish and f'data-ticket="{urgent.id}"' not in spanish
    sms = ana.get("/queue?channel=sms&reason=private").text
    assert f'data-ticket="{late.id}"' in sms and f'data-ticket="{calm.id}"' not in sms
    general = ana.get("/queue?department=general").text
    assert f'data-ticket="{urgent.id}"' in general and f'data-ticket="{late.id}"' not in general
    assert "Nothing waiting here" in ana.get("/queue?department=sales&language=pt").text


def test_queue_api_for_live_updates(client: Callable[..., Client], desk: Desk) -> None:
    ana = client("ana")
    assert ana.get("/api/queue").json()["waiting"] == 0
    ticket = add_ticket(desk.queue)  # arrives while the page is open
    data = ana.get("/api/queue").json()
    assert data["waiting"] == 1 and f'data-ticket="{ticket.id}"' in data["rows"]
    assert IBAN not in data["rows"] and "[iban]" in data["rows"]


def test_take_the_next_case(client: Callable[..., Client], desk: Desk) -> None:
    first = add_ticket(desk.queue, customer="1", need=1)
    second = add_ticket(desk.queue, customer="2", need=3)
    ana, bruno = client("ana"), client("bruno")
    assert ana.post("/queue/next").url.endswith(f"/cases/{first.id}?msg=claimed")
    assert bruno.post("/queue/next").url.endswith(f"/cases/{second.id}?msg=claimed")
    assert "No free case" in ana.post("/queue/next").text


# -- hostile customer text ---------------------------------------------------------------------


def test_hostile_text_is_shown_as_text(client: Callable[..., Client], desk: Desk) -> None:
    ticket = add_ticket(desk.queue, text=HOSTILE, suggested_answer=HOSTILE, customer="<b>x</b>")
    sofia = client("sofia")
    for page in (
        sofia.get("/queue").text,
        sofia.get("/api/queue").json()["rows"],
        sofia.get(f"/cases/{ticket.id}").text,
    ):
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>x</b>" not in page
        assert "&lt;script&gt;alert(" in page
    # The SQL in it did nothing: the queue is still there.
    assert desk.queue.get(ticket.id) is not None
    assert desk.queue.counts()["waiting"] == 1


# -- roles and reveal --------------------------------------------------------------------------


def test_an_agent_reveals_only_a_case_they_hold(client: Callable[..., Client], desk: Desk) -> None:
    ticket = add_ticket(desk.queue)
    ana, bruno = client("ana"), client("bruno")
    masked = ana.get(f"/cases/{ticket.id}").text
    assert IBAN not in masked and "[iban]" in masked
    assert "Reveal personal data" not in masked  # not claimed yet
    refused = ana.post(f"/cases/{ticket.id}/reveal")
    assert refused.status_code == 403 and IBAN not in refused.text
    assert ana.post(f"/cases/{ticket.id}/claim").url.endswith("msg=claimed")
    shown = ana.post(f"/cases/{ticket.id}/reveal")
    assert shown.status_code == 200 and IBAN in shown.text
    assert "this view was logged" in shown.text
    # Bruno does not hold it: refused, and the attempt is logged too.
    other = bruno.post(f"/cases/{ticket.id}/reveal")
    assert other.status_code == 403 and IBAN not in other.text
    assert "Another agent holds" in bruno.post(f"/cases/{ticket.id}/claim").text
    reveals = desk.store.audit_log(ticket_id=ticket.id, action="reveal")
    assert [(e.username, e.ticket_id) for e in reveals] == [("ana", ticket.id)]
    assert reveals[0].detail["entries_with_personal_data"] == 1
    refusals = desk.store.audit_log(ticket_id=ticket.id, action="reveal_refused")
    assert sorted(e.username for e in refusals) == ["ana", "bruno"]


def test_a_lapsed_claim_gives_no_reveal(client: Callable[..., Client], desk: Desk) -> None:
    ticket = add_ticket(desk.queue)
    desk.queue.claim(ticket.id, "ana", now=dt.datetime.now(UTC) - dt.timedelta(hours=1))
    assert client("ana").post(f"/cases/{ticket.id}/reveal").status_code == 403
    # ... and another agent may take the abandoned case.
    assert client("bruno").post(f"/cases/{ticket.id}/claim").url.endswith("msg=claimed")
    assert desk.queue.get(ticket.id).claimed_by == "bruno"


def test_a_supervisor_reveals_any_case_and_reassigns(
    client: Callable[..., Client], desk: Desk
) -> None:
    ticket = add_ticket(desk.queue)
    desk.queue.claim(ticket.id, "ana")
    sofia = client("sofia")
    assert IBAN in sofia.post(f"/cases/{ticket.id}/reveal").text
    assert [e.username for e in desk.store.audit_log(action="reveal")] == ["sofia"]
    assert sofia.post(f"/cases/{ticket.id}/reassign", {"agent": "bruno"}).url.endswith(
        "msg=reassigned"
    )
    assert desk.queue.get(ticket.id).claimed_by == "bruno"
    (event,) = desk.store.audit_log(action="reassign")
    assert event.username == "sofia" and event.detail == {"from": "ana", "to": "bruno"}
    assert sofia.post(f"/cases/{ticket.id}/reassign", {"agent": "tiago"}).status_code == 400
    assert client("ana").post(f"/cases/{ticket.id}/reassign", {"agent": "ana"}).status_code == 403
    audit = sofia.get("/audit").text
    assert "reveal" in audit and "reassign" in audit


def test_trainers_see_resolved_cases_only(client: Callable[..., Client], desk: Desk) -> None:
    waiting = add_ticket(desk.queue, customer="1")
    done = add_ticket(desk.queue, customer="2")
    desk.queue.resolve(done.id, "ana", "account_request")
    desk.store.store_labels(
        done.id,
        intent="account_request",
        proposed=False,
        language="en",
        texts=["charge me back [iban]"],
        by="ana",
    )
    tiago = client("tiago")
    assert tiago.get("/queue").status_code == 403
    assert tiago.get("/api/queue").status_code == 403
    assert tiago.get(f"/cases/{waiting.id}").status_code == 403
    case = tiago.get(f"/cases/{done.id}")
    assert case.status_code == 200 and "charge me back [iban]" in case.text
    assert IBAN not in case.text and "Reveal personal data" not in case.text
    assert tiago.post(f"/cases/{done.id}/reveal").status_code == 403
    resolved = tiago.get("/resolved").text
    assert f"#{done.id}" in resolved and f"#{waiting.id}<" not in resolved
    # Agents do not see other agents' resolved cases, nor the trainers' pages.
    bruno = client("bruno")
    assert bruno.get(f"/cases/{done.id}").status_code == 403
    assert bruno.get("/resolved").status_code == 403
    assert bruno.get("/canned").status_code == 403
    assert bruno.get("/audit").status_code == 403


# -- replying ----------------------------------------------------------------------------------


def test_reply_goes_out_through_rasa_and_into_the_ticket(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue, customer="1001")
    ana = client("ana")
    answer = ana.post(f"/cases/{ticket.id}/reply", {"text": "Refund done <b>today</b>."})
    assert answer.url.endswith("msg=sent")
    (sent,) = fake_rasa.events("bot")
    assert sent["path"] == "/conversations/telegram:1001/tracker/events"
    assert sent["query"]["output_channel"] == ["latest"]
    assert sent["query"]["execute_side_effects"] == ["true"]
    assert sent["body"]["text"] == "Refund done <b>today</b>."
    metadata = dict(sent["body"]["metadata"])
    assert len(metadata.pop("delivery_id")) == 32  # the desk's id of this answer
    assert metadata == {"source": "desk", "agent": "ana", "ticket": ticket.id}
    stored = desk.queue.get(ticket.id)
    assert stored.transcript[-1].author == "agent"
    assert stored.transcript[-1].text == "Refund done <b>today</b>."
    assert stored.transcript[-1].meta["delivery"] == "delivered"
    assert stored.claimed_by == "ana"
    assert "Refund done &lt;b&gt;today&lt;/b&gt;." in answer.text


def test_reply_when_rasa_fails_sends_and_records_nothing(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    fake_rasa.status = 500
    answer = client("ana").post(f"/cases/{ticket.id}/reply", {"text": "Hello"})
    assert answer.status_code == 502 and "Not sent: Rasa answered an error" in answer.text
    assert ">Hello</textarea>" in answer.text  # the draft is kept
    assert [e.author for e in desk.queue.get(ticket.id).transcript] == ["customer", "bot"]


def test_reply_to_a_case_someone_else_holds_is_refused(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    desk.queue.claim(ticket.id, "ana")
    answer = client("bruno").post(f"/cases/{ticket.id}/reply", {"text": "Hello"})
    assert answer.status_code == 409
    assert fake_rasa.requests == []


def test_the_counter_measures_on_the_customers_channel(
    client: Callable[..., Client], desk: Desk
) -> None:
    public_x = add_ticket(desk.queue, channel="x", customer="maria_s", public=True)
    sms = add_ticket(desk.queue, channel="sms", customer="+351912345678")
    ana = client("ana")

    def measure(ticket_id: int, text: str) -> dict:
        answer = ana.http.post(
            ana.base + "/api/measure",
            data=json.dumps({"ticket": ticket_id, "text": text}),
            headers={"X-CSRF-Token": ana.csrf, "Content-Type": "application/json"},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    x = measure(public_x.id, "Olá! ☕ https://aurora.com/help")
    # "@maria_s " (9) + "Olá! " (5) + ☕ (2) + " " (1) + URL (23) = 40.
    assert (x["kind"], x["used"], x["limit"], x["left"]) == ("weighted", 40, 280, 240)
    assert measure(sms.id, "a" * 160)["used"] == 1
    assert measure(sms.id, "a" * 161)["used"] == 2
    assert measure(sms.id, "ç" * 71)["detail"].startswith("SMS segments (UCS-2")
    over = measure(sms.id, "a" * 400)
    assert over["over"] and over["left"] == -1
    wrong = ana.http.post(ana.base + "/api/measure", json={"ticket": 1, "text": "x"}, timeout=5)
    assert wrong.status_code == 403  # no CSRF header


# -- resolving ---------------------------------------------------------------------------------


def test_resolve_releases_the_conversation_and_labels_the_messages(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue, customer="1001")
    more = Entry(at=dt.datetime.now(UTC), author="customer", text="still waiting\nfor my refund")
    desk.queue.append(ticket.id, [more])
    ana = client("ana")
    ana.post(f"/cases/{ticket.id}/claim")
    done = ana.post(
        f"/cases/{ticket.id}/resolve", {"intent": "account_request", "confirm_unanswered": "1"}
    )
    assert done.url.endswith("/queue?msg=resolved")
    resolved = desk.queue.get(ticket.id)
    assert resolved.status == "resolved" and resolved.resolved_intent == "account_request"
    (release,) = fake_rasa.events("slot")
    assert release["path"] == "/conversations/telegram:1001/tracker/events"
    assert release["body"] == {"event": "slot", "name": "handoff_ticket", "value": None}
    labels = desk.store.labels(ticket_id=ticket.id)
    assert [(e.intent, e.proposed, e.text) for e in labels] == [
        ("account_request", False, "My IBAN is [iban], charge me back"),
        ("account_request", False, "still waiting\nfor my refund"),
    ]


def test_resolve_with_a_proposed_intent(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    ana = client("ana")
    ana.post(f"/cases/{ticket.id}/claim")
    bad = ana.post(f"/cases/{ticket.id}/resolve", {"intent": "__new__", "new_intent": "Bad Name!"})
    assert bad.status_code == 400
    unknown = ana.post(f"/cases/{ticket.id}/resolve", {"intent": "not_an_intent"})
    assert unknown.status_code == 400
    assert desk.queue.get(ticket.id).status == "claimed"
    ana.post(
        f"/cases/{ticket.id}/resolve",
        {"intent": "__new__", "new_intent": "refund_status", "confirm_unanswered": "1"},
    )
    (label,) = desk.store.labels(ticket_id=ticket.id)
    assert (label.intent, label.proposed) == ("refund_status", True)


def test_resolve_while_rasa_is_down_still_resolves(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    fake_rasa.status = 503
    ana = client("ana")
    ana.post(f"/cases/{ticket.id}/claim")
    answer = ana.post(
        f"/cases/{ticket.id}/resolve", {"intent": "complaint", "confirm_unanswered": "1"}
    )
    assert "did not confirm the release" in answer.text
    assert desk.queue.get(ticket.id).status == "resolved"


def test_resolve_a_case_someone_else_holds_is_refused(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    desk.queue.claim(ticket.id, "ana")
    answer = client("bruno").post(f"/cases/{ticket.id}/resolve", {"intent": "complaint"})
    assert answer.status_code == 409
    assert desk.queue.get(ticket.id).status == "claimed" and fake_rasa.requests == []


# -- the case page and canned answers ----------------------------------------------------------


def test_case_page_shows_what_the_agent_needs(client: Callable[..., Client], desk: Desk) -> None:
    earlier = add_ticket(
        desk.queue, customer="1001", created_at=dt.datetime(2026, 2, 1, tzinfo=UTC)
    )
    desk.queue.resolve(earlier.id, "bruno", "faq/roaming")
    ticket = add_ticket(
        desk.queue, customer="1001", language="pt", reasons=["private", "emotional"]
    )
    page = client("ana").get(f"/cases/{ticket.id}").text
    assert "private message" in page and "pt (en_GB)" in page
    assert "It needs the customer&#39;s account" in page and "The customer is upset" in page
    assert "We are checking your bill." in page  # the bot's suggestion
    assert f"#{earlier.id}" in page and "as faq/roaming" in page  # earlier case
    assert "Reembolso a caminho" in page and "Refund on the way" not in page  # canned in pt
    assert "4096" in page  # Telegram's limit
    assert "Mon 02 Mar 21:00" in page  # times in the brand's zone (Lisbon = UTC in March)


def test_supervisors_edit_canned_answers(client: Callable[..., Client], desk: Desk) -> None:
    sofia = client("sofia")
    assert "Reembolso a caminho" in sofia.get("/canned?q=reembolso").text
    sofia.post("/canned", {"language": "it", "title": "Nuovo", "body": "Testo <i>nuovo</i>"})
    (new,) = [a for a in desk.store.canned_answers("it") if a.title == "Nuovo"]
    assert new.updated_by == "sofia"
    sofia.post("/canned", {"id": new.id, "language": "it", "title": "Nuovo", "body": "Cambiato"})
    assert [a.body for a in desk.store.canned_answers("it", "nuovo")] == ["Cambiato"]
    sofia.post(f"/canned/{new.id}/delete")
    assert desk.store.canned_answers("it", "nuovo") == []
    assert sofia.post("/canned", {"language": "xx", "title": "t", "body": "b"}).status_code == 400
    assert (
        client("ana").post("/canned", {"language": "en", "title": "t", "body": "b"}).status_code
        == 403
    )
