"""The desk's web app (Sanic, server-rendered pages, a little JavaScript, no build step).

Every page and API needs a session; every POST needs the session's CSRF token (forms carry it in
a hidden field, scripts in an ``X-CSRF-Token`` header) and a same-origin ``Origin`` when the
browser sends one. Customer text is hostile input: templates autoescape everything, the CSP allows
no inline script, and personal data stays masked unless the case's agent or a supervisor reveals
it — each reveal is written to the audit log. Database work runs in worker threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import itertools
import logging
import os
import secrets
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.render.base import CHANNELS
from bot.settings import Brand
from desk.inputs import install, row_id
from desk.intents import known_intents, valid_intent_name
from desk.measure import measure
from desk.models import ROLES
from desk.rasa import RasaClient, RasaError
from desk.store import LOCKOUT_FOR, SESSION_MAX, DeskStore, SignedIn
from handoff.db import session_factory
from handoff.models import Ticket
from handoff.priority import effective_priority
from handoff.queue import (
    DEFAULT_CLAIM_TTL,
    ClaimConflict,
    HandoffQueue,
    TicketClosed,
    TicketNotFound,
)
from handoff.transcript import customer_label as mask_customer

__all__ = ["COOKIE", "Desk", "create_app"]

logger = logging.getLogger("afterhours.desk")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: The session cookie (its value is a random token; only its hash is stored).
COOKIE = "afterhours_desk"
# The sign-in form's double-submit CSRF cookie (there is no session yet).
LOGIN_COOKIE = "afterhours_desk_login"
REASONS = ("emotional", "private", "complex", "human_requested", "in_hours")
WHY = {
    "emotional": "The customer is upset: anger, distress, or a threat to leave or to complain.",
    "private": "It needs the customer's account, or the message carries personal data.",
    "complex": "The bot was not sure, it is outside what the bot knows, or its answer did not "
    "help.",
    "human_requested": "The customer asked for a person.",
    "in_hours": "The desk was open: a person answers even routine questions.",
}
NEED_LABELS = {1: "urgent", 2: "high", 3: "normal", 4: "low"}
MESSAGES = {
    "claimed": "The case is yours.",
    "taken": "Another agent holds this case.",
    "released": "The case is back in the queue.",
    "sent": "Your answer was sent to the customer.",
    "resolved": "Resolved; the bot answers this customer again.",
    "resolved_unreleased": "Resolved, but Rasa did not confirm the release: the bot may stay "
    "quiet in this conversation until the customer writes again.",
    "reassigned": "Reassigned.",
    "none_free": "No free case matches these filters.",
    "saved": "Saved.",
    "deleted": "Deleted.",
}
MAX_ANSWER = 10_000
_PAGE_ROWS = 200
_app_names = itertools.count(1)


@dataclass
class Desk:
    """What the desk's pages work with: the queue, the desk's store, Rasa and the brand.

    Args:
        queue: The handoff queue.
        store: The desk's accounts, sessions, audit log, canned answers and labels.
        rasa: The Rasa HTTP API client.
        brand: The brand (time zone, languages, departments).
        claim_ttl: How long a claim holds without activity.
        secure_cookies: Mark cookies ``Secure`` (behind HTTPS).
        intents: The intents a case may be resolved with.
        poll_seconds: How often the queue page refreshes itself.
    """

    queue: HandoffQueue
    store: DeskStore
    rasa: RasaClient
    brand: Brand
    claim_ttl: dt.timedelta = DEFAULT_CLAIM_TTL
    secure_cookies: bool = False
    intents: list[str] = field(default_factory=list)
    poll_seconds: int = 5

    @classmethod
    def from_env(cls, db_url: str | None = None, root: Path | None = None) -> Desk:
        """Build the desk from the environment; migrates both schemas, seeds canned answers."""
        from bot.settings import database_url, load_brand
        from desk.db import migrate as migrate_desk
        from desk.seed import seed_canned

        brand = load_brand()
        queue = HandoffQueue.from_url(db_url or database_url(), migrate=True)
        migrate_desk(queue.engine)
        store = DeskStore(queue.engine)
        seed_canned(store)
        minutes = int(os.environ.get("AFTERHOURS_DESK_CLAIM_MINUTES") or 30)
        return cls(
            queue=queue,
            store=store,
            rasa=RasaClient.from_env(),
            brand=brand,
            claim_ttl=dt.timedelta(minutes=minutes),
            secure_cookies=os.environ.get("AFTERHOURS_DESK_SECURE_COOKIES", "") == "1",
            # The project folder: the current one when it holds the domain, else the checkout.
            intents=known_intents(
                root or (Path.cwd() if (Path.cwd() / "domain.yml").is_file() else HERE.parent)
            ),
        )

    # -- who may do what ----------------------------------------------------------------------

    def holds(self, ticket: Ticket, username: str, now: dt.datetime) -> bool:
        """Whether ``username`` holds a live claim on the ticket."""
        return (
            ticket.status == "claimed"
            and ticket.claimed_by == username
            and ticket.claimed_at is not None
            and ticket.claimed_at >= now - self.claim_ttl
        )

    def may_view(self, ticket: Ticket, user: SignedIn) -> bool:
        """Agents see waiting cases and the ones they resolved; trainers resolved ones."""
        role = user.agent.role
        if role == "supervisor":
            return True
        if role == "trainer":
            return ticket.status == "resolved"
        return ticket.status != "resolved" or ticket.claimed_by == user.agent.username

    def may_reveal(self, ticket: Ticket, user: SignedIn, now: dt.datetime) -> bool:
        """Only a supervisor, or the agent holding the case, may see its personal data."""
        if user.agent.role == "supervisor":
            return True
        return user.agent.role == "agent" and self.holds(ticket, user.agent.username, now)


async def _sync(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run blocking database or network work in a worker thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(function, *args, **kwargs))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _templates(desk: Desk) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name: customer text is hostile
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = ZoneInfo(desk.brand.timezone)

    def local(moment: dt.datetime | None, fmt: str = "%a %d %b %H:%M") -> str:
        return moment.astimezone(zone).strftime(fmt) if moment else "—"

    def customer_label(ticket: Ticket) -> str:
        # A phone number is personal data: show its end only (one rule for desk, CLI and logs).
        return mask_customer(ticket.channel, ticket.customer)

    def last_customer_text(ticket: Ticket) -> str:
        last = next((e for e in reversed(ticket.transcript) if e.author == "customer"), None)
        flat = " ".join((last.masked_text if last else "").split())
        return flat if len(flat) <= 140 else flat[:139] + "…"

    env.globals.update(
        local=local,
        customer_label=customer_label,
        last_customer_text=last_customer_text,
        need_labels=NEED_LABELS,
        why=WHY,
        brand=desk.brand,
        poll_seconds=desk.poll_seconds,
    )
    return env


def _origin_ok(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlparse(origin).netloc == request.headers.get("host", "")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def create_app(desk: Desk, name: str | None = None) -> Sanic:
    """Build the desk's Sanic app.

    Args:
        desk: The services the pages use.
        name: Sanic's app name (unique per process); generated by default.

    Returns:
        The app; serve it with ``app.run`` (see :mod:`desk.server`).
    """
    app = Sanic(name or f"afterhours_desk_{next(_app_names)}")
    app.config.REQUEST_MAX_SIZE = 1_000_000
    app.config.FALLBACK_ERROR_FORMAT = "text"
    install(app, STATIC)  # ids, static files and NUL characters checked for every route
    env = _templates(desk)

    def page(template: str, request: Request, status: int = 200, **context: Any) -> HTTPResponse:
        user: SignedIn | None = getattr(request.ctx, "user", None)
        html = env.get_template(template).render(
            user=user.agent if user else None,
            csrf_token=user.csrf_token if user else "",
            message=MESSAGES.get(request.args.get("msg", ""), ""),
            **context,
        )
        return response.html(html, status=status)

    def refuse(request: Request, status: int, text: str) -> HTTPResponse:
        return page("error.html", request, status=status, error=text)

    Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]

    def guarded(roles: Sequence[str] = ROLES, api: bool = False) -> Callable[[Handler], Handler]:
        """Require a session (and a role); on POST also the CSRF token and the same origin."""

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
                user = await _sync(desk.store.session_for, request.cookies.get(COOKIE))
                if user is None:
                    if api or request.method != "GET":
                        return response.json({"error": "sign in first"}, status=401)
                    return response.redirect("/login?" + urlencode({"next": request.path}))
                request.ctx.user = user
                if request.method == "POST":
                    sent = request.headers.get("x-csrf-token") or (
                        request.form.get("csrf_token") if request.form else None
                    )
                    if (
                        not sent
                        or not hmac.compare_digest(str(sent), user.csrf_token)
                        or not _origin_ok(request)
                    ):
                        return refuse(request, 403, "This form has expired. Reload the page.")
                if user.agent.role not in roles:
                    return refuse(request, 403, "Your role does not open this page.")
                return await handler(request, *args, **kwargs)

            return wrapped

        return decorate

    @app.middleware("response")
    async def security_headers(request: Request, resp: HTTPResponse) -> None:
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "same-origin"
        if not request.path.startswith("/static/"):
            resp.headers["Cache-Control"] = "no-store"

    def set_cookie(resp: HTTPResponse, name: str, value: str, max_age: int) -> None:
        resp.cookies[name] = value
        resp.cookies[name]["httponly"] = True
        resp.cookies[name]["samesite"] = "Strict"
        resp.cookies[name]["path"] = "/"
        resp.cookies[name]["max-age"] = max_age
        if desk.secure_cookies:
            resp.cookies[name]["secure"] = True

    # -- health, sign-in, sign-out ------------------------------------------------------------

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.get("/login")
    async def login_form(request: Request) -> HTTPResponse:
        token = secrets.token_urlsafe(24)
        resp = page(
            "login.html", request, login_csrf=token, next=_safe_next(request.args.get("next"))
        )
        set_cookie(resp, LOGIN_COOKIE, token, 3600)
        return resp

    @app.post("/login")
    async def login(request: Request) -> HTTPResponse:
        form = request.form or {}
        sent, expected = form.get("csrf_token"), request.cookies.get(LOGIN_COOKIE)
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            return refuse(request, 403, "This form has expired. Reload the page.")
        username = (form.get("username") or "").strip().lower()[:64]
        result = await _sync(desk.store.authenticate, username, form.get("password") or "")
        if result.outcome != "ok" or result.agent is None:
            await _sync(
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
            set_cookie(resp, LOGIN_COOKIE, token, 3600)
            return resp
        token, _csrf = await _sync(desk.store.start_session, result.agent)
        await _sync(desk.store.audit, result.agent.username, "sign_in")
        resp = response.redirect(_safe_next(form.get("next")))
        set_cookie(resp, COOKIE, token, int(SESSION_MAX.total_seconds()))
        del resp.cookies[LOGIN_COOKIE]
        return resp

    @app.post("/logout")
    @guarded()
    async def logout(request: Request) -> HTTPResponse:
        await _sync(desk.store.end_session, request.cookies.get(COOKIE))
        await _sync(desk.store.audit, request.ctx.user.agent.username, "sign_out")
        resp = response.redirect("/login")
        del resp.cookies[COOKIE]
        return resp

    @app.get("/")
    @guarded()
    async def home(request: Request) -> HTTPResponse:
        return response.redirect(
            "/resolved" if request.ctx.user.agent.role == "trainer" else "/queue"
        )

    # -- the queue ----------------------------------------------------------------------------

    def filters_from(request: Request) -> dict[str, str | None]:
        def pick(name: str, allowed: Sequence[str]) -> str | None:
            value = request.args.get(name) or None
            return value if value in allowed else None

        departments = sorted({*desk.brand.departments, "general"})
        return {
            "department": pick("department", departments),
            "language": pick("language", desk.brand.languages),
            "channel": pick("channel", CHANNELS),
            "reason": pick("reason", REASONS),
        }

    def queue_view(filters: dict[str, str | None]) -> dict[str, Any]:
        now = _now()
        tickets, matching = desk.queue.list_page(
            now=now,
            department=filters["department"],
            language=filters["language"],
            channel=filters["channel"],
            reason=filters["reason"],
            limit=_PAGE_ROWS,
        )
        counts = desk.queue.summary(now=now)
        digest = next(iter(desk.store.notices(limit=1, kind="digest")), None)
        reminders = desk.store.notices(limit=5, kind="reminder")
        rows = [
            {
                "ticket": t,
                "priority": effective_priority(t.need, t.created_at, now),
                "overdue": t.reply_eta < now,
                "claim_live": t.status == "claimed"
                and t.claimed_at is not None
                and t.claimed_at >= now - desk.claim_ttl,
            }
            for t in tickets
        ]
        return {
            "rows": rows,
            "shown": len(rows),
            "matching": matching,
            "counts": counts,
            "digest": digest,
            "reminders": reminders,
            "now": now,
        }

    @app.get("/queue")
    @guarded(roles=("agent", "supervisor"))
    async def queue_page(request: Request) -> HTTPResponse:
        filters = filters_from(request)
        view = await _sync(queue_view, filters)
        query = urlencode({k: v for k, v in filters.items() if v})
        return page(
            "queue.html",
            request,
            filters=filters,
            poll_url="/api/queue" + (f"?{query}" if query else ""),
            filter_query=f"?{query}" if query else "",
            departments=sorted({*desk.brand.departments, "general"}),
            languages=desk.brand.languages,
            channels=CHANNELS,
            reasons=REASONS,
            **view,
        )

    @app.get("/api/queue")
    @guarded(roles=("agent", "supervisor"), api=True)
    async def queue_api(request: Request) -> HTTPResponse:
        view = await _sync(queue_view, filters_from(request))
        return response.json(
            {
                "rows": env.get_template("_queue_rows.html").render(**view),
                "summary": env.get_template("_queue_summary.html").render(**view),
                "waiting": view["counts"]["waiting"],
            }
        )

    @app.post("/queue/next")
    @guarded(roles=("agent", "supervisor"))
    async def take_next(request: Request) -> HTTPResponse:
        user: SignedIn = request.ctx.user
        filters = filters_from(request)
        ticket_id = await _sync(
            desk.queue.claim_next, user.agent.username, ttl=desk.claim_ttl, **filters
        )
        if ticket_id is None:
            return response.redirect("/queue?msg=none_free")
        await _sync(desk.store.audit, user.agent.username, "claim", ticket_id, {"next": True})
        return response.redirect(f"/cases/{ticket_id}?msg=claimed")

    # -- a case -------------------------------------------------------------------------------

    def case_view(ticket_id: int, user: SignedIn, revealed: bool) -> dict[str, Any] | None:
        ticket = desk.queue.get(ticket_id)
        if ticket is None:
            return None
        now = _now()
        history = desk.queue.history(
            ticket.conversation_id,
            channel=ticket.channel,
            customer=ticket.customer,
            exclude=ticket.id,
            limit=10,
        )
        is_supervisor = user.agent.role == "supervisor"
        return {
            "ticket": ticket,
            "now": now,
            "revealed": revealed,
            "priority": effective_priority(ticket.need, ticket.created_at, now),
            "overdue": ticket.status != "resolved" and ticket.reply_eta < now,
            "mine": desk.holds(ticket, user.agent.username, now),
            "claim_live": ticket.status == "claimed"
            and ticket.claimed_at is not None
            and ticket.claimed_at >= now - desk.claim_ttl,
            "may_reveal": desk.may_reveal(ticket, user, now),
            "may_work": user.agent.role in ("agent", "supervisor") and ticket.status != "resolved",
            "history": history,
            "viewable": {t.id for t in history if desk.may_view(t, user)},
            "canned": desk.store.canned_answers(ticket.language),
            "limits": measure(ticket.channel, ticket.public, ticket.customer, ""),
            "intents": desk.intents,
            "labels": desk.store.labels(ticket_id=ticket.id),
            "agents": desk.store.agents(("agent", "supervisor")) if is_supervisor else [],
            "audit": desk.store.audit_log(ticket_id=ticket.id, limit=50) if is_supervisor else [],
        }

    async def show_case(
        request: Request, ticket_id: int, *, revealed: bool = False, status: int = 200, **extra: Any
    ) -> HTTPResponse:
        user: SignedIn = request.ctx.user
        view = await _sync(case_view, ticket_id, user, revealed)
        if view is None:
            return refuse(request, 404, "There is no such case.")
        if not desk.may_view(view["ticket"], user):
            return refuse(request, 403, "This case is not open to your role.")
        view.update(extra)
        view.setdefault("draft", "")
        view.setdefault("error", "")
        return page("case.html", request, status=status, **view)

    async def load(request: Request, ticket_id: int) -> Ticket | HTTPResponse:
        ticket = await _sync(desk.queue.get, ticket_id)
        if ticket is None:
            return refuse(request, 404, "There is no such case.")
        if not desk.may_view(ticket, request.ctx.user):
            return refuse(request, 403, "This case is not open to your role.")
        return ticket

    @app.get("/cases/<ticket_id:id>")
    @guarded()
    async def case_page(request: Request, ticket_id: int) -> HTTPResponse:
        return await show_case(request, ticket_id)

    @app.post("/cases/<ticket_id:id>/reveal")
    @guarded(roles=("agent", "supervisor"))
    async def reveal(request: Request, ticket_id: int) -> HTTPResponse:
        user: SignedIn = request.ctx.user
        ticket = await load(request, ticket_id)
        if isinstance(ticket, HTTPResponse):
            return ticket
        if not desk.may_reveal(ticket, user, _now()):
            await _sync(desk.store.audit, user.agent.username, "reveal_refused", ticket_id)
            return refuse(
                request, 403, "Only the agent holding this case, or a supervisor, may reveal it."
            )
        hidden = sum(1 for e in ticket.transcript if e.personal_data)
        await _sync(
            desk.store.audit,
            user.agent.username,
            "reveal",
            ticket_id,
            {"entries_with_personal_data": hidden, "ip": request.ip},
        )
        return await show_case(request, ticket_id, revealed=True)

    @app.post("/cases/<ticket_id:id>/claim")
    @guarded(roles=("agent", "supervisor"))
    async def claim(request: Request, ticket_id: int) -> HTTPResponse:
        user: SignedIn = request.ctx.user
        won = await _sync(desk.queue.claim, ticket_id, user.agent.username, ttl=desk.claim_ttl)
        if won:
            await _sync(desk.store.audit, user.agent.username, "claim", ticket_id)
        return response.redirect(f"/cases/{ticket_id}?msg={'claimed' if won else 'taken'}")

    @app.post("/cases/<ticket_id:id>/release")
    @guarded(roles=("agent", "supervisor"))
    async def release(request: Request, ticket_id: int) -> HTTPResponse:
        user: SignedIn = request.ctx.user
        if await _sync(desk.queue.release_claim, ticket_id, user.agent.username):
            await _sync(desk.store.audit, user.agent.username, "release", ticket_id)
        return response.redirect("/queue?msg=released")

    @app.post("/cases/<ticket_id:id>/reassign")
    @guarded(roles=("supervisor",))
    async def reassign(request: Request, ticket_id: int) -> HTTPResponse:
        user: SignedIn = request.ctx.user
        target = (request.form.get("agent") or "").strip()
        allowed = {a.username for a in await _sync(desk.store.agents, ("agent", "supervisor"))}
        if target not in allowed:
            return refuse(request, 400, "Choose an agent to give the case to.")
        try:
            await _sync(desk.queue.reassign, ticket_id, target)
        except TicketNotFound:
            return refuse(request, 404, "There is no such case.")
        except TicketClosed:
            return refuse(request, 409, "This case is resolved.")
        await _sync(desk.store.audit, user.agent.username, "reassign", ticket_id, {"to": target})
        return response.redirect(f"/cases/{ticket_id}?msg=reassigned")

    @app.post("/cases/<ticket_id:id>/reply")
    @guarded(roles=("agent", "supervisor"))
    async def reply(request: Request, ticket_id: int) -> HTTPResponse:
        user: SignedIn = request.ctx.user
        text = (request.form.get("text") or "").strip()
        ticket = await load(request, ticket_id)
        if isinstance(ticket, HTTPResponse):
            return ticket
        if not text or len(text) > MAX_ANSWER:
            return await show_case(
                request,
                ticket_id,
                status=400,
                draft=text[:MAX_ANSWER],
                error=f"Write an answer (at most {MAX_ANSWER} characters).",
            )
        # Hold the case first: two agents must never both answer one customer.
        if not await _sync(desk.queue.claim, ticket_id, user.agent.username, ttl=desk.claim_ttl):
            return await show_case(
                request,
                ticket_id,
                status=409,
                draft=text,
                error="Another agent holds this case, or it is resolved.",
            )
        metadata = {"source": "desk", "agent": user.agent.username, "ticket": ticket_id}
        if ticket.public and {"private", "emotional"} & set(ticket.reasons):
            # The bot moved this public case to a private message; the agent continues there.
            metadata["visibility"] = "private"
        try:
            await _sync(desk.rasa.send_bot_message, ticket.conversation_id, text, metadata)
        except RasaError as error:
            logger.warning("sending the answer of case %s failed: %s", ticket_id, error)
            return await show_case(
                request,
                ticket_id,
                status=502,
                draft=text,
                error="The answer could not be sent (Rasa did not take it). Nothing was sent; "
                "try again.",
            )
        try:
            await _sync(
                desk.queue.reply,
                ticket_id,
                user.agent.username,
                text,
                metadata={"delivered_via": "rasa"},
                ttl=desk.claim_ttl,
            )
        except (ClaimConflict, TicketClosed) as error:
            # Sent already; the transcript missing it is better than a second message.
            logger.warning("case %s: answer sent but not recorded: %s", ticket_id, error)
        await _sync(
            desk.store.audit, user.agent.username, "reply", ticket_id, {"length": len(text)}
        )
        return response.redirect(f"/cases/{ticket_id}?msg=sent")

    @app.post("/cases/<ticket_id:id>/resolve")
    @guarded(roles=("agent", "supervisor"))
    async def resolve(request: Request, ticket_id: int) -> HTTPResponse:
        user: SignedIn = request.ctx.user
        form = request.form
        chosen = (form.get("intent") or "").strip()
        proposed = chosen == "__new__"
        intent = (form.get("new_intent") or "").strip().lower() if proposed else chosen
        if proposed and intent in desk.intents:
            proposed = False
        if not proposed and intent not in desk.intents:
            return await show_case(
                request, ticket_id, status=400, error="Choose the intent this case really was."
            )
        if proposed and not valid_intent_name(intent):
            return await show_case(
                request,
                ticket_id,
                status=400,
                error="A new intent needs a name like billing_dispute or faq/new_topic.",
            )
        ticket = await load(request, ticket_id)
        if isinstance(ticket, HTTPResponse):
            return ticket
        try:
            ticket = await _sync(
                desk.queue.resolve, ticket_id, user.agent.username, intent, ttl=desk.claim_ttl
            )
        except ClaimConflict:
            return await show_case(
                request, ticket_id, status=409, error="Another agent holds this case."
            )
        except TicketClosed:
            return await show_case(request, ticket_id, status=409, error="Already resolved.")
        texts = [e.masked_text for e in ticket.transcript if e.author == "customer"]
        await _sync(
            desk.store.store_labels,
            ticket_id,
            intent=intent,
            proposed=proposed,
            language=ticket.language,
            texts=texts,
            by=user.agent.username,
        )
        await _sync(
            desk.store.audit,
            user.agent.username,
            "resolve",
            ticket_id,
            {"intent": intent, "proposed": proposed},
        )
        try:
            await _sync(desk.rasa.release, ticket.conversation_id)
        except RasaError as error:
            logger.warning("releasing the conversation of case %s failed: %s", ticket_id, error)
            return response.redirect(f"/cases/{ticket_id}?msg=resolved_unreleased")
        return response.redirect("/queue?msg=resolved")

    @app.post("/api/measure")
    @guarded(roles=("agent", "supervisor"), api=True)
    async def measure_api(request: Request) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        try:
            ticket_id = row_id(body.get("ticket"))
        except ValueError:
            return response.json({"error": "ticket"}, status=400)
        ticket = await _sync(desk.queue.get, ticket_id)
        if ticket is None or not desk.may_view(ticket, request.ctx.user):
            return response.json({"error": "no such case"}, status=404)
        text = str(body.get("text") or "")[:MAX_ANSWER]
        return response.json(measure(ticket.channel, ticket.public, ticket.customer, text))

    # -- resolved cases (trainers), canned answers and the audit log (supervisors) ------------

    def resolved_view() -> list[Ticket]:
        with session_factory(desk.queue.engine)() as session:  # a read the queue lacks
            return list(
                session.execute(
                    select(Ticket)
                    .where(Ticket.status == "resolved")
                    .order_by(Ticket.resolved_at.desc(), Ticket.id.desc())
                    .limit(_PAGE_ROWS)
                    .options(selectinload(Ticket.transcript))
                ).scalars()
            )

    @app.get("/resolved")
    @guarded(roles=("trainer", "supervisor"))
    async def resolved(request: Request) -> HTTPResponse:
        tickets = await _sync(resolved_view)
        labels = await _sync(desk.store.labels)
        proposed = {e.ticket_id for e in labels if e.proposed}
        counts: dict[int, int] = {}
        for example in labels:
            counts[example.ticket_id] = counts.get(example.ticket_id, 0) + 1
        return page(
            "resolved.html", request, tickets=tickets, label_counts=counts, proposed=proposed
        )

    @app.get("/canned")
    @guarded(roles=("supervisor",))
    async def canned(request: Request) -> HTTPResponse:
        answers = await _sync(desk.store.canned_answers, None, request.args.get("q", ""))
        return page(
            "canned.html",
            request,
            answers=answers,
            q=request.args.get("q", ""),
            languages=desk.brand.languages,
        )

    @app.post("/canned")
    @guarded(roles=("supervisor",))
    async def canned_save(request: Request) -> HTTPResponse:
        form = request.form
        answer_id = form.get("id")
        language = form.get("language") or ""
        if language not in desk.brand.languages:
            return refuse(request, 400, "Choose one of the brand's languages.")
        try:
            saved = await _sync(
                desk.store.save_canned,
                language=language,
                title=form.get("title") or "",
                body=form.get("body") or "",
                by=request.ctx.user.agent.username,
                answer_id=row_id(answer_id) if answer_id else None,
            )
        except ValueError as error:  # an AccountError, or a bad id from row_id
            return refuse(request, 400, str(error))
        await _sync(
            desk.store.audit,
            request.ctx.user.agent.username,
            "canned_save",
            None,
            {"id": saved.id},
        )
        return response.redirect("/canned?msg=saved")

    @app.post("/canned/<answer_id:id>/delete")
    @guarded(roles=("supervisor",))
    async def canned_delete(request: Request, answer_id: int) -> HTTPResponse:
        await _sync(desk.store.delete_canned, answer_id)
        await _sync(
            desk.store.audit,
            request.ctx.user.agent.username,
            "canned_delete",
            None,
            {"id": answer_id},
        )
        return response.redirect("/canned?msg=deleted")

    @app.get("/audit")
    @guarded(roles=("supervisor",))
    async def audit(request: Request) -> HTTPResponse:
        events = await _sync(desk.store.audit_log, limit=500)
        return page("audit.html", request, events=events)

    return app
