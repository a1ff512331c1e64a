"""Canned answers: list, search, save and delete them, for supervisors (blueprint ``canned``).

An answer may hold the placeholders of :mod:`desk.placeholders` (``{first_name}``, ``{agent}``,
``{eta}``), filled when an agent inserts it; any other ``{name}`` is refused as a typo.
"""

from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from desk.inputs import row_id
from desk.placeholders import PLACEHOLDERS, unknown_placeholders
from desk.routes.deps import desk_of, guarded, page, refuse, run_sync

__all__ = ["bp"]

bp = Blueprint("canned")


@bp.get("/canned")
@guarded(roles=("supervisor",))
async def canned(request: Request) -> HTTPResponse:
    """The canned answers, every language, filtered by ``?q=``."""
    desk = desk_of(request)
    answers = await run_sync(desk.store.canned_answers, None, request.args.get("q", ""))
    return page(
        "canned.html",
        request,
        answers=answers,
        q=request.args.get("q", ""),
        languages=desk.brand.languages,
        placeholders=PLACEHOLDERS,
    )


@bp.post("/canned")
@guarded(roles=("supervisor",))
async def canned_save(request: Request) -> HTTPResponse:
    """Add a canned answer, or change one (``id``)."""
    desk = desk_of(request)
    form = request.form
    answer_id = form.get("id")
    language = form.get("language") or ""
    if language not in desk.brand.languages:
        return refuse(request, 400, "Choose one of the brand's languages.")
    unknown = unknown_placeholders(form.get("body") or "")
    if unknown:
        known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        typo = ", ".join(f"{{{u}}}" for u in unknown)
        return refuse(request, 400, f"Unknown placeholder {typo}: use {known}.")
    try:
        saved = await run_sync(
            desk.store.save_canned,
            language=language,
            title=form.get("title") or "",
            body=form.get("body") or "",
            by=request.ctx.user.agent.username,
            answer_id=row_id(answer_id) if answer_id else None,
        )
    except ValueError as error:  # an AccountError, or a bad id from row_id
        return refuse(request, 400, str(error))
    await run_sync(
        desk.store.audit,
        request.ctx.user.agent.username,
        "canned_save",
        None,
        {"id": saved.id},
    )
    return response.redirect("/canned?msg=saved")


@bp.post("/canned/<answer_id:id>/delete")
@guarded(roles=("supervisor",))
async def canned_delete(request: Request, answer_id: int) -> HTTPResponse:
    """Delete a canned answer."""
    desk = desk_of(request)
    await run_sync(desk.store.delete_canned, answer_id)
    await run_sync(
        desk.store.audit,
        request.ctx.user.agent.username,
        "canned_delete",
        None,
        {"id": answer_id},
    )
    return response.redirect("/canned?msg=deleted")
