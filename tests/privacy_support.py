"""A customer's data in every store, for the privacy tests: build it, then look for it.

:func:`build` writes one customer (SMS, X and Telegram, all carrying the same personal data) and
one bystander into a tracker store (through the product's LeanSQLTrackerStore), the channels'
inbox, the queue, the desk's tables; :func:`scan` finds any trace of them in every table, and
:func:`scan_files` in a SQLite file's bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels import deliveries
from bot.channels.inbox import Inbox
from bot.channels.inbox import migrate as migrate_channels
from bot.channels.private_links import create_token
from bot.inbound import Inbound
from bot.tracker_store import LeanSQLTrackerStore
from desk.db import migrate as migrate_desk
from desk.notes import add_note
from desk.privacy import Customer, Stores
from desk.store import DeskStore
from handoff.incidents import IncidentStore, Report, Rules
from handoff.queue import HandoffQueue
from handoff.transcript import Entry

UTC = dt.timezone.utc
DOMAIN = Domain.from_yaml("slots:\n  triage:\n    type: any\n    mappings: []\n")

PHONE = "+351912345678"
HANDLE = "anna_pt_2026"
TELEGRAM_ID = "7734251190"
IBAN = "PT50000201231234567890154"
EMAIL = "anna.silva@example.com"
NAME = "Anna Silva"
SECRET = "zebracrossing"
NOTE = "customer prefers calls after six, flamingo"
AGENT_ANSWER = "Dear Anna Silva, the refund is on its way (pelican)"
#: Every trace of the customer.
NEEDLES = (
    PHONE,
    "351912345678",
    HANDLE,
    TELEGRAM_ID,
    IBAN,
    EMAIL,
    NAME,
    SECRET,
    "flamingo",
    "pelican",
)
CUSTOMERS = [Customer("sms", PHONE), Customer("x", HANDLE), Customer("telegram", TELEGRAM_ID)]
#: The bystander, who must keep everything.
OTHER = Customer("telegram", "5550001")
OTHER_TEXT = "keepme banana please"


def message_text(channel: str) -> str:
    return f"Hi I am {NAME}, IBAN {IBAN}, mail {EMAIL}, phone {PHONE} {SECRET} via {channel}"


@dataclass
class Built:
    """What :func:`build` made."""

    stores: Stores
    tickets: dict[str, int] = field(default_factory=dict)
    endpoints: Path | None = None


def tracker_store(url: str) -> LeanSQLTrackerStore:
    """The product's tracker store on a SQLite or PostgreSQL URL."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return LeanSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=parsed.database)
    return LeanSQLTrackerStore(
        domain=DOMAIN,
        dialect="postgresql",
        host=parsed.host,
        port=parsed.port,
        db=parsed.database,
        username=parsed.username,
        query=dict(parsed.query),
    )


async def _conversation(
    store: LeanSQLTrackerStore, customer: Customer, text: str, ticket: int, at: dt.datetime
) -> None:
    answer = "ok" if customer == OTHER else AGENT_ANSWER
    tracker = DialogueStateTracker(customer.conversation_id, DOMAIN.slots)
    metadata = {"channel": customer.channel, "sender": customer.sender, "at": at.isoformat()}
    parse = {"intent": {"name": "account_request", "confidence": 0.9}, "text": text}
    triage = {"decision": "handoff", "reasons": ["private"], "language": "en", "ticket": ticket}
    for event in (  # the turn of a handoff, then the desk's answer sent through Rasa
        UserUttered(text, parse["intent"], parse_data=parse, metadata=metadata),
        ActionExecuted("action_handoff"),
        SlotSet("triage", triage),
        BotUttered(f"Thanks {customer.sender}, a colleague answers tomorrow"),
        BotUttered(answer, metadata={"delivery_id": f"d-{customer.channel}"}),
        ActionExecuted("action_listen"),
    ):
        tracker.update(event)
    await store.save(tracker)


def _ticket(queue: HandoffQueue, customer: Customer, text: str, at: dt.datetime) -> int:
    ticket = queue.open_ticket(
        channel=customer.channel,
        conversation_id=customer.conversation_id,
        customer=customer.sender,
        public=False,
        language="en",
        locale="en_GB",
        reasons=["private"],
        need=3,
        department="billing",
        topic="account_request",
        suggested_answer=f"Hello @{customer.sender}",
        reply_eta=at + dt.timedelta(hours=10),
        created_at=at,
        transcript=[
            Entry(at=at, author="customer", text=text, personal_data=[], metadata={}),
            Entry(at=at, author="bot", text="A colleague answers tomorrow."),
        ],
    )
    return int(ticket.id)


def build(
    queue_url: str, tracker_url: str, endpoints: Path, at: dt.datetime, key: str | None
) -> Built:
    """Writes the customer and the bystander everywhere; returns the stores."""
    queue = HandoffQueue.from_url(queue_url)
    migrate_desk(queue.engine)
    migrate_channels(queue.engine)
    desk = DeskStore(queue.engine)
    inbox = Inbox(queue.engine, clock=lambda: at)
    store = tracker_store(tracker_url)
    built = Built(
        stores=Stores(queue=queue.engine, tracker=store.engine, endpoints=endpoints),
        endpoints=endpoints,
    )
    incidents = IncidentStore(queue.engine)
    incidents.declare("outage", None, "sofia", at, dt.timedelta(hours=1))
    for index, customer in enumerate([*CUSTOMERS, OTHER]):
        text = OTHER_TEXT if customer is OTHER else message_text(customer.channel)
        report = Report(
            conversation_id=customer.conversation_id,
            customer=customer.sender,
            kind="outage",
            area=None,
            channel=customer.channel,
            public=False,
            language="en",
            text=text,
            at=at,
        )
        incidents.note_report(report, Rules())  # a report and a link to the open incident
        ticket = _ticket(queue, customer, text, at)
        built.tickets[customer.conversation_id] = ticket
        asyncio.run(_conversation(store, customer, text, ticket, at))
        inbound = Inbound(customer.channel, customer.sender, text, False, at, {"id": index})
        entry = inbox.record(customer.channel, f"p-{index}", inbound, {"raw_text": text})
        assert entry is not None
        inbox.mark_done(entry)
        inbox.replies.record(entry, 0)
        deliveries.record(
            queue.engine, f"d-{customer.channel}", customer.channel, "delivered", now=at
        )
        queue.claim(ticket, "ana", now=at)
        queue.reply(ticket, "ana", AGENT_ANSWER if customer is not OTHER else "ok", at=at)
        add_note(desk, ticket, "ana", NOTE if customer is not OTHER else "other note", now=at)
        queue.resolve(ticket, "ana", "account_request", at=at)
        queue.record_csat(ticket, 4, agent="ana", channel=customer.channel, language="en", at=at)
        desk.store_labels(
            ticket,
            intent="account_request",
            proposed=False,
            language="en",
            texts=[text],
            by="ana",
            now=at,
        )
        desk.audit("ana", "reveal", ticket, {"entries_with_personal_data": 1}, now=at)
    # An audit detail that names the customer (another feature's, or a future one's).
    desk.audit("sofia", "lookup", None, {"who": f"x:{HANDLE}", "count": 2}, now=at)
    inbox.set_opt_out("sms", PHONE, True, at, "STOP")
    # A move to a private chat waiting for the Telegram customer (channel_private_links).
    conversation = CUSTOMERS[2].conversation_id
    ticket = built.tickets[conversation]
    create_token(queue.engine, "telegram", conversation, ticket_id=ticket, pending=NOTE, now=at)
    return built


def scan(stores: Stores, needles: tuple[str, ...] = NEEDLES) -> list[tuple[str, str]]:
    """Every (table, needle) where a needle appears in any column of any row."""
    found: list[tuple[str, str]] = []
    for engine in stores.engines():
        names = sa.inspect(engine).get_table_names()
        with engine.connect() as connection:
            for name in names:
                table = sa.Table(name, sa.MetaData(), autoload_with=engine)
                for row in connection.execute(sa.select(table)):
                    text = " ".join(str(value) for value in row).lower()
                    found += [(name, n) for n in needles if n.lower() in text]
    return sorted(set(found))


def scan_files(paths: list[Path], needles: tuple[str, ...] = NEEDLES) -> list[tuple[str, str]]:
    """Every (file, needle) where a needle's bytes are in a SQLite file (or its -wal)."""
    found = []
    for path in paths:
        for candidate in (path, Path(f"{path}-wal")):
            if candidate.is_file():
                data = candidate.read_bytes().lower()
                found += [(candidate.name, n) for n in needles if n.lower().encode() in data]
    return sorted(set(found))


def count_rows(stores: Stores, table: str, where: str = "") -> int:
    """Rows of a table in whichever store holds it."""
    for engine in stores.engines():
        if sa.inspect(engine).has_table(table):
            with engine.connect() as connection:
                return int(
                    connection.execute(sa.text(f"SELECT count(*) FROM {table} {where}")).scalar()
                    or 0
                )
    return 0


def endpoints_file(folder: Path, tracker_db: Path) -> Path:
    """An endpoints.yml with this SQLite tracker store and the in-memory lock store."""
    path = folder / "endpoints.yml"
    path.write_text(
        "tracker_store:\n  type: bot.tracker_store.LeanSQLTrackerStore\n  dialect: sqlite\n"
        f"  db: {tracker_db}\nlock_store:\n  type: in_memory\n",
        encoding="utf-8",
    )
    return path
