"""Signing in and out, the home redirect and the health check (blueprint ``auth``)."""

from __future__ import annotations

import hmac
import secrets

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from desk.routes.deps import (
    COOKIE,
    LOGIN_COOKIE,
    desk_of,
    guarded,
    page,
    refuse,
    run_sync,
    set_cookie,
)
from desk.store import LOCKOUT_FOR, SESSION_MAX

__all__ = ["bp"]

bp = Blueprint("auth")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@bp.get("/health")
async def health(request: Request) -> HTTPResponse:
    """Answer that the desk is up (no session needed)."""
    return response.json({"status": "ok"})


@bp.get("/login")
async def login_form(request: Request) -> HTTPResponse:
    """The sign-in form, with its double-submit CSRF cookie."""
    token = secrets.token_urlsafe(24)
    resp = page("login.html", request, login_csrf=token, next=_safe_next(request.args.get("next")))
    set_cookie(request, resp, LOGIN_COOKIE, token, 3600)
    return resp


@bp.post("/login")
async def login(request: Request) -> HTTPResponse:
    """Sign in: start a session, or say why not (401) and audit the failure."""
    desk = desk_of(request)
    form = request.form or {}
    sent, expected = form.get("csrf_token"), request.cookies.get(LOGIN_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return refuse(request, 403, "This form has expired. Reload the page.")
    username = (form.get("username") or "").strip().lower()[:64]
    result = await run_sync(desk.store.authenticate, username, form.get("password") or "")
    if result.outcome != "ok" or result.agent is None:
        await run_sync(
            desk.store.audit, username or "?", "sign_in_failed", detail={"why": result.outcome}
        )
        error = (
            f"Too many failed attempts: this account is locked for "
            f"{int(LOCKOUT_FOR.total_seconds() // 60)} minutes."
            if result.outcome == "locked"
            else "Wrong username or password."
        )
        token = secrets.token_urlsafe(24)
        resp = page(
            "login.html",
            request,
            status=401,
            login_csrf=token,
            next=_safe_next(form.get("next")),
            error=error,
            username=username,
        )
        set_cookie(request, resp, LOGIN_COOKIE, token, 3600)
        return resp
    token, _csrf = await run_sync(desk.store.start_session, result.agent)
    await run_sync(desk.store.audit, result.agent.username, "sign_in")
    resp = response.redirect(_safe_next(form.get("next")))
    set_cookie(request, resp, COOKIE, token, int(SESSION_MAX.total_seconds()))
    del resp.cookies[LOGIN_COOKIE]
    return resp


@bp.post("/logout")
@guarded()
async def logout(request: Request) -> HTTPResponse:
    """End the session."""
    desk = desk_of(request)
    await run_sync(desk.store.end_session, request.cookies.get(COOKIE))
    await run_sync(desk.store.audit, request.ctx.user.agent.username, "sign_out")
    resp = response.redirect("/login")
    del resp.cookies[COOKIE]
    return resp


@bp.get("/")
@guarded()
async def home(request: Request) -> HTTPResponse:
    """Send trainers to the resolved cases, everyone else to the queue."""
    return response.redirect("/resolved" if request.ctx.user.agent.role == "trainer" else "/queue")
