"""An agent's tools over HTTP: my cases, search, internal notes, filters kept, canned answers with
placeholders, the shipped canned answers and their seeding."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from desk.app import Desk
from desk.notes import MAX_NOTE
from desk.seed import SEED_FILE, seed_canned
from handoff.transcript import Entry
from handoff.views import MAX_SEARCH
from tests.desk.conftest import HOSTILE, UTC, Client, FakeRasa, add_ticket

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

IBAN = "PT50000201231234567890154"


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="[^"]*" data-ticket="(\d+)"', page)]


# -- my cases, filters -------------------------------------------------------------------------


def test_my_cases_shows_what_i_hold(client: Callable[..., Client], desk: Desk) -> None:
    mine = add_ticket(desk.queue, customer="1")
    bruno_s = add_ticket(desk.queue, customer="2")
    free = add_ticket(desk.queue, customer="3")
    desk.queue.claim(mine.id, "ana")
    desk.queue.claim(bruno_s.id, "bruno")
    ana = client("ana")
    assert set(_ids(ana.get("/queue").text)) == {mine.id, bruno_s.id, free.id}
    page = ana.get("/queue?mine=1").text
    assert _ids(page) == [mine.id] and 'class="tab current" id="tab-mine"' in page
    assert f'data-ticket="{bruno_s.id}"' not in ana.get("/api/queue?mine=1").json()["rows"]
    assert _ids(ana.get("/queue?mine=1&language=pt").text) == []
    desk.queue.resolve(mine.id, "ana", "account_request")
    assert _ids(ana.get("/queue?mine=1").text) == []  # resolved: no longer "my case"
    assert _ids(client("bruno").get("/queue?mine=1").text) == [bruno_s.id]


def test_an_empty_take_next_keeps_the_filters(client: Callable[..., Client], desk: Desk) -> None:
    add_ticket(desk.queue, language="en")
    ana = client("ana")
    answer = ana.post("/queue/next?language=pt&channel=telegram")
    assert answer.status_code == 200
    assert answer.url.endswith("/queue?language=pt&channel=telegram&msg=none_free")
    assert "No free case matches these filters" in answer.text
    assert '<option value="pt" selected>' in answer.text
    assert ana.post("/queue/next?language=xx").url.endswith("/queue?msg=none_free") is False


# -- search ------------------------------------------------------------------------------------


def test_search_by_number_customer_and_text(client: Callable[..., Client], desk: Desk) -> None:
    now = dt.datetime.now(UTC)
    iban = add_ticket(desk.queue, customer="marta_rr", channel="x", public=True)
    sms = add_ticket(
        desk.queue, customer="+351912345678", channel="sms", text="Quero falar com alguém"
    )
    router = add_ticket(desk.queue, customer="7001", text="My router_box 50% broken")
    desk.queue.resolve(router.id, "bruno", "faq/internet_down", at=now)
    sofia = client("sofia")
    assert _ids(sofia.get(f"/search?q=%23{sms.id}").text) == [sms.id]
    assert sms.id in _ids(sofia.get(f"/search?q={sms.id}").text)
    assert _ids(sofia.get("/search?q=MARTA").text) == [iban.id]
    page = sofia.get("/search?q=678").text
    assert _ids(page) == [sms.id] and "+351912345678" not in page and "…678" in page
    assert _ids(sofia.get("/search?q=falar com").text) == [sms.id]
    # Resolved cases are found too; LIKE's wildcards are literal.
    assert _ids(sofia.get("/search?q=50%25 broken").text) == [router.id]
    assert _ids(sofia.get("/search?q=router_box").text) == [router.id]
    assert _ids(sofia.get("/search?q=router%25box").text) == []
    # Personal data is searched as shown: masked.
    assert _ids(sofia.get(f"/search?q={IBAN}").text) == []
    assert iban.id in _ids(sofia.get("/search?q=charge me back").text)
    assert _ids(sofia.get("/search?q=").text) == []
    assert _ids(sofia.get("/search?q=" + "x" * 5000).text) == []  # cut, not a 500


def test_search_pages_and_roles(client: Callable[..., Client], desk: Desk) -> None:
    tickets = [
        add_ticket(desk.queue, customer=f"c{i}", text=f"refund please {i}") for i in range(55)
    ]
    desk.queue.resolve(tickets[0].id, "bruno", "account_request")
    sofia = client("sofia")
    first = sofia.get("/search?q=refund").text
    assert len(_ids(first)) == 50 and "55 case(s) match" in first and 'rel="next"' in first
    second = sofia.get("/search?q=refund&page=2").text
    assert len(_ids(second)) == 5 and 'rel="prev"' in second and 'rel="next"' not in second
    assert set(_ids(first)) | set(_ids(second)) == {t.id for t in tickets}
    assert sofia.get("/search?q=refund&page=abc").status_code == 200
    # Agents see waiting cases and their own resolved ones, as everywhere.
    assert tickets[0].id not in _ids(client("ana").get("/search?q=refund").text)
    assert tickets[0].id in _ids(client("bruno").get("/search?q=refund&page=1").text + second)
    assert client("tiago").get("/search?q=refund").status_code == 403
    hostile = sofia.get("/search", params={"q": HOSTILE}).text
    assert "<script>alert" not in hostile
    assert len(desk.queue.search("y" * (MAX_SEARCH * 3)).tickets) == 0


# -- notes -------------------------------------------------------------------------------------


def test_internal_notes_stay_on_the_desk(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    ana = client("ana")
    added = ana.post(f"/cases/{ticket.id}/notes", {"note": "Customer called before: <b>VIP</b>"})
    assert added.status_code == 200 and "Note added" in added.text
    assert "Customer called before: &lt;b&gt;VIP&lt;/b&gt;" in added.text
    assert 'class="note"' in added.text
    assert fake_rasa.requests == []  # never sent to the customer
    assert "VIP" not in str(desk.queue.get(ticket.id).transcript[-1].text)
    (audited,) = desk.store.audit_log(action="note")
    assert audited.username == "ana" and audited.ticket_id == ticket.id
    assert "VIP" not in str(audited.detail)
    assert "VIP" in client("sofia").get(f"/cases/{ticket.id}").text
    assert ana.post(f"/cases/{ticket.id}/notes", {"note": "   "}).status_code == 400
    too_long = ana.post(f"/cases/{ticket.id}/notes", {"note": "x" * (MAX_NOTE + 1)})
    assert too_long.status_code == 400
    assert ana.post("/cases/9999/notes", {"note": "hi"}).status_code == 404
    assert client("tiago").post(f"/cases/{ticket.id}/notes", {"note": "hi"}).status_code == 403
    assert ana.post(f"/cases/{ticket.id}/notes", {"note": "x"}, csrf="wrong").status_code == 403
    assert len(desk.store.audit_log(action="note")) == 1


# -- canned answers ------------------------------------------------------------------------------


def _canned_texts(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'class="insert" data-text="([^"]*)"', page)]


def test_canned_answers_are_filled_for_the_customer(
    client: Callable[..., Client], desk: Desk
) -> None:
    handed = dt.datetime.now(UTC)
    named = add_ticket(
        desk.queue,
        customer="51",
        suggested_answer=None,
        transcript=[
            Entry(
                at=handed,
                author="customer",
                text="help",
                metadata={"platform": {"first_name": "Marta Sousa"}},
            )
        ],
    )
    anonymous = add_ticket(desk.queue, customer="52", suggested_answer=None)
    portuguese = add_ticket(
        desk.queue,
        customer="53",
        language="pt",
        locale="pt_PT",
        suggested_answer=None,
        reply_eta=dt.datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
    )
    ana = client("ana")
    texts = _canned_texts(ana.get(f"/cases/{named.id}").text)
    assert "Hi Marta, I'm Ana from Aurora. Thanks for waiting." in " ".join(texts)
    texts = _canned_texts(ana.get(f"/cases/{anonymous.id}").text)
    assert any(t.startswith("Hi, I'm Ana from Aurora.") for t in texts)
    assert any(t.startswith("Sorry for the wait, and thanks") for t in texts)
    assert not any("{" in t for t in texts)
    texts = _canned_texts(ana.get(f"/cases/{portuguese.id}").text)
    assert any("até segunda-feira, 1 de março, às 09:00 (hora de Lisboa)" in t for t in texts)


def test_a_canned_answer_with_an_unknown_placeholder_is_refused(
    client: Callable[..., Client], desk: Desk
) -> None:
    sofia = client("sofia")
    typo = sofia.post("/canned", {"language": "en", "title": "t", "body": "Hi {firstname}"})
    assert typo.status_code == 400 and "{firstname}" in typo.text
    fine = sofia.post("/canned", {"language": "en", "title": "t", "body": "Hi {first_name}"})
    assert fine.status_code == 200
    assert "{first_name}" in sofia.get("/canned").text


def test_the_shipped_canned_answers() -> None:
    entries = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    for language in ("en", "pt", "es", "it"):
        mine = [e for e in entries if e["language"] == language]
        assert len(mine) >= 8, language
        assert len({e["title"] for e in mine}) == len(mine)
    text = {
        lang: " ".join(e["body"] for e in entries if e["language"] == lang)
        for lang in ["es", "it", "pt"]
    }
    # The bot's register: Spanish and Italian say "tú"/"tu"; Portuguese is European.
    for formal in ("usted", " su cuenta", " le respondo", "envíenos"):
        assert formal not in text["es"].lower()
    for formal in (" le rispondo", " suo account", " ci scriva", "sua situazione"):
        assert formal not in text["it"].lower()
    for brazilian in ("você", "equipe", "celular", "contato"):
        assert brazilian not in text["pt"].lower()
    for entry in entries:
        leftover = set(re.findall(r"\{([a-z_]+)\}", entry["body"])) - {"first_name", "agent", "eta"}
        assert leftover == set(), entry["title"]
        asked = entry["body"].lower()
        for data in ("account number", "número de cliente", "iban", "numero cliente", "nif", "dni"):
            assert data not in asked, entry["title"]


def test_unedited_shipped_answers_are_refreshed(desk: Desk, tmp_path: Path) -> None:
    old = tmp_path / "old.yml"
    old.write_text(
        "- {language: es, title: Viejo, body: Le respondo en breve.}\n"
        "- {language: es, title: Editado, body: Texto}\n",
        encoding="utf-8",
    )
    for answer in desk.store.canned_answers():
        desk.store.delete_canned(answer.id)
    assert seed_canned(desk.store, old) == 2
    (edited,) = [a for a in desk.store.canned_answers("es") if a.title == "Editado"]
    desk.store.save_canned(
        language="es", title="Editado", body="Mío", by="sofia", answer_id=edited.id
    )
    new = tmp_path / "new.yml"
    new.write_text(
        "- {language: es, title: Nuevo, body: Te respondo en breve.}\n"
        "- {language: es, title: Editado, body: Texto nuevo}\n",
        encoding="utf-8",
    )
    assert seed_canned(desk.store, new) == 1
    bodies = {a.title: a.body for a in desk.store.canned_answers("es")}
    assert bodies == {"Nuevo": "Te respondo en breve.", "Editado": "Mío"}
    assert seed_canned(desk.store, new) == 0  # up to date
