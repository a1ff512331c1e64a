"""The desk's web app (Sanic, server-rendered pages, a little JavaScript, no build step).

:func:`create_app` builds the app from the desk's services (:class:`desk.services.Desk`): it
keeps them and the templates on ``app.ctx``, installs the input checks and the security headers,
and registers one blueprint per purpose from :mod:`desk.routes` (sign-in, queue, cases, resolved
cases, canned answers, audit). Customer text is hostile input: templates autoescape everything,
the CSP allows no inline script, and personal data stays masked unless the case's agent or a
supervisor reveals it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import itertools
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import Sanic
from sanic.request import Request
from sanic.response import BaseHTTPResponse

from desk.inputs import install
from desk.routes import audit, auth, canned, cases, metrics, queue, reports, resolved, training
from desk.routes import incidents as incident_routes  # outages (README "Incidents")
from desk.routes import privacy as privacy_routes  # a customer's data (supervisors)
from desk.routes.deps import COOKIE, LOGIN_COOKIE
from desk.services import Desk
from handoff.models import Ticket
from handoff.transcript import customer_label as mask_customer

__all__ = ["COOKIE", "LOGIN_COOKIE", "Desk", "create_app"]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
WHY = {
    "emotional": "The customer is upset: anger, distress, or a threat to leave or to complain.",
    "private": "It needs the customer's account, or the message carries personal data.",
    "complex": "The bot was not sure, it is outside what the bot knows, or its answer did not "
    "help.",
    "human_requested": "The customer asked for a person.",
    "in_hours": "The desk was open: a person answers even routine questions.",
}
NEED_LABELS = {1: "urgent", 2: "high", 3: "normal", 4: "low"}
BLUEPRINTS = (
    auth.bp,
    queue.bp,
    cases.bp,
    resolved.bp,
    canned.bp,
    audit.bp,
    training.bp,
    reports.bp,
    privacy_routes.bp,
    incident_routes.bp,
)
_app_names = itertools.count(1)


def _templates(desk: Desk) -> Environment:
    """The Jinja environment of the pages, with the helpers and brand facts they use."""
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


async def _security_headers(request: Request, resp: BaseHTTPResponse) -> None:
    """Every answer: a strict CSP, no framing, no sniffing, no caching but of static files."""
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith("/static/"):
        resp.headers["Cache-Control"] = "no-store"


async def _freeze_start_up(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
    """Keep the start-up's objects (modules, templates, the app) out of later collections.

    They live as long as the server. Left in the collector's oldest generation, every full
    collection walks all of them again: a pause of tens of milliseconds in the middle of a
    request every few page loads. Frozen, a full collection walks only what was made since.
    """
    gc.collect()
    gc.freeze()


async def _unfreeze(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
    """Give the frozen objects back to the collector when the server stops (tests start many)."""
    gc.unfreeze()


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
    app.ctx.desk = desk
    app.ctx.templates = _templates(desk)
    metrics.install(app)  # /metrics, and every request timed (before the input checks refuse)
    install(app, STATIC)  # ids, static files and NUL characters checked for every route
    app.register_middleware(_security_headers, "response")
    for blueprint in BLUEPRINTS:
        app.blueprint(blueprint)
    app.register_listener(_freeze_start_up, "after_server_start")
    app.register_listener(_unfreeze, "after_server_stop")
    return app
