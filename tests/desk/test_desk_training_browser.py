"""The training page in a real browser (Debian's chromium driven by Playwright).

A trainer signs in, accepts a labelled message under another intent and excludes another; the
export then holds the first under the new intent and not the second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from desk.app import Desk
from desk.export import export_training
from desk.server import ThreadedServer
from tests.desk.conftest import CHROMIUM, PASSWORD, add_ticket

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]


def test_a_trainer_reviews_and_exports(
    browser_page: Any, server: ThreadedServer, desk: Desk, tmp_path: Path
) -> None:
    ticket = add_ticket(desk.queue, customer="61")
    resolved = desk.queue.resolve(ticket.id, "ana", "account_request")
    desk.store.store_labels(
        ticket.id,
        intent="account_request",
        proposed=False,
        language="en",
        texts=[e.masked_text for e in resolved.transcript if e.author == "customer"]
        + ["does roaming work in France"],
        by="ana",
    )
    first, second = desk.store.labels(ticket_id=ticket.id)
    page, base = browser_page, server.url
    page.goto(base + "/training")
    assert "/login" in page.url
    page.fill("input[name=username]", "tiago")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(base + "/training")
    page.click("nav >> text=Training")
    row = page.locator(f"#example-{second.id}")
    assert "does roaming work in France" in row.inner_text()
    assert "PT50000201231234567890154" not in page.content()
    row.locator("select[name=intent]").select_option("faq/roaming")
    row.locator("button[value=edit]").click()
    page.wait_for_url("**/training?state=pending&msg=saved")
    assert page.locator(f"#example-{second.id}").count() == 0  # no longer pending
    page.locator(f"#example-{first.id} button[value=exclude]").click()
    page.wait_for_url("**/training?state=pending&msg=saved")
    assert "No labelled messages here." in page.content()
    page.click("text=accepted (1)")
    accepted = page.locator(f"#example-{second.id}")
    assert "faq/roaming" in accepted.inner_text() and "tiago" in accepted.inner_text()
    page.screenshot(path=str(tmp_path / "training.png"), full_page=True)

    written = export_training(desk.store.labels(), tmp_path / "out")
    nlu = yaml.safe_load(written["en"].read_text(encoding="utf-8"))["nlu"]
    assert nlu == [{"intent": "faq/roaming", "examples": "- does roaming work in France\n"}]
    actions = [e.action for e in desk.store.audit_log() if e.action.startswith("training_")]
    assert sorted(actions) == ["training_edit", "training_exclude"]
