"""A case: read it, follow it live, reveal, claim, release, reassign, answer, note, resolve.

Personal data stays masked unless the case's agent or a supervisor reveals it; each reveal is
written to the audit log. An answer goes to the customer through Rasa before it is recorded;
an internal note never leaves the desk. Blueprint ``cases``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from desk.csat import ask_for_score
from desk.delivery import send_answer
from desk.inputs import row_id
from desk.intents import valid_intent_name
from desk.measure import measure
from desk.notes import MAX_NOTE, add_note, notes_of
from desk.placeholders import customer_first_name, eta_for, eta_phrase, fill
from desk.rasa import RasaError
from desk.routes.deps import (
    MAX_ANSWER,
    desk_of,
    guarded,
    page,
    refuse,
    run_sync,
    templates_of,
    utc_now,
)
from desk.services import Desk
from desk.store import SignedIn
from handoff.desk_side import ClaimConflict, TicketClosed, TicketNotFound
from handoff.models import Ticket
from handoff.priority import effective_priority
from handoff.state import (
    STATE_LABELS,
    agent_of,
    conversation_state,
    earlier_agent_replies,
    is_overdue,
    trigger_entry,
    unanswered,
)

__all__ = ["bp"]

logger = logging.getLogger("afterhours.desk")

bp = Blueprint("cases")


def _lines(ticket: Ticket, earlier: dict[str, str], names: dict[str, str]) -> list[dict[str, Any]]:
    """The transcript as shown: each line with who wrote it (an agent's answer names the agent)."""
    lines = []
    for entry in ticket.transcript:
        agent = agent_of(entry, earlier)
        kind = "agent" if agent else entry.author
        who = f"agent · {names.get(agent, agent)}" if agent else entry.author
        lines.append({"entry": entry, "kind": kind, "who": who})
    return lines


def _case_view(desk: Desk, ticket_id: int, user: SignedIn, revealed: bool) -> dict[str, Any] | None:
    """What the case page shows (runs in a worker thread); None when there is no such case."""
    ticket = desk.queue.get(ticket_id)
    if ticket is None:
        return None
    now = utc_now()
    history = desk.queue.history(
        ticket.conversation_id,
        channel=ticket.channel,
        customer=ticket.customer,
        exclude=ticket.id,
        limit=10,
    )
    is_supervisor = user.agent.role == "supervisor"
    names = {a.username: a.display_name for a in desk.store.agents()}
    claim_live = (
        ticket.status == "claimed"
        and ticket.claimed_at is not None
        and ticket.claimed_at >= now - desk.claim_ttl
    )
    mine = desk.holds(ticket, user.agent.username, now)
    may_work = user.agent.role in ("agent", "supervisor") and ticket.status != "resolved"
    state = conversation_state(ticket)
    return {
        "ticket": ticket,
        "now": now,
        "revealed": revealed,
        "priority": effective_priority(ticket.need, ticket.created_at, now),
        "overdue": is_overdue(ticket, now),
        "state": state,
        "state_label": STATE_LABELS[state],
        "unanswered": unanswered(ticket),
        "trigger": trigger_entry(ticket),
        "lines": _lines(ticket, earlier_agent_replies(history), names),
        "last_entry": max((e.id for e in ticket.transcript), default=0),
        "mine": mine,
        "claim_live": claim_live,
        "holder": names.get(ticket.claimed_by or "", ticket.claimed_by),
        "may_reveal": desk.may_reveal(ticket, user, now),
        "may_work": may_work,
        # Someone else's live claim: a reply or resolve would be refused, so none is offered.
        "may_reply": may_work and (mine or not claim_live),
        "history": history,
        "viewable": {t.id for t in history if desk.may_view(t, user)},
        "canned": _filled_canned(desk, ticket, user, now),
        "notes": notes_of(desk.store, ticket.id),
        "max_note": MAX_NOTE,
        "limits": measure(ticket.channel, ticket.public, ticket.customer, ""),
        "intents": desk.intents,
        "labels": desk.store.labels(ticket_id=ticket.id),
        "agents": desk.store.agents(("agent", "supervisor")) if is_supervisor else [],
        "audit": desk.store.audit_log(ticket_id=ticket.id, limit=50) if is_supervisor else [],
    }


def _filled_canned(
    desk: Desk, ticket: Ticket, user: SignedIn, now: dt.datetime
) -> list[dict[str, str]]:
    """The case language's canned answers, placeholders filled for this customer and agent."""
    eta = eta_phrase(
        eta_for(ticket, desk.brand, now), ticket.language, ticket.locale, desk.brand.timezone
    )
    first_name = customer_first_name(ticket)
    return [
        {
            "title": c.title,
            "body": c.body,
            "text": fill(c.body, first_name=first_name, agent=user.agent.display_name, eta=eta),
        }
        for c in desk.store.canned_answers(ticket.language)
    ]


async def _show_case(
    request: Request, ticket_id: int, *, revealed: bool = False, status: int = 200, **extra: Any
) -> HTTPResponse:
    """The case page (or a refusal), with ``extra`` (a draft, an error) in its context."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    view = await run_sync(_case_view, desk, ticket_id, user, revealed)
    if view is None:
        return refuse(request, 404, "There is no such case.")
    if not desk.may_view(view["ticket"], user):
        return refuse(request, 403, "This case is not open to your role.")
    view.update(extra)
    view.setdefault("draft", "")
    view.setdefault("error", "")
    view.setdefault("note_draft", "")
    view.setdefault("confirm_needed", False)
    return page("case.html", request, status=status, **view)


async def _load(request: Request, ticket_id: int) -> Ticket | HTTPResponse:
    """The case, or the refusal to answer when it does not exist or the role may not see it."""
    desk = desk_of(request)
    ticket = await run_sync(desk.queue.get, ticket_id)
    if ticket is None:
        return refuse(request, 404, "There is no such case.")
    if not desk.may_view(ticket, request.ctx.user):
        return refuse(request, 403, "This case is not open to your role.")
    return ticket


@bp.get("/cases/<ticket_id:id>")
@guarded()
async def case_page(request: Request, ticket_id: int) -> HTTPResponse:
    """A case: its transcript (masked), history, labels and what the user may do."""
    return await _show_case(request, ticket_id)


@bp.post("/cases/<ticket_id:id>/reveal")
@guarded(roles=("agent", "supervisor"))
async def reveal(request: Request, ticket_id: int) -> HTTPResponse:
    """Show the case with its personal data, if the user may; either way it is audited."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    ticket = await _load(request, ticket_id)
    if isinstance(ticket, HTTPResponse):
        return ticket
    if not desk.may_reveal(ticket, user, utc_now()):
        await run_sync(desk.store.audit, user.agent.username, "reveal_refused", ticket_id)
        return refuse(
            request, 403, "Only the agent holding this case, or a supervisor, may reveal it."
        )
    hidden = sum(1 for e in ticket.transcript if e.personal_data)
    await run_sync(
        desk.store.audit,
        user.agent.username,
        "reveal",
        ticket_id,
        {"entries_with_personal_data": hidden, "ip": request.ip},
    )
    return await _show_case(request, ticket_id, revealed=True)


@bp.post("/cases/<ticket_id:id>/claim")
@guarded(roles=("agent", "supervisor"))
async def claim(request: Request, ticket_id: int) -> HTTPResponse:
    """Claim the case for the user."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    won = await run_sync(desk.queue.claim, ticket_id, user.agent.username, ttl=desk.claim_ttl)
    if won:
        await run_sync(desk.store.audit, user.agent.username, "claim", ticket_id)
    return response.redirect(f"/cases/{ticket_id}?msg={'claimed' if won else 'taken'}")


@bp.post("/cases/<ticket_id:id>/release")
@guarded(roles=("agent", "supervisor"))
async def release(request: Request, ticket_id: int) -> HTTPResponse:
    """Give the user's case back to the queue."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    if await run_sync(desk.queue.release_claim, ticket_id, user.agent.username):
        await run_sync(desk.store.audit, user.agent.username, "release", ticket_id)
    return response.redirect("/queue?msg=released")


@bp.post("/cases/<ticket_id:id>/reassign")
@guarded(roles=("supervisor",))
async def reassign(request: Request, ticket_id: int) -> HTTPResponse:
    """Give the case to another agent (supervisors); the audit records from whom."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    target = (request.form.get("agent") or "").strip()
    allowed = {a.username for a in await run_sync(desk.store.agents, ("agent", "supervisor"))}
    if target not in allowed:
        return refuse(request, 400, "Choose an agent to give the case to.")
    try:
        handed = await run_sync(desk.queue.reassign, ticket_id, target)
    except TicketNotFound:
        return refuse(request, 404, "There is no such case.")
    except TicketClosed:
        return refuse(request, 409, "This case is resolved.")
    detail = {"from": handed.previous, "to": target}
    await run_sync(desk.store.audit, user.agent.username, "reassign", ticket_id, detail)
    return response.redirect(f"/cases/{ticket_id}?msg=reassigned")


@bp.post("/cases/<ticket_id:id>/reply")
@guarded(roles=("agent", "supervisor"))
async def reply(request: Request, ticket_id: int) -> HTTPResponse:
    """Send an answer to the customer through Rasa, then record it on the case."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    text = (request.form.get("text") or "").strip()
    ticket = await _load(request, ticket_id)
    if isinstance(ticket, HTTPResponse):
        return ticket
    if not text or len(text) > MAX_ANSWER:
        return await _show_case(
            request,
            ticket_id,
            status=400,
            draft=text[:MAX_ANSWER],
            error=f"Write an answer (at most {MAX_ANSWER} characters).",
        )
    # Hold the case first: two agents must never both answer one customer.
    if not await run_sync(desk.queue.claim, ticket_id, user.agent.username, ttl=desk.claim_ttl):
        return await _show_case(
            request,
            ticket_id,
            status=409,
            draft=text,
            error="Another agent holds this case, or it is resolved.",
        )
    metadata = {"source": "desk", "agent": user.agent.username, "ticket": ticket_id}
    private_side = {"dm_delivered", "first_private_message", "private_chat_opened"}
    if ticket.public and (
        {"private", "emotional"} & set(ticket.reasons)
        or any((line.meta or {}).get("route") in private_side for line in ticket.transcript)
    ):
        # The bot moved this public case to a private message (or the customer wrote in
        # private since): the agent continues there.
        metadata["visibility"] = "private"
    # Refused up front when it cannot reach the customer; said delivered only when it was.
    outcome = await run_sync(send_answer, desk, ticket, user.agent.username, text, metadata)
    if not outcome.delivered:
        return await _show_case(
            request, ticket_id, status=outcome.status, draft=text, error=outcome.message
        )
    return response.redirect(f"/cases/{ticket_id}?msg=sent")


@bp.post("/cases/<ticket_id:id>/resolve")
@guarded(roles=("agent", "supervisor"))
async def resolve(request: Request, ticket_id: int) -> HTTPResponse:
    """Close the case with the intent it really was, label it, release the conversation."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    form = request.form
    chosen = (form.get("intent") or "").strip()
    proposed = chosen == "__new__"
    intent = (form.get("new_intent") or "").strip().lower() if proposed else chosen
    if proposed and intent in desk.intents:
        proposed = False
    if not proposed and intent not in desk.intents:
        return await _show_case(
            request, ticket_id, status=400, error="Choose the intent this case really was."
        )
    if proposed and not valid_intent_name(intent):
        return await _show_case(
            request,
            ticket_id,
            status=400,
            error="A new intent needs a name like billing_dispute or faq/new_topic.",
        )
    ticket = await _load(request, ticket_id)
    if isinstance(ticket, HTTPResponse):
        return ticket
    if unanswered(ticket) and form.get("confirm_unanswered") != "1":
        # The customer's last message has no answer: resolving now would leave it unanswered.
        return await _show_case(
            request,
            ticket_id,
            status=409,
            confirm_needed=True,
            error="The customer's last message has no answer yet. Resolve anyway only if it "
            "needs none: tick the box and resolve again.",
        )
    try:
        ticket = await run_sync(
            desk.queue.resolve, ticket_id, user.agent.username, intent, ttl=desk.claim_ttl
        )
    except ClaimConflict:
        return await _show_case(
            request, ticket_id, status=409, error="Another agent holds this case."
        )
    except TicketClosed:
        return await _show_case(request, ticket_id, status=409, error="Already resolved.")
    texts = [e.masked_text for e in ticket.transcript if e.author == "customer"]
    await run_sync(
        desk.store.store_labels,
        ticket_id,
        intent=intent,
        proposed=proposed,
        language=ticket.language,
        texts=texts,
        by=user.agent.username,
    )
    await run_sync(
        desk.store.audit,
        user.agent.username,
        "resolve",
        ticket_id,
        {"intent": intent, "proposed": proposed},
    )
    try:
        await run_sync(desk.rasa.release, ticket.conversation_id)
    except RasaError as error:
        logger.warning("releasing the conversation of case %s failed: %s", ticket_id, error)
        return response.redirect(f"/cases/{ticket_id}?msg=resolved_unreleased")
    if desk.brand.csat and any(e.author == "agent" for e in ticket.transcript):
        # One short question on the customer's channel (desk/csat.py); failures are logged.
        await run_sync(
            ask_for_score,
            desk.rasa,
            ticket.conversation_id,
            ticket_id,
            user.agent.username,
            utc_now(),
        )
    return response.redirect("/queue?msg=resolved")


@bp.post("/api/measure")
@guarded(roles=("agent", "supervisor"), api=True)
async def measure_api(request: Request) -> HTTPResponse:
    """How a draft answer fits the case's channel (length, parts), for the editor."""
    desk = desk_of(request)
    body = request.json if isinstance(request.json, dict) else {}
    try:
        ticket_id = row_id(body.get("ticket"))
    except ValueError:
        return response.json({"error": "ticket"}, status=400)
    ticket = await run_sync(desk.queue.get, ticket_id)
    if ticket is None or not desk.may_view(ticket, request.ctx.user):
        return response.json({"error": "no such case"}, status=404)
    text = str(body.get("text") or "")[:MAX_ANSWER]
    return response.json(measure(ticket.channel, ticket.public, ticket.customer, text))


@bp.get("/cases/<ticket_id:id>/events")
@guarded(api=True)
async def case_events(request: Request, ticket_id: int) -> HTTPResponse:
    """The case's transcript lines after ``?after=<entry id>`` (masked) and its state, as JSON."""
    desk = desk_of(request)
    raw = request.args.get("after") or "0"
    try:
        after = 0 if raw == "0" else row_id(raw)
    except ValueError:
        return response.json({"error": "after"}, status=400)
    ticket = await run_sync(desk.queue.get, ticket_id)
    if ticket is None or not desk.may_view(ticket, request.ctx.user):
        return response.json({"error": "no such case"}, status=404)
    names = {a.username: a.display_name for a in await run_sync(desk.store.agents)}
    local: Any = templates_of(request).globals["local"]
    lines = [
        {
            "id": line["entry"].id,
            "kind": line["kind"],
            "meta": " · ".join(
                part
                for part in (
                    line["who"],
                    local(line["entry"].at, "%a %d %b %H:%M:%S"),
                    (line["entry"].meta or {}).get("channel") or ticket.channel,
                    (line["entry"].meta or {}).get("visibility"),
                    str((line["entry"].meta or {}).get("route") or "").replace("_", " "),
                )
                if part
            ),
            "text": line["entry"].masked_text,
        }
        for line in _lines(ticket, {}, names)
        if line["entry"].id > after
    ]
    state = conversation_state(ticket)
    return response.json(
        {
            "entries": lines,
            "state": state,
            "state_label": STATE_LABELS[state],
            "overdue": is_overdue(ticket, utc_now()),
            "unanswered": unanswered(ticket),
        }
    )


@bp.post("/cases/<ticket_id:id>/notes")
@guarded(roles=("agent", "supervisor"))
async def note(request: Request, ticket_id: int) -> HTTPResponse:
    """Add an internal note to the case (agents only; never sent to the customer; audited)."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    ticket = await _load(request, ticket_id)
    if isinstance(ticket, HTTPResponse):
        return ticket
    body = request.form.get("note") or ""
    try:
        saved = await run_sync(add_note, desk.store, ticket_id, user.agent.username, body)
    except ValueError as error:
        return await _show_case(
            request, ticket_id, status=400, note_draft=body[:MAX_NOTE], error=str(error)
        )
    await run_sync(
        desk.store.audit,
        user.agent.username,
        "note",
        ticket_id,
        {"note": saved.id, "length": len(saved.body)},
    )
    return response.redirect(f"/cases/{ticket_id}?msg=noted#notes")
