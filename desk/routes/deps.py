"""What every route relies on: the desk from ``app.ctx``, pages, refusals, the session guard.

Every page and API needs a session; every POST needs the session's CSRF token (forms carry it in
a hidden field, scripts in an ``X-CSRF-Token`` header) and a same-origin ``Origin`` when the
browser sends one (:func:`guarded`). Database work runs in worker threads (:func:`run_sync`).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import urlencode, urlparse

from jinja2 import Environment
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from desk.models import ROLES
from desk.services import Desk
from desk.store import SignedIn
from handoff.clock import utc_now  # re-exported: the routes take it from here

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "MAX_ANSWER",
    "MESSAGES",
    "PAGE_ROWS",
    "desk_of",
    "guarded",
    "page",
    "refuse",
    "run_sync",
    "set_cookie",
    "templates_of",
    "utc_now",
]

#: The session cookie (its value is a random token; only its hash is stored).
COOKIE = "afterhours_desk"
#: The sign-in form's double-submit CSRF cookie (there is no session yet).
LOGIN_COOKIE = "afterhours_desk_login"
MESSAGES = {
    "claimed": "The case is yours.",
    "taken": "Another agent holds this case.",
    "released": "The case is back in the queue.",
    "sent": "Delivered to the customer.",
    "resolved": "Resolved; the bot answers this customer again.",
    "resolved_unreleased": "Resolved, but Rasa did not confirm the release: the bot may stay "
    "quiet in this conversation until the customer writes again.",
    "reassigned": "Reassigned.",
    "none_free": "No free case matches these filters.",
    "noted": "Note added. Only agents see it.",
    "saved": "Saved.",
    "deleted": "Deleted.",
}
#: The longest answer an agent may send.
MAX_ANSWER = 10_000
#: The most rows a list page shows.
PAGE_ROWS = 200

Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


async def run_sync(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run blocking database or network work in a worker thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(function, *args, **kwargs))


def desk_of(request: Request) -> Desk:
    """The desk's services, kept on the app by :func:`desk.app.create_app`."""
    desk: Desk = request.app.ctx.desk
    return desk


def templates_of(request: Request) -> Environment:
    """The app's Jinja environment (autoescaping every template)."""
    env: Environment = request.app.ctx.templates
    return env


def page(template: str, request: Request, status: int = 200, **context: Any) -> HTTPResponse:
    """Render a page for the signed-in user (if any), with the message named by ``?msg=``."""
    user: SignedIn | None = getattr(request.ctx, "user", None)
    html = (
        templates_of(request)
        .get_template(template)
        .render(
            user=user.agent if user else None,
            csrf_token=user.csrf_token if user else "",
            message=MESSAGES.get(request.args.get("msg", ""), ""),
            **context,
        )
    )
    return response.html(html, status=status)


def refuse(request: Request, status: int, text: str) -> HTTPResponse:
    """The error page with ``text``, answered with ``status``."""
    return page("error.html", request, status=status, error=text)


def set_cookie(request: Request, resp: HTTPResponse, name: str, value: str, max_age: int) -> None:
    """Set an HTTP-only, same-site cookie (``Secure`` when the desk runs behind HTTPS)."""
    resp.cookies[name] = value
    resp.cookies[name]["httponly"] = True
    resp.cookies[name]["samesite"] = "Strict"
    resp.cookies[name]["path"] = "/"
    resp.cookies[name]["max-age"] = max_age
    if desk_of(request).secure_cookies:
        resp.cookies[name]["secure"] = True


def _origin_ok(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlparse(origin).netloc == request.headers.get("host", "")


def guarded(roles: Sequence[str] = ROLES, api: bool = False) -> Callable[[Handler], Handler]:
    """Require a session (and a role); on POST also the CSRF token and the same origin.

    Args:
        roles: The roles the route is open to.
        api: Answer a missing session with 401 JSON even on GET (scripts, not pages).

    Returns:
        The decorator.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            user = await run_sync(desk_of(request).store.session_for, request.cookies.get(COOKIE))
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
