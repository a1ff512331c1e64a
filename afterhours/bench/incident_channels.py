"""The incident night through the SMS and X connectors on loopback (``bench incident``).

The stack is the channel benchmarks' (:func:`afterhours.bench.stack.channel_stack`: the action
server and `rasa run` with the connectors, against the fake Twilio and the fake X). The night's
messages go out in time order (SMS and Telegram lines by SMS, X lines as public mentions); once
every customer had a reply, the incident is resolved and ``afterhours incident send`` sends the
notices through Rasa's HTTP API — killed (SIGKILL) once about a third of them went out, then
started again — and what each customer received is counted on the fake platforms.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from afterhours.bench.stack import NIGHT_BRAND, REPO, Driver, channel_stack

__all__ = ["RESOLVED_MARKS", "channel_night"]

#: The resolution's opening words in each language (data/responses/incident.yml).
RESOLVED_MARKS = ("Good news", "Boas notícias", "Buenas noticias", "Buone notizie")
BATCH = 25


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _resolved(text: str) -> bool:
    """Whether a message a customer received is the resolution (after an @handle, SMS's GSM-7)."""
    plain = _plain(text)
    return any(_plain(mark) in plain for mark in RESOLVED_MARKS)


def _drivers(channels: Sequence[str]) -> dict[str, Driver]:
    from afterhours.bench.channels import SmsDriver
    from afterhours.bench.channels_x import XDriver

    made: dict[str, Driver] = {}
    if "sms" in channels:
        made["sms"] = SmsDriver()
    if "x" in channels:
        made["x"] = XDriver()
    return made


def _route(lines: Sequence[dict[str, Any]], drivers: dict[str, Driver]) -> list[tuple[str, Any]]:
    """Each line's driver and customer key (Telegram lines go by SMS when X is the other)."""
    routed = []
    for index, line in enumerate(lines):
        name = "x" if line["channel"] == "x" and "x" in drivers else next(iter(drivers))
        if line["channel"] != "x" and "sms" in drivers:
            name = "sms"
        text = str(line["text"]).removeprefix("@AuroraCare ")
        routed.append((name, (drivers[name].customer(index), text, line["kind"])))
    return routed


def _send_night(routed: list[tuple[str, Any]], drivers: dict[str, Driver]) -> None:
    """Sends the night in time order, a batch at a time, waiting for each batch's replies."""
    from afterhours.bench.channels import wait_for_replies

    for start in range(0, len(routed), BATCH):
        batch = routed[start : start + BATCH]
        for name, driver in drivers.items():
            mine = [(key, text) for n, (key, text, _kind) in batch if n == name]
            if mine:
                driver.send(mine)
                wait_for_replies(driver, [k for k, _t in mine], timeout=120, settle=0)


def _sender(db_url: str, rasa_url: str, lease: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ, AFTERHOURS_RASA_URL=rasa_url, AFTERHOURS_DB_URL=db_url)
    command = [sys.executable, "-m", "afterhours.cli", "incident", "send", "--db", db_url]
    command += ["--lease-seconds", str(lease), "--per-minute", "1200", "--timeout", "300"]
    return subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _notify_with_a_crash(store: Any, db_url: str, rasa_url: str, total: int) -> dict[str, int]:
    """Runs the sender, kills it mid-send, runs it again to the end; the notices' states."""
    first = _sender(db_url, rasa_url, lease=3.0)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if store.notice_counts().get("sent", 0) >= total // 3:
            break
        time.sleep(0.05)
    killed = first.poll() is None
    if killed:
        os.kill(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(3.5)  # the claims the dead sender left are older than the lease
    second = _sender(db_url, rasa_url, lease=3.0)
    second.wait(timeout=600)
    counts = dict(store.notice_counts())
    counts["killed_mid_send"] = int(killed)
    return counts


def _tickets(engine: Any) -> int:
    """Tickets opened for customers (the incidents' parent cases left out)."""
    from sqlalchemy import func, select

    from handoff.models import Ticket

    with engine.connect() as connection:
        query = select(func.count()).select_from(Ticket).where(Ticket.channel != "incident")
        return int(connection.execute(query).scalar_one())


def channel_night(
    lines: Sequence[dict[str, Any]], model: Path, channels: Sequence[str]
) -> dict[str, object]:
    """The night through the connectors; what the customers received (see module docstring)."""
    from handoff.clock import utc_now
    from handoff.incidents import IncidentStore

    drivers = _drivers(channels)
    routed = _route(lines, drivers)
    with channel_stack(list(drivers.values()), model, brand=NIGHT_BRAND) as stack:
        _send_night(routed, drivers)
        time.sleep(3)
        store = IncidentStore.from_url(stack.db_url, migrate=False)
        try:
            incidents = store.incidents()
            tickets = _tickets(store.engine)
            linked = {link.conversation_id for i in incidents for link in store.links(i.id)}
            for incident in incidents:
                store.post(incident.id, "resolved", {}, "bench", utc_now(), timedelta(hours=1))
            total = sum(store.notice_counts().values())
            states = _notify_with_a_crash(store, stack.db_url, stack.rasa_url, total)
            time.sleep(3)  # late duplicates would show up now
            received = {}
            for name, driver in drivers.items():
                for key, replies in driver.replies().items():
                    received[f"{name}:{key}"] = sum(1 for _at, text in replies if _resolved(text))
        finally:
            store.dispose()
    outage = {f"{n}:{key}" for n, (key, _t, kind) in routed if kind == "outage"}
    routine = {f"{n}:{key}" for n, (key, _t, kind) in routed if kind == "routine"}
    return {
        "incidents": len(incidents),
        "reports linked": f"{len(outage & linked)}/{len(outage)}",
        "routine linked": f"{len(routine & linked)}/{len(routine)}",
        "tickets": tickets,
        "parent cases": len([i for i in incidents if i.ticket_id]),
        "notices": total,
        "notice states": states,
        "resolution received once": sum(1 for c in linked if received.get(c) == 1),
        "lost": sum(1 for c in linked if not received.get(c)),
        "duplicated": sum(1 for c in linked if received.get(c, 0) > 1),
    }
