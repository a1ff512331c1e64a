"""The supervisors' reports: exact figures on a hand-built night, the CLI, the page and the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from afterhours.cli import main
from bot import turn_log
from bot.settings import load_brand
from desk.app import Desk, create_app
from desk.reports import build_report, csv_text, last_night, parse_range
from desk.server import ThreadedServer, serve_in_thread
from handoff.models import Csat
from handoff.queue import HandoffQueue
from tests.desk.conftest import ROOT, Client, add_ticket

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

UTC = dt.timezone.utc
SINCE = dt.datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # Monday's close (Lisbon is on UTC in March)
UNTIL = dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # Tuesday's opening
NOW = dt.datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
NINE = UNTIL


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def fill_queue(queue: HandoffQueue) -> None:
    """Six tickets in the night, one before it; replies, a resolution, CSAT scores."""
    made = {}
    for name, created, eta in (
        ("before", at(2, 17), at(2, 17, 30)),
        ("t1", at(2, 21), NINE),
        ("t2", at(2, 22), NINE),
        ("t3", at(2, 23), NINE),
        ("t4", at(3, 1), NINE),
        ("t5", at(3, 2), NINE),
        ("t6", at(3, 5), at(3, 13)),  # promised after NOW: pending
        ("at_until", UNTIL, at(3, 9, 30)),
    ):
        made[name] = add_ticket(queue, customer=name, created_at=created, reply_eta=eta).id
    queue.reply(made["before"], "ana", "hello", at=at(2, 17, 10))
    queue.reply(made["t1"], "ana", "hi", at=at(3, 8))  # 660 min, kept
    queue.reply(made["t1"], "ana", "more", at=at(3, 8, 5))  # not the first reply
    queue.reply(made["t2"], "bruno", "hi", at=at(3, 9, 30))  # 690 min, broken
    queue.reply(made["t3"], "ana", "hi", at=NINE)  # 600 min, kept (on the dot)
    queue.resolve(made["t5"], "bruno", "complaint", at=at(3, 8))  # no reply: no promise
    scores = [
        (made["t1"], "ana", 5, at(3, 8, 30)),
        (made["t3"], "ana", 4, at(3, 8, 50)),
        (made["t2"], "bruno", 2, at(3, 8, 55)),
        (made["t5"], "bruno", 1, at(3, 10)),  # after the night
    ]
    with queue.engine.begin() as connection:
        connection.execute(
            Csat.__table__.insert(),
            [
                {
                    "ticket_id": ticket,
                    "agent": agent,
                    "score": score,
                    "channel": "telegram",
                    "language": "en",
                    "answered_at": answered_at,
                }
                for ticket, agent, score, answered_at in scores
            ],
        )


def turn(when: dt.datetime, channel: str, language: str, decision: str, **extra: Any) -> dict:
    return {
        "conversation_id": f"{channel}:1",
        "channel": channel,
        "public": False,
        "language": language,
        "decision": decision,
        "followup": extra.get("followup", False),
        "reason": extra.get("reason"),
        "topic": extra.get("topic"),
        "department": extra.get("department"),
        "ticket_id": extra.get("ticket"),
        "message_at": when,
        "stored_at": when,
    }


TURNS = [
    turn(at(2, 17), "telegram", "en", "answer"),  # before the night
    turn(at(2, 21, 5), "telegram", "en", "answer"),
    turn(at(2, 21, 10), "telegram", "en", "answer"),
    turn(at(2, 22, 30), "x", "pt", "answer"),
    turn(at(3, 3), "sms", "en", "answer"),
    turn(at(2, 21), "telegram", "en", "handoff", reason="private", department="billing"),
    turn(at(2, 22), "x", "pt", "handoff", reason="emotional", department="technical"),
    turn(at(2, 23), "sms", "en", "handoff", reason="complex", department="general"),
    turn(at(2, 21, 30), "telegram", "en", "handoff", followup=True, reason="private"),
    turn(at(2, 22, 45), "x", "pt", "ignore", reason="not_addressed"),
    turn(at(3, 0, 30), "telegram", "en", "ignore", reason="no_reply_needed"),
    turn(at(3, 3, 30), "sms", "en", "csat"),  # a score: a message that needed no answer
    turn(UNTIL, "telegram", "en", "answer"),  # the morning
]


def make_turn_log(path: Path) -> sa.engine.Engine:
    engine = sa.create_engine(f"sqlite:///{path}", future=True)
    turn_log.create_table(engine)
    with engine.begin() as connection:
        turn_log.insert_rows(connection, TURNS)
    return engine


@pytest.fixture
def night(any_db_url: str, tmp_path: Path) -> Iterator[tuple[HandoffQueue, sa.engine.Engine]]:
    queue = HandoffQueue.from_url(any_db_url)
    fill_queue(queue)
    turns = make_turn_log(tmp_path / "trackers.db")
    try:
        yield queue, turns
    finally:
        queue.dispose()
        turns.dispose()


def test_the_figures_of_a_hand_built_night(night: tuple[HandoffQueue, Any]) -> None:
    queue, turns = night
    report = build_report(queue.engine, turns, "Europe/Lisbon", SINCE, UNTIL, NOW)
    assert report["range"] == {
        "since": "2026-03-02T18:00:00+00:00",
        "until": "2026-03-03T09:00:00+00:00",
        "timezone": "Europe/Lisbon",
    }
    assert report["messages"] == {
        "total": 11,
        "by_channel": {"telegram": 5, "x": 3, "sms": 3},
        "by_language": {"en": 8, "pt": 3},
        "by_decision": {"answer": 4, "handoff": 4, "ignore": 2, "csat": 1},
        "followups": 1,
    }
    assert report["containment"] == {"answered_by_bot": 4, "needed_answer": 7, "rate": 0.571}
    assert report["handoffs"] == {
        "total": 3,
        "by_reason": {"private": 1, "emotional": 1, "complex": 1},
        "by_department": {"billing": 1, "technical": 1, "general": 1},
    }
    assert report["ignored"] == {
        "total": 2,
        "by_reason": {"not_addressed": 1, "no_reply_needed": 1},
    }
    hours = {hour: n for hour, n in report["volume_by_hour"].items() if n}
    assert hours == {"21": 4, "22": 3, "23": 1, "00": 1, "03": 2}
    assert report["tickets"] == {"opened": 6, "answered": 3, "resolved": 1, "waiting": 5}
    assert report["first_response"] == {
        "answered": 3,
        "median_minutes": 660.0,
        "p90_minutes": 690.0,
    }
    assert report["promises"] == {"kept": 2, "broken": 2, "pending": 1, "share_kept": 0.5}
    assert report["agents"] == [
        {
            "agent": "ana",
            "cases": 2,
            "first_replies": 2,
            "median_minutes": 630.0,
            "p90_minutes": 660.0,
            "csat_average": 4.5,
            "csat_count": 2,
        },
        {
            "agent": "bruno",
            "cases": 2,
            "first_replies": 1,
            "median_minutes": 690.0,
            "p90_minutes": 690.0,
            "csat_average": 2.0,
            "csat_count": 1,
        },
    ]
    assert report["csat"] == {"average": 3.67, "count": 3}
    monday, tuesday = report["daily"]
    assert monday == {
        "date": "2026-03-02",
        "messages": 8,
        "answered_by_bot": 3,
        "handoffs": 3,
        "ignored": 1,
        "containment": 0.5,
        "tickets_opened": 3,
        "tickets_answered": 3,
        "promises_kept": 2,
        "promises_broken": 1,
        "share_kept": 0.667,
    }
    assert (tuesday["date"], tuesday["messages"], tuesday["containment"]) == ("2026-03-03", 3, 1.0)
    assert (tuesday["tickets_opened"], tuesday["promises_broken"], tuesday["share_kept"]) == (
        3,
        1,
        0.0,
    )
    rows = list(csv.DictReader(io.StringIO(csv_text(report))))
    assert [r["date"] for r in rows] == ["2026-03-02", "2026-03-03", "total"]
    assert (rows[2]["messages"], rows[2]["handoffs"], rows[2]["containment"]) == (
        "11",
        "3",
        "0.571",
    )
    agents = list(csv.DictReader(io.StringIO(csv_text(report, "agents"))))
    assert [(a["agent"], a["median_minutes"]) for a in agents] == [
        ("ana", "630.0"),
        ("bruno", "690.0"),
    ]


def test_without_a_turn_log_the_queue_figures_remain(night: tuple[HandoffQueue, Any]) -> None:
    queue, _turns = night
    report = build_report(queue.engine, None, "Europe/Lisbon", SINCE, UNTIL, NOW)
    assert report["turn_log"] is False and report["messages"]["total"] == 0
    assert report["containment"]["rate"] is None
    assert report["first_response"]["median_minutes"] == 660.0


def test_the_last_night_and_the_ranges() -> None:
    calendar = load_brand(ROOT / "brand.yml").calendar()
    # At night, and the next morning while the desk is open: the same night.
    assert last_night(calendar, at(2, 23)) == (SINCE, UNTIL)
    assert last_night(calendar, at(3, 12)) == (SINCE, UNTIL)
    # Sunday: from Saturday's 14:00 close to Monday's opening.
    assert last_night(calendar, at(8, 12)) == (at(7, 14), at(9, 9))
    assert parse_range("2026-03-02", "2026-03-03", calendar, NOW) == (at(2, 0), at(4, 0))
    assert parse_range("2026-03-02T18:00", "2026-03-03T09:00Z", calendar, NOW) == (SINCE, UNTIL)
    assert parse_range("2026-03-02", None, calendar, NOW) == (at(2, 0), NOW)
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_range("yesterday", None, calendar, NOW)
    with pytest.raises(ValueError, match="empty"):
        parse_range("2026-03-03", "2026-03-01", calendar, NOW)


def endpoints_for(tmp_path: Path) -> Path:
    path = tmp_path / "endpoints.yml"
    path.write_text(
        "tracker_store:\n  type: bot.tracker_store.LeanSQLTrackerStore\n"
        f"  dialect: sqlite\n  db: {tmp_path / 'trackers.db'}\n",
        encoding="utf-8",
    )
    return path


def test_the_cli_prints_the_json(
    night: tuple[HandoffQueue, Any], any_db_url: str, tmp_path: Path, capsys: Any
) -> None:
    args = ["report", "--db", any_db_url, "--endpoints", str(endpoints_for(tmp_path))]
    night_range = ["--since", "2026-03-02T18:00", "--until", "2026-03-03T09:00"]
    assert main([*args, *night_range, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["containment"]["rate"] == 0.571
    assert report["handoffs"]["by_reason"] == {"private": 1, "emotional": 1, "complex": 1}
    assert report["first_response"] == {
        "answered": 3,
        "median_minutes": 660.0,
        "p90_minutes": 690.0,
    }
    # Judged now (long after): the pending promise has been broken too.
    assert (report["promises"]["kept"], report["promises"]["broken"]) == (2, 3)
    assert main([*args, *night_range]) == 0
    table = capsys.readouterr().out
    assert "containment 57%" in table and "ana" in table
    out = tmp_path / "night.csv"
    assert main([*args, *night_range, "--csv", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("date,messages,")


def test_the_cli_refuses_a_bad_date(tmp_path: Path, capsys: Any) -> None:
    db = f"sqlite:///{tmp_path / 'q.db'}"
    assert main(["report", "--db", db, "--since", "2026-02-30"]) == 2
    assert "not an ISO date" in capsys.readouterr().err
    assert main(["report", "--db", db, "--since", "2026-03-03", "--until", "2026-03-01"]) == 2


@pytest.fixture
def report_server(desk: Desk, tmp_path: Path) -> Iterator[ThreadedServer]:
    """The desk served with the night's queue and turn log."""
    fill_queue(desk.queue)  # type: ignore[arg-type]
    app = create_app(desk)
    app.ctx.turn_log = make_turn_log(tmp_path / "trackers.db")
    running = serve_in_thread(app)
    try:
        yield running
    finally:
        running.stop()
        app.ctx.turn_log.dispose()


def signed_in(server: ThreadedServer, username: str) -> Client:
    client = Client(server.url)
    assert client.login(username).status_code == 200
    return client


QUERY = "?since=2026-03-02T18:00&until=2026-03-03T09:00"


def test_the_page_charts_and_csv_for_supervisors_only(report_server: ThreadedServer) -> None:
    sofia = signed_in(report_server, "sofia")
    queue_page = sofia.get("/queue")
    assert 'href="/reports"' in queue_page.text  # one click from the queue
    page = sofia.get("/reports" + QUERY)
    assert page.status_code == 200, page.text[:500]
    assert "57%" in page.text and "containment" in page.text
    assert "<script>" not in page.text and " style=" not in page.text
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    for name in ("hours", "daily", "agents"):
        assert f"/reports/charts/{name}.svg?" in page.text
    chart = sofia.get("/reports/charts/hours.svg" + QUERY.replace("T", "%20"))
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert chart.text.lstrip().startswith("<?xml") and "<svg" in chart.text
    assert " style=" not in chart.text and "<script" not in chart.text
    assert sofia.get("/reports/charts/nope.svg").status_code == 404
    download = sofia.get("/reports.csv" + QUERY)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert rows[-1]["date"] == "total" and rows[-1]["containment"] == "0.571"
    assert sofia.get("/reports?since=garbage").status_code == 400
    assert sofia.get("/reports.csv?table=secrets").status_code == 400
    assert sofia.get("/reports").status_code == 200  # the last night, whenever that is

    ana = signed_in(report_server, "ana")
    assert ana.get("/reports" + QUERY).status_code == 403
    assert ana.get("/reports.csv" + QUERY).status_code == 403
    assert ana.get("/reports/charts/hours.svg").status_code == 403
    assert 'href="/reports"' not in ana.get("/queue").text
    anonymous = Client(report_server.url)
    assert "/login" in anonymous.get("/reports").url


def test_the_page_says_when_the_turn_log_is_missing(
    server: ThreadedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AFTERHOURS_ENDPOINTS", str(tmp_path / "none.yml"))
    page = signed_in(server, "sofia").get("/reports")
    assert page.status_code == 200 and "no turn log" in page.text
