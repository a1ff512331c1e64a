"""A public case moved to private (issue 18): the case page shows where the conversation went,
and the agent's answer goes to the private side once it exists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from desk.app import Desk
from handoff.transcript import Entry
from tests.desk.conftest import T0, Client, FakeRasa, add_ticket


def _public_case(desk: Desk, routes: list[tuple[str, str]]) -> int:
    lines = [Entry(at=T0, author="customer", text="@AuroraCare my bill is wrong")]
    lines += [
        Entry(
            at=T0 + dt.timedelta(seconds=index + 1),
            author=author,
            text=f"line {index}",
            metadata={"route": route, "public": False, "visibility": "private"},
        )
        for index, (author, route) in enumerate(routes)
    ]
    ticket = add_ticket(
        desk.queue,
        channel="x",
        customer="rita",
        public=True,
        reasons=["complex"],
        text="@AuroraCare my bill is wrong",
        transcript=lines,
    )
    return int(ticket.id)


@pytest.mark.parametrize(
    ("routes", "visibility"),
    [
        ([("bot", "dm_delivered")], "private"),
        ([("bot", "dm_refused"), ("customer", "first_private_message")], "private"),
        ([("bot", "dm_refused")], None),  # no private side yet: where the customer wrote
    ],
)
def test_the_answer_goes_to_the_private_side_once_it_exists(
    client: Callable[..., Client],
    desk: Desk,
    fake_rasa: FakeRasa,
    routes: list[tuple[str, str]],
    visibility: str | None,
) -> None:
    ticket = _public_case(desk, routes)
    answer = client("ana").post(f"/cases/{ticket}/reply", {"text": "Fixed."})
    assert answer.status_code == 200
    [sent] = fake_rasa.events("bot")
    assert sent["body"]["metadata"].get("visibility") == visibility


def test_the_case_page_shows_each_lines_route(client: Callable[..., Client], desk: Desk) -> None:
    ticket = _public_case(desk, [("bot", "dm_refused"), ("bot", "link_sent")])
    page = client("ana").get(f"/cases/{ticket}")
    assert '<span class="route">dm refused</span>' in page.text
    assert '<span class="route">link sent</span>' in page.text
