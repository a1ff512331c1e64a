"""The resolved cases and how many labels each gave, for trainers (blueprint ``resolved``)."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from desk.routes.deps import PAGE_ROWS, desk_of, guarded, page, run_sync
from desk.services import Desk
from handoff.db import session_factory
from handoff.models import Ticket

__all__ = ["bp"]

bp = Blueprint("resolved")


def _resolved_view(desk: Desk) -> list[Ticket]:
    """The latest resolved tickets, newest first (runs in a worker thread)."""
    with session_factory(desk.queue.engine)() as session:  # a read the queue lacks
        return list(
            session.execute(
                select(Ticket)
                .where(Ticket.status == "resolved")
                .order_by(Ticket.resolved_at.desc(), Ticket.id.desc())
                .limit(PAGE_ROWS)
                .options(selectinload(Ticket.transcript))
            ).scalars()
        )


@bp.get("/resolved")
@guarded(roles=("trainer", "supervisor"))
async def resolved(request: Request) -> HTTPResponse:
    """The resolved cases, with how many labels each gave and which proposed a new intent."""
    desk = desk_of(request)
    tickets = await run_sync(_resolved_view, desk)
    labels = await run_sync(desk.store.labels)
    proposed = {e.ticket_id for e in labels if e.proposed}
    counts: dict[int, int] = {}
    for example in labels:
        counts[example.ticket_id] = counts.get(example.ticket_id, 0) + 1
    return page("resolved.html", request, tickets=tickets, label_counts=counts, proposed=proposed)
