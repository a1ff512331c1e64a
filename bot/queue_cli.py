"""`afterhours queue`: the handoff queue in the terminal, as readable tables."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.settings import database_url, load_brand
from handoff.priority import effective_priority
from handoff.queue import HandoffQueue

STATUSES = {
    "waiting": ("open", "claimed"),
    "open": ("open",),
    "claimed": ("claimed",),
    "resolved": ("resolved",),
    "all": ("open", "claimed", "resolved"),
}
NEED_LABELS = {1: "urgent", 2: "high", 3: "normal", 4: "low"}


def _local(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "-"
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")


def _one_line(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _plain(text: str | None) -> str:
    # Customers' words and mask labels ("[iban]") are not Rich markup: unescaped, a label
    # vanishes and a stray "[/x]" raises MarkupError.
    return escape(text or "")


def tickets_table(tickets: list, now: datetime, zone: str, title: str) -> Table:
    """A table of tickets, most urgent first, overdue promises in red."""
    table = Table(title=title, title_justify="left", expand=False)
    for column in (
        "#",
        "priority",
        "reason",
        "dept",
        "lang",
        "channel",
        "customer",
        "promised",
        "status",
        "last message",
    ):
        table.add_column(column, overflow="fold" if column == "last message" else "ellipsis")
    for ticket in tickets:
        priority = effective_priority(ticket.need, ticket.created_at, now)
        overdue = (
            ticket.status != "resolved" and ticket.reply_eta is not None and ticket.reply_eta < now
        )
        last = next((e for e in reversed(ticket.transcript) if e.author == "customer"), None)
        table.add_row(
            str(ticket.id),
            NEED_LABELS.get(priority, str(priority)),
            _plain(", ".join(ticket.reasons)),
            _plain(ticket.department),
            _plain(ticket.language),
            _plain(f"{ticket.channel}{' (public)' if ticket.public else ''}"),
            _plain(ticket.customer),
            f"[red]{_local(ticket.reply_eta, zone)} overdue[/red]"
            if overdue
            else _local(ticket.reply_eta, zone),
            ticket.status,
            _plain(_one_line(last.masked_text if last else "", 48)),
            style="bold" if priority == 1 else None,
        )
    return table


def list_tickets(
    db_url: str | None = None,
    status: str = "waiting",
    department: str | None = None,
    limit: int = 50,
    console: Console | None = None,
) -> int:
    """Prints the tickets with `status`, most urgent first."""
    console = console or Console()
    brand = load_brand()
    queue = HandoffQueue.from_url(db_url or database_url(), migrate=True)
    now = datetime.now(timezone.utc)
    tickets = queue.list_tickets(
        status=STATUSES[status], department=department, now=now, limit=limit
    )
    if not tickets:
        console.print(f"No {status} tickets.")
        return 0
    console.print(tickets_table(tickets, now, brand.timezone, f"{len(tickets)} {status} ticket(s)"))
    return 0


def show_ticket(ticket_id: int, db_url: str | None = None, console: Console | None = None) -> int:
    """Prints one ticket and its transcript with personal data masked."""
    console = console or Console()
    brand = load_brand()
    queue = HandoffQueue.from_url(db_url or database_url(), migrate=True)
    ticket = queue.get(ticket_id)
    if ticket is None:
        console.print(f"[red]No ticket {ticket_id}.[/red]")
        return 1
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    for label, value in (
        ("ticket", str(ticket.id)),
        ("status", ticket.status + (f" by {ticket.claimed_by}" if ticket.claimed_by else "")),
        ("reasons", ", ".join(ticket.reasons)),
        ("priority", NEED_LABELS.get(ticket.need, str(ticket.need))),
        ("department", ticket.department),
        ("channel", f"{ticket.channel} ({'public' if ticket.public else 'private'})"),
        ("customer", ticket.customer),
        ("language", f"{ticket.language} ({ticket.locale})"),
        ("created", _local(ticket.created_at, brand.timezone)),
        ("promised", _local(ticket.reply_eta, brand.timezone)),
        ("suggested answer", ticket.suggested_answer or "-"),
    ):
        facts.add_row(label, _plain(value))
    console.print(facts)
    transcript = Table(title="transcript (personal data masked)", title_justify="left")
    transcript.add_column("time")
    transcript.add_column("who")
    transcript.add_column("text", overflow="fold")
    for entry in ticket.transcript:
        when = _local(entry.at, brand.timezone)
        transcript.add_row(when, entry.author, _plain(entry.masked_text))
    console.print(transcript)
    return 0
