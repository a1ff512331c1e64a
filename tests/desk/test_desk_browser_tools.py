"""The agent's tools in a real browser (Debian's chromium, Playwright): the case page follows the
conversation, the shortcuts' help, j/k and Enter, a phone-width queue, the unanswered warning."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from desk.app import Desk
from desk.server import ThreadedServer
from handoff.transcript import Entry
from tests.desk.conftest import ARGS, CHROMIUM, HOSTILE, PASSWORD, UTC, add_ticket

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]


@pytest.fixture
def open_page() -> Iterator[Callable[..., Any]]:
    """Open chromium pages of a given width; any script error or dialog fails the test."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        def make(width: int = 1280, height: int = 800) -> Any:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
            return page

        try:
            yield make
        finally:
            browser.close()
    assert problems == []


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base + "/queue")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/queue")


def test_the_case_page_picks_up_a_new_message_without_reload(
    open_page: Callable[..., Any], server: ThreadedServer, desk: Desk
) -> None:
    from playwright.sync_api import expect

    page, base = open_page(), server.url
    ticket = add_ticket(desk.queue)
    _sign_in(page, base, "ana")
    page.goto(f"{base}/cases/{ticket.id}")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#case-state")).to_have_text("waiting")
    desk.queue.append(
        ticket.id,
        [
            Entry(
                at=dt.datetime.now(UTC) + dt.timedelta(minutes=1),
                author="customer",
                text="Still there? IBAN PT50000201231234567890154 " + HOSTILE,
                personal_data=[{"kind": "iban", "start": 18, "end": 43}],
            )
        ],
    )
    fresh = page.locator("#lines li.line.customer.fresh")
    expect(fresh).to_have_count(1, timeout=10_000)
    text = fresh.locator(".text").inner_text()
    assert text.startswith("Still there? IBAN [iban] <script>")  # masked, and text only
    assert page.locator("#lines script, #lines img").count() == 0
    assert page.evaluate("window.notReloaded") is True
    # An agent's answer arrives the same way, named, and the state follows.
    desk.queue.reply(ticket.id, "bruno", "Bruno here, on it.")
    expect(page.locator("#lines li.line.agent.fresh")).to_contain_text("agent · Bruno")
    expect(page.locator("#case-state")).to_have_text("awaiting customer")


def test_the_shortcuts_help_and_j_k_enter(
    open_page: Callable[..., Any], server: ThreadedServer, desk: Desk
) -> None:
    page, base = open_page(), server.url
    first = add_ticket(desk.queue, customer="1", need=1)
    second = add_ticket(desk.queue, customer="2", need=3)
    _sign_in(page, base, "ana")
    page.keyboard.press("?")
    help_box = page.locator("#shortcuts")
    assert help_box.is_visible() and "j / k" in help_box.inner_text()
    page.keyboard.press("Escape")
    assert not help_box.is_visible()
    # Typing in a field fires nothing.
    page.click("#search")
    page.keyboard.type("j?")
    assert page.input_value("#search") == "j?" and not help_box.is_visible()
    page.locator("#search").blur()
    page.keyboard.press("j")
    assert page.locator("#queue-rows tr.selected").get_attribute("data-ticket") == str(first.id)
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("j")
    assert page.locator("#queue-rows tr.selected").get_attribute("data-ticket") == str(second.id)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/cases/{second.id}")
    page.keyboard.press("c")  # claim
    page.wait_for_url(f"{base}/cases/{second.id}?msg=claimed")
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "answer"
    page.locator("#answer").blur()
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "note"
    page.locator("#note").blur()
    page.keyboard.press("g")
    page.keyboard.press("q")
    page.wait_for_url(f"{base}/queue")


def test_the_queue_fits_a_phone(
    open_page: Callable[..., Any], server: ThreadedServer, desk: Desk, tmp_path: Path
) -> None:
    page, base = open_page(390, 844), server.url
    add_ticket(desk.queue, customer="marta_rr", channel="x", public=True, text="a" * 300)
    add_ticket(desk.queue, customer="+351912345678", channel="sms", text=HOSTILE)
    add_ticket(
        desk.queue,
        customer="7",
        reasons=["private", "emotional", "human_requested"],
        reply_eta=dt.datetime.now(UTC) - dt.timedelta(hours=1),
        text="https://example.com/" + "x" * 200,
    )
    _sign_in(page, base, "sofia")
    assert page.locator("#queue-rows tr[data-ticket]").count() == 3
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, width
    page.screenshot(path=str(tmp_path / "queue-390.png"), full_page=True)
    page.goto(f"{base}/search?q=a")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390


def test_resolving_with_an_unanswered_message_warns(
    open_page: Callable[..., Any], server: ThreadedServer, desk: Desk
) -> None:
    page, base = open_page(), server.url
    ticket = add_ticket(desk.queue)
    desk.queue.claim(ticket.id, "ana")
    _sign_in(page, base, "ana")
    page.goto(f"{base}/cases/{ticket.id}")
    warning = page.locator("#unanswered-warning")
    assert not warning.is_visible()
    page.select_option("#intent", "account_request")
    page.click("text=Resolve and give the conversation back to the bot")
    assert warning.is_visible() and "no answer yet" in warning.inner_text()
    assert page.url == f"{base}/cases/{ticket.id}"
    assert desk.queue.get(ticket.id).status == "claimed"
    page.check("#confirm-unanswered")
    page.click("text=Resolve and give the conversation back to the bot")
    page.wait_for_url(f"{base}/queue?msg=resolved*")
    assert desk.queue.get(ticket.id).status == "resolved"
