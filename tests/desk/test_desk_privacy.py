"""The desk's Privacy page: supervisors look a customer up, download their data, erase it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from desk.app import Desk
from desk.privacy import PRIVACY_KEY_ENV
from tests.desk.conftest import Client
from tests.privacy_support import (
    CUSTOMERS,
    IBAN,
    NEEDLES,
    OTHER_TEXT,
    PHONE,
    Built,
    build,
    endpoints_file,
    scan,
)

UTC = dt.timezone.utc
WHO = " ".join(c.conversation_id for c in CUSTOMERS)


@pytest.fixture
def world(desk: Desk, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Built:
    """The customer everywhere, in the desk's database and a tracker store of its own."""
    monkeypatch.setenv(PRIVACY_KEY_ENV, "a-long-random-secret-for-the-tests")
    tracker = tmp_path / "trackers.db"
    endpoints = endpoints_file(tmp_path, tracker)
    monkeypatch.setenv("AFTERHOURS_ENDPOINTS", str(endpoints))
    at = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    return build(db_url, f"sqlite:///{tracker}", endpoints, at, None)


def test_only_supervisors_open_the_privacy_page(
    world: Built, client: Callable[[str | None], Client]
) -> None:
    for name in ("ana", "tiago"):
        made = client(name)
        assert "/privacy" not in made.get("/queue" if name == "ana" else "/resolved").text
        assert made.get("/privacy").status_code == 403
        answer = made.post("/privacy/erase", {"customers": WHO, "confirm": WHO})
        assert answer.status_code == 403
        assert made.post("/privacy/export", {"customers": WHO}).status_code == 403
    assert (
        client(None).post("/privacy/erase", {"customers": WHO, "confirm": WHO}).status_code == 401
    )
    assert {n for _, n in scan(world.stores)} == set(NEEDLES)
    sofia = client("sofia")
    assert 'href="/privacy"' in sofia.get("/queue").text


def test_a_supervisor_looks_up_downloads_and_erases(
    world: Built, desk: Desk, client: Callable[[str | None], Client]
) -> None:
    sofia = client("sofia")
    assert sofia.get("/privacy").status_code == 200
    found = sofia.post("/privacy", {"customers": WHO.replace(" ", ", ")})
    assert found.status_code == 200
    assert "Messages (tracker store)</td><td>3" in found.text
    assert IBAN not in found.text  # counts only on the page
    download = sofia.post("/privacy/export", {"customers": WHO})
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    document = download.json()
    assert len(document["stores"]["channels"]["messages"]) == 3
    assert IBAN in json.dumps(document) and OTHER_TEXT not in json.dumps(document)

    wrong = sofia.post(
        "/privacy/erase", {"customers": WHO, "confirm": CUSTOMERS[0].conversation_id}
    )
    assert wrong.status_code == 400 and "nothing was erased" in wrong.text
    assert {n for _, n in scan(world.stores)} == set(NEEDLES)

    erased = sofia.post("/privacy/erase", {"customers": WHO, "confirm": WHO})
    assert erased.status_code == 200 and "tracker_store.events" in erased.text
    assert scan(world.stores) == []
    actions = [e.action for e in desk.store.audit_log(limit=20)]
    assert {"privacy_search", "privacy_export", "privacy_erase"} <= set(actions)
    audit_page = sofia.get("/audit").text
    assert PHONE not in audit_page and "privacy_erase" in audit_page


def test_bad_customer_ids_are_a_400(world: Built, client: Callable[[str | None], Client]) -> None:
    sofia = client("sofia")
    for typed in ("", "nonsense", "sms", " ".join(["sms:+1"] * 11)):
        answer = sofia.post("/privacy", {"customers": typed})
        assert answer.status_code == 400, typed
    assert sofia.post("/privacy/erase", {"customers": "x:"}).status_code == 400
