"""The audit log: sign-ins, claims, reveals, answers, for supervisors (blueprint ``audit``)."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from desk.routes.deps import desk_of, guarded, page, run_sync

__all__ = ["bp"]

bp = Blueprint("audit")


@bp.get("/audit")
@guarded(roles=("supervisor",))
async def audit(request: Request) -> HTTPResponse:
    """The latest 500 events of the audit log."""
    desk = desk_of(request)
    events = await run_sync(desk.store.audit_log, limit=500)
    return page("audit.html", request, events=events)
