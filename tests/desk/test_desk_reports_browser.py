"""A supervisor sees the night in charts, in a real browser (Debian's chromium, Playwright)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from desk.server import ThreadedServer
from tests.desk.test_desk_browser import _screenshots, _sign_in
from tests.desk.test_desk_reports import report_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def test_a_supervisor_sees_the_night_in_charts_in_one_click(
    browser_page: Any,
    report_server: ThreadedServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    page, base = browser_page, report_server.url
    _sign_in(page, base, "sofia")
    page.click("nav a[href='/reports']")  # one click from the queue
    page.wait_for_url(base + "/reports")
    # No range asked for and a quiet last night: the latest night with messages is shown.
    assert "containment" in page.content()
    charts = page.locator("img[src^='/reports/charts/']")
    assert charts.count() >= 3
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"img[src^='/reports/charts/']\")]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=60_000,
    )
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.screenshot(path=str(_screenshots(tmp_path) / "desk-reports.png"), full_page=True)
