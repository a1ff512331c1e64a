"""Incidents in the desk (blueprint ``incidents``): the list, the parent case, declare, resolve.

Agents and supervisors see the incidents and each one's parent case: how many customers, the
areas, channels and languages, the first and last report, a sample of the messages (masked) and
the linked customers (masked as everywhere on the desk). Supervisors declare an incident, post
updates and resolve it; every linked customer is then told once, by the notices' sender
(:mod:`desk.incident_notices`, run by the scheduler).
"""

from __future__ import annotations

import datetime as dt

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from desk.incident_cli import KIND_CHOICES
from desk.routes.deps import desk_of, guarded, page, refuse, run_sync, utc_now
from desk.services import Desk
from handoff.incidents import IncidentNotFound, IncidentStore

__all__ = ["bp"]

bp = Blueprint("incidents")

#: The longest update a supervisor may post (it goes to every linked customer).
MAX_UPDATE = 600


def _store(desk: Desk) -> IncidentStore:
    return IncidentStore(desk.queue.engine)


def _every(desk: Desk) -> dt.timedelta:
    return dt.timedelta(minutes=desk.brand.incidents.update_every_minutes)


def _listing(desk: Desk) -> list[tuple[object, int]]:
    store = _store(desk)
    return [(i, store.summary(i.id).customers) for i in store.incidents()]


@bp.get("/incidents")
@guarded(roles=("agent", "supervisor"))
async def incidents(request: Request) -> HTTPResponse:
    """The incidents, newest first; supervisors also get the form to declare one."""
    desk = desk_of(request)
    rows = await run_sync(_listing, desk)
    return page("incidents.html", request, rows=rows, kinds=KIND_CHOICES)


@bp.get("/incidents/<number:id>")
@guarded(roles=("agent", "supervisor"))
async def incident(request: Request, number: int) -> HTTPResponse:
    """The parent case of one incident."""
    desk = desk_of(request)
    try:
        summary = await run_sync(_store(desk).summary, number)
    except IncidentNotFound:
        return refuse(request, 404, "No such incident.")
    return page("incident.html", request, s=summary, i=summary.incident)


def _text(request: Request, required: bool) -> str | HTTPResponse:
    text = " ".join((request.form.get("message") or "").split())
    if required and not text:
        return refuse(request, 400, "Write the update customers will read.")
    if len(text) > MAX_UPDATE:
        return refuse(request, 400, f"Keep the update under {MAX_UPDATE} characters.")
    return text


@bp.post("/incidents")
@guarded(roles=("supervisor",))
async def declare(request: Request) -> HTTPResponse:
    """Declares an incident (with a first update when a message is given)."""
    desk = desk_of(request)
    kind = request.form.get("kind") or ""
    if kind not in KIND_CHOICES:
        return refuse(request, 400, f"Choose a kind: {', '.join(KIND_CHOICES)}.")
    area = " ".join((request.form.get("area") or "").split())[:64] or None
    text = _text(request, required=False)
    if not isinstance(text, str):
        return text
    who = request.ctx.user.agent.username
    store = _store(desk)
    opened = await run_sync(
        store.declare, kind, area, who, utc_now(), _every(desk), desk.brand.default_language
    )
    if text:
        await run_sync(store.post, opened.id, "update", {"*": text}, who, utc_now(), _every(desk))
    await run_sync(
        desk.store.audit, who, "incident_open", opened.ticket_id, {"incident": opened.ref}
    )
    return response.redirect(f"/incidents/{opened.id}?msg=saved")


async def _post(request: Request, number: int, kind: str) -> HTTPResponse:
    desk = desk_of(request)
    text = _text(request, required=kind == "update")
    if not isinstance(text, str):
        return text
    who = request.ctx.user.agent.username
    store = _store(desk)
    texts = {"*": text} if text else {}
    try:
        await run_sync(store.post, number, kind, texts, who, utc_now(), _every(desk))
    except IncidentNotFound:
        return refuse(request, 404, "No such incident.")
    except ValueError as error:  # resolved already
        return refuse(request, 409, str(error))
    found = await run_sync(store.incident, number)
    await run_sync(
        desk.store.audit,
        who,
        f"incident_{kind}",
        found.ticket_id if found else None,
        {"incident": f"INC-{number}", "length": len(text)},
    )
    return response.redirect(f"/incidents/{number}?msg=saved")


@bp.post("/incidents/<number:id>/update")
@guarded(roles=("supervisor",))
async def post_update(request: Request, number: int) -> HTTPResponse:
    """Posts an update: every linked customer gets it once."""
    return await _post(request, number, "update")


@bp.post("/incidents/<number:id>/resolve")
@guarded(roles=("supervisor",))
async def resolve(request: Request, number: int) -> HTTPResponse:
    """Resolves the incident: every linked customer is told once."""
    return await _post(request, number, "resolved")
