"""`afterhours queue`: the handoff queue in the terminal, as readable tables.

Customers are shown as the desk shows them (a phone number by its last digits) and transcripts
with personal data masked. `afterhours queue show ID --reveal` prints both in clear, and like the
desk's reveal it first writes an entry in the desk's audit log, naming the operating-system user.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime, timezone

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bot.settings import database_url, load_brand
from handoff.models import Ticket
from handoff.priority import effective_priority
from handoff.queue import HandoffQueue
from handoff.state import is_overdue
from handoff.transcript import customer_label

STATUSES = {
    "waiting": ("open", "claimed"),
    "open": ("open",),
    "claimed": ("claimed",),
    "resolved": ("resolved",),
    "all": ("open", "claimed", "resolved"),
}
NEED_LABELS = {1: "urgent", 2: "high", 3: "normal", 4: "low"}
#: How a reveal from the terminal is marked in the desk's audit log (desk accounts cannot
#: contain a colon, so ``cli:ana`` is never mistaken for the desk account ``ana``).
CLI_AUDIT_PREFIX = "cli:"


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


def tickets_table(tickets: list, now: datetime, zone: str, title: str) -> Group:
    """The tickets, most urgent first: a header line each, then the last customer message.

    A line per fact keeps it readable in an 80-column terminal; `afterhours queue show ID` has
    the whole transcript.
    """
    lines: list[Text] = [Text(title, style="bold")]
    for ticket in tickets:
        priority = effective_priority(ticket.need, ticket.created_at, now)
        overdue = is_overdue(ticket, now)  # the desk's rule (handoff.state), one everywhere
        last = next((e for e in reversed(ticket.transcript) if e.author == "customer"), None)
        header = Text(no_wrap=True, overflow="ellipsis")
        header.append(f"#{ticket.id:<4}", style="bold")
        header.append(
            f"{NEED_LABELS.get(priority, str(priority)):<7}",
            style="bold red" if priority == 1 else "yellow" if priority == 2 else "",
        )
        header.append(f"{', '.join(ticket.reasons)}  ", style="cyan")
        header.append(f"promised {_local(ticket.reply_eta, zone)}")
        header.append(" overdue" if overdue else "", style="bold red")
        header.append(f"  {ticket.department} · {ticket.language} · ")
        header.append(f"{ticket.channel}{' (public)' if ticket.public else ''} ")
        header.append(customer_label(ticket.channel, ticket.customer))
        header.append(f"  {ticket.status}", style="dim")
        lines.append(header)
        message = Text("      ")
        message.append(_one_line(last.masked_text if last else "", 160), style="italic")
        lines.append(message)
    return Group(*lines)


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
    try:
        tickets = queue.list_tickets(
            status=STATUSES[status], department=department, now=now, limit=limit
        )
    finally:
        queue.dispose()
    if not tickets:
        console.print(f"No {status} tickets.")
        return 0
    console.print(tickets_table(tickets, now, brand.timezone, f"{len(tickets)} {status} ticket(s)"))
    return 0


def cli_user() -> str:
    """Who reveals from the terminal, as written in the audit log: ``cli:<OS user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment nor in the password file
        user = f"uid {os.getuid()}"
    return (CLI_AUDIT_PREFIX + user)[:64]


def audit_reveal(queue: HandoffQueue, ticket: Ticket) -> None:
    """Writes the desk's audit entry for a reveal from the terminal (before anything is shown).

    The same action and detail as the desk's reveal (``desk/app.py``), the user being
    :func:`cli_user` and ``"via": "cli"`` added.
    """
    from desk.db import migrate as migrate_desk
    from desk.store import DeskStore

    migrate_desk(queue.engine)
    hidden = sum(1 for entry in ticket.transcript if entry.personal_data)
    DeskStore(queue.engine).audit(
        cli_user(), "reveal", ticket.id, {"entries_with_personal_data": hidden, "via": "cli"}
    )


def show_ticket(
    ticket_id: int,
    db_url: str | None = None,
    console: Console | None = None,
    reveal: bool = False,
) -> int:
    """Prints one ticket and its transcript, personal data masked unless ``reveal``.

    Args:
        ticket_id: The ticket.
        db_url: The queue's database (default: the product's).
        console: Where to print.
        reveal: Print the customer and the transcript in clear, after writing an entry in the
            desk's audit log (as the desk's reveal does).

    Returns:
        0, or 1 when there is no such ticket.
    """
    console = console or Console()
    brand = load_brand()
    queue = HandoffQueue.from_url(db_url or database_url(), migrate=True)
    try:
        ticket = queue.get(ticket_id)
        if ticket is None:
            console.print(f"[red]No ticket {ticket_id}.[/red]")
            return 1
        if reveal:
            # Accountable first: if the audit entry cannot be written, nothing is shown.
            audit_reveal(queue, ticket)
    finally:
        queue.dispose()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    customer = ticket.customer if reveal else customer_label(ticket.channel, ticket.customer)
    for label, value in (
        ("ticket", str(ticket.id)),
        ("status", ticket.status + (f" by {ticket.claimed_by}" if ticket.claimed_by else "")),
        ("reasons", ", ".join(ticket.reasons)),
        ("priority", NEED_LABELS.get(ticket.need, str(ticket.need))),
        ("department", ticket.department),
        ("channel", f"{ticket.channel} ({'public' if ticket.public else 'private'})"),
        ("customer", customer),
        ("language", f"{ticket.language} ({ticket.locale})"),
        ("created", _local(ticket.created_at, brand.timezone)),
        ("promised", _local(ticket.reply_eta, brand.timezone)),
        ("suggested answer", ticket.suggested_answer or "-"),
    ):
        facts.add_row(label, _plain(value))
    console.print(facts)
    title = (
        "transcript (personal data shown: this view was written to the desk's audit log)"
        if reveal
        else "transcript (personal data masked)"
    )
    transcript = Table(title=title, title_justify="left")
    transcript.add_column("time")
    transcript.add_column("who")
    transcript.add_column("text", overflow="fold")
    for entry in ticket.transcript:
        when = _local(entry.at, brand.timezone)
        transcript.add_row(when, entry.author, _plain(entry.text if reveal else entry.masked_text))
    console.print(transcript)
    return 0
