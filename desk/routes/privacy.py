"""A customer's data on request, for supervisors: look it up, export it, erase it (``privacy``).

The work is :mod:`desk.privacy`'s. Every form is a POST (the customer's number or handle never
goes into a URL, where proxies and browsers' histories keep it), and every action is audited.
The page shows counts only; the export is a JSON download. An erasure asks for the customer ids
to be typed again, and cannot be undone.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from desk.privacy import (
    Customer,
    PrivacyError,
    Stores,
    audit_export,
    erase,
    export,
    subject_hashes,
)
from desk.privacy_stores import default_endpoints, open_tracker
from desk.routes.deps import desk_of, guarded, page, run_sync

__all__ = ["bp"]

bp = Blueprint("privacy")

# A request names one customer, once per channel they wrote on: a few at most.
_MAX_CUSTOMERS = 10


def _customers(text: str) -> list[Customer]:
    """The customers typed in the form (space, comma or line separated)."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise PrivacyError("Name the customer: CHANNEL:SENDER, like sms:+351912000003.")
    if len(parts) > _MAX_CUSTOMERS:
        raise PrivacyError(f"At most {_MAX_CUSTOMERS} customer ids at a time.")
    return list(dict.fromkeys(Customer.parse(p) for p in parts))


def _stores(request: Request) -> Stores:
    """The desk's queue, with the tracker store and lock store of endpoints.yml."""
    endpoints = default_endpoints()
    return Stores(
        queue=desk_of(request).queue.engine, tracker=open_tracker(endpoints), endpoints=endpoints
    )


def _with_stores(request: Request, work: Any, *args: Any) -> Any:
    stores = _stores(request)
    try:
        return work(stores, *args)
    finally:
        if stores.tracker is not None:
            stores.tracker.dispose()


def _counts(document: dict[str, Any]) -> list[tuple[str, int]]:
    """What the page shows of an export: how many of each thing, never the things."""
    parts = document["stores"]
    tickets = parts["queue"]["tickets"]
    return [
        ("Messages (tracker store)", len(parts["tracker_store"]["messages"])),
        ("Bot replies", len(parts["tracker_store"]["bot_replies"])),
        ("Decisions", len(parts["tracker_store"]["decisions"])),
        ("Messages received (channels)", len(parts["channels"]["messages"])),
        ("Tickets", len(tickets)),
        ("Transcript lines", sum(len(t["transcript"]) for t in tickets)),
        ("Satisfaction scores", sum(1 for t in tickets if t["csat"])),
        ("Notes", len(parts["desk"]["notes"])),
        ("Labelled examples", len(parts["desk"]["training_examples"])),
        ("Opted out", sum(1 for o in parts["channels"]["opt_outs"] if o.get("opted_out"))),
    ]


def _lookup(stores: Stores, customers: list[Customer], by: str) -> dict[str, Any]:
    document = export(stores, customers)
    detail = {
        "subjects": subject_hashes(customers),
        "conversations": len(document["conversations"]),
    }
    from desk.store import DeskStore

    DeskStore(stores.queue).audit(by, "privacy_search", None, detail)
    return document


def _export(stores: Stores, customers: list[Customer], by: str) -> dict[str, Any]:
    document = export(stores, customers)
    audit_export(stores, by, customers, document)
    return document


@bp.get("/privacy")
@guarded(roles=("supervisor",))
async def privacy(request: Request) -> HTTPResponse:
    """The form: which customer."""
    return page("privacy.html", request, typed="", counts=None, erased=None, error=None)


@bp.post("/privacy")
@guarded(roles=("supervisor",))
async def lookup(request: Request) -> HTTPResponse:
    """What the stores hold about the customer, in counts (audited)."""
    typed = (request.form.get("customers") or "").strip()[:2000]
    try:
        customers = _customers(typed)
    except PrivacyError as error:
        return page(
            "privacy.html", request, 400, typed=typed, counts=None, erased=None, error=str(error)
        )
    user = request.ctx.user.agent.username
    document = await run_sync(_with_stores, request, _lookup, customers, user)
    return page(
        "privacy.html",
        request,
        typed=" ".join(c.conversation_id for c in customers),
        counts=_counts(document),
        conversations=len(document["conversations"]),
        erased=None,
        error=None,
    )


@bp.post("/privacy/export")
@guarded(roles=("supervisor",))
async def download(request: Request) -> HTTPResponse:
    """Everything held about the customer as a JSON download (audited)."""
    try:
        customers = _customers(request.form.get("customers") or "")
    except PrivacyError as error:
        return page(
            "privacy.html", request, 400, typed="", counts=None, erased=None, error=str(error)
        )
    user = request.ctx.user.agent.username
    document = await run_sync(_with_stores, request, _export, customers, user)
    return response.raw(
        json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"),
        content_type="application/json; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="privacy-export.json"'},
    )


@bp.post("/privacy/erase")
@guarded(roles=("supervisor",))
async def erase_customer(request: Request) -> HTTPResponse:
    """Erases the customer everywhere, once the ids are typed again to confirm (audited)."""
    typed = (request.form.get("customers") or "").strip()[:2000]
    try:
        customers = _customers(typed)
    except PrivacyError as error:
        return page(
            "privacy.html", request, 400, typed="", counts=None, erased=None, error=str(error)
        )
    wanted = " ".join(c.conversation_id for c in customers)
    confirm = " ".join((request.form.get("confirm") or "").replace(",", " ").split())
    if confirm != wanted:
        problem = f"Type {wanted} in the confirmation box to erase: nothing was erased."
        return page(
            "privacy.html", request, 400, typed=wanted, counts=None, erased=None, error=problem
        )
    user = request.ctx.user.agent.username
    try:
        done = await run_sync(_with_stores, request, erase, customers, user)
    except PrivacyError as error:
        return page(
            "privacy.html", request, 409, typed=wanted, counts=None, erased=None, error=str(error)
        )
    rows = sorted((name, count) for name, count in {**done.counts}.items() if count)
    return page(
        "privacy.html", request, typed="", counts=None, erased=rows, error=None, lock=done.lock
    )
