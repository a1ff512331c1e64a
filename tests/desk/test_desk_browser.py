"""The desk in a real browser: Debian's chromium driven by Playwright.

Sign in, filter, watch the queue update by itself, claim, reveal, reply (the answer reaches a fake
Rasa HTTP API on loopback), resolve; hostile customer text stays text. Screenshots of the queue and
of a case go to $AFTERHOURS_SCREENSHOTS_DIR (benchmarks/screenshots/ for the committed ones), else
to the test's temporary folder.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from desk.app import Desk
from desk.server import ThreadedServer
from handoff.transcript import Entry
from tests.desk.conftest import CHROMIUM, HOSTILE, PASSWORD, UTC, FakeRasa, add_ticket

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]


def _screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("AFTERHOURS_SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _night(desk: Desk) -> dict[str, Any]:
    """A realistic morning queue: four languages, three channels, one case overdue."""
    now = dt.datetime.now(UTC)
    night = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=9)
    soon = now + dt.timedelta(hours=1)
    q = desk.queue
    tickets = {
        "iban": add_ticket(
            q,
            customer="51234",
            channel="telegram",
            created_at=night,
            text="My IBAN is PT50000201231234567890154, you charged me twice "
            "this month and I want it back",
            reasons=["private"],
            need=3,
            reply_eta=soon,
        ),
        "angry": add_ticket(
            q,
            customer="marta_rr",
            channel="x",
            public=True,
            language="pt",
            locale="pt_PT",
            created_at=night + dt.timedelta(minutes=40),
            text="@AuroraCare terceira vez que a internet cai esta semana, vou mudar de operadora",
            reasons=["emotional"],
            need=1,
            department="technical",
            topic="faq/internet_down",
            suggested_answer="Lamentamos! Reinicie o router e veja o estado "
            "da rede em https://status.aurora.example",
            reply_eta=soon,
        ),
        "late": add_ticket(
            q,
            customer="+34612345678",
            channel="sms",
            language="es",
            locale="es_ES",
            created_at=night - dt.timedelta(hours=14),
            text="Quiero hablar con una persona sobre mi contrato",
            reasons=["human_requested"],
            need=3,
            department="sales",
            topic=None,
            suggested_answer=None,
            reply_eta=now - dt.timedelta(minutes=25),
        ),
        "hostile": add_ticket(
            q,
            customer="x_troll",
            channel="telegram",
            created_at=night + dt.timedelta(hours=2),
            text=HOSTILE,
            reasons=["complex"],
            need=3,
            department="general",
            topic=None,
            suggested_answer=None,
            reply_eta=soon,
        ),
        "italian": add_ticket(
            q,
            customer="77881",
            channel="telegram",
            language="it",
            locale="it_IT",
            created_at=night + dt.timedelta(hours=3),
            text="Il mio codice PUK non funziona, aiuto",
            reasons=["complex"],
            need=3,
            department="technical",
            topic="faq/puk_code",
            reply_eta=soon,
        ),
    }
    q.append(
        tickets["angry"].id,
        [
            Entry(
                at=night + dt.timedelta(minutes=45), author="customer", text="e ninguém responde?!"
            )
        ],
        need=1,
    )
    return tickets


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base + "/queue")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/queue")


def test_an_agents_morning(
    browser_page: Any, server: ThreadedServer, desk: Desk, fake_rasa: FakeRasa, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, server.url
    tickets = _night(desk)
    shots = _screenshots(tmp_path)
    _sign_in(page, base, "ana")

    # The queue: most urgent first, the overdue case marked, hostile text as text.
    rows = page.locator("#queue-rows tr")
    assert rows.first.get_attribute("data-ticket") == str(tickets["angry"].id)
    late_row = page.locator(f'tr[data-ticket="{tickets["late"].id}"]')
    assert "overdue" in (late_row.get_attribute("class") or "")
    assert (
        HOSTILE.split("<img")[0]
        in page.locator(f'tr[data-ticket="{tickets["hostile"].id}"] td.msg').inner_text()
    )
    assert page.locator("#queue-rows script, #queue-rows img").count() == 0
    page.screenshot(path=str(shots / "desk-queue.png"))

    # Filter by language.
    page.select_option("select[name=language]", "it")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/queue?*language=it*")
    assert page.locator("#queue-rows tr").count() == 1
    page.select_option("select[name=language]", "")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/queue?*")

    # A case arriving now appears without a reload.
    arrived = add_ticket(desk.queue, customer="90001", text="Where is my refund?")
    page.wait_for_selector(f'tr[data-ticket="{arrived.id}"]', timeout=10_000)

    # Open the Telegram case with an IBAN: masked; claim; reveal (audited).
    case = tickets["iban"]
    page.click(f'tr[data-ticket="{case.id}"] a')
    page.wait_for_url(f"{base}/cases/{case.id}")
    transcript = page.locator(".transcript").inner_text()
    assert "[iban]" in transcript and "PT5000020123" not in transcript
    page.click("text=Claim this case")
    page.wait_for_url(f"{base}/cases/{case.id}?msg=claimed")

    # Write with a canned answer found by search; the counter follows the channel's limit.
    page.fill("#canned-search", "refund")
    visible = page.locator("#canned-list li:not([hidden])")
    assert visible.count() == 1
    visible.locator("button.insert").click()
    expected = 4096 - len(page.locator("#answer").input_value())
    assert expected < 4096
    expect(page.locator("#counter")).to_contain_text(f"{expected} left of 4096")
    page.screenshot(path=str(shots / "desk-case.png"), full_page=True)

    page.click("text=Reveal personal data (audited)")
    page.wait_for_selector(".badge.revealed")
    assert "PT50000201231234567890154" in page.locator(".transcript").inner_text()
    assert [e.username for e in desk.store.audit_log(action="reveal")] == ["ana"]

    # Reply: it reaches the customer's channel through Rasa, and the ticket.
    page.fill("#answer", "I've refunded the second charge; you'll see it within 10 days.")
    page.click("text=Send to the customer")
    page.wait_for_url(f"{base}/cases/{case.id}?msg=sent")
    (sent,) = fake_rasa.events("bot")
    assert sent["path"] == f"/conversations/telegram:{case.customer}/tracker/events"
    assert sent["query"]["output_channel"] == ["latest"]
    assert sent["body"]["text"].startswith("I've refunded the second charge")
    assert "I've refunded the second charge" in page.locator(".line.agent").inner_text()

    # Resolve as a proposed new intent: the conversation goes back to the bot.
    page.select_option("#intent", "__new__")
    page.fill("#new-intent", "double_charge")
    page.click("text=Resolve and give the conversation back to the bot")
    page.wait_for_url(f"{base}/queue?msg=resolved")
    released, question = fake_rasa.events("slot")
    assert released["body"] == {"event": "slot", "name": "handoff_ticket", "value": None}
    assert question["body"]["name"] == "csat"  # the customer is asked for a score (brand.yml)
    assert desk.queue.get(case.id).resolved_intent == "double_charge"
    assert page.locator(f'tr[data-ticket="{case.id}"]').count() == 0


def test_another_agent_cannot_take_or_reveal_a_claimed_case(
    browser_page: Any, server: ThreadedServer, desk: Desk
) -> None:
    page, base = browser_page, server.url
    case = add_ticket(desk.queue)
    desk.queue.claim(case.id, "ana")
    _sign_in(page, base, "bruno")
    page.goto(f"{base}/cases/{case.id}")
    assert page.locator("text=Reveal personal data").count() == 0
    page.click("text=Claim this case")
    page.wait_for_url(f"{base}/cases/{case.id}?msg=taken")
    assert "Another agent holds this case" in page.inner_text(".flash")
    assert desk.queue.get(case.id).claimed_by == "ana"
