"""The desk's Prometheus metrics on ``/metrics``, behind a bearer token (blueprint ``metrics``).

The desk listens where agents reach it, so its metrics need a secret: ``/metrics`` answers only
``Authorization: Bearer $AFTERHOURS_METRICS_TOKEN`` (compared in constant time). Without the
variable the route does not exist (404, like any unknown path); with it, a missing or wrong token
is a 401. What it shows: requests by route and status and their latency, the queue's waiting and
overdue tickets (:class:`bot.metrics.QueueGauges`), and answers or releases Rasa did not take.

Each app has its own registry (several desks may run in one process, e.g. the tests), installed
by :func:`install` with the middleware that times every request. Labels are route names and
status codes: never an agent, a customer or a case.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sanic import Blueprint, Sanic, response
from sanic.exceptions import NotFound
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from bot.metrics import LATENCY_BUCKETS, QueueGauges
from desk.routes.deps import run_sync

__all__ = ["TOKEN_ENV", "DeskMetrics", "bp", "install"]

#: The bearer token Prometheus sends; unset, the desk has no /metrics.
TOKEN_ENV = "AFTERHOURS_METRICS_TOKEN"

bp = Blueprint("metrics")


class DeskMetrics:
    """The desk's metrics in a registry of their own.

    Args:
        summary: The queue's summary (``desk.queue.summary``), read when scraped.
    """

    def __init__(self, summary: Any) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "afterhours_desk_http_requests", "Desk HTTP requests, by route and status.",
            ["route", "status"], registry=self.registry,
        )  # fmt: skip
        self.seconds = Histogram(
            "afterhours_desk_http_seconds", "Time the desk took to answer, by route.",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.failed_replies = Counter(
            "afterhours_desk_failed_replies",
            "Agents' answers (answer) or conversation releases (release) Rasa did not take.",
            ["kind"],
            registry=self.registry,
        )
        self.registry.register(QueueGauges(summary))

    def observe(self, request: Request, resp: BaseHTTPResponse) -> None:
        """Counts one answered request."""
        route = route_label(request)
        status = int(resp.status)
        self.requests.labels(route, str(status)).inc()
        started = getattr(request.ctx, "metrics_started", None)
        if started is not None:
            self.seconds.labels(route).observe(time.perf_counter() - started)
        if route == "cases.reply" and status == 502:
            self.failed_replies.labels("answer").inc()
        elif route == "cases.resolve" and "resolved_unreleased" in (
            resp.headers.get("location") or ""
        ):
            self.failed_replies.labels("release").inc()


def route_label(request: Request) -> str:
    """The route's name without the app's (``cases.reply``), or ``unmatched``."""
    route = getattr(request, "route", None)
    name = getattr(route, "name", None) if route is not None else None
    return str(name).split(".", 1)[-1] if name else "unmatched"


def authorized(request: Request, expected: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <expected>`` (constant time)."""
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode("utf-8"), expected.encode("utf-8")
    )


async def _started(request: Request) -> None:
    request.ctx.metrics_started = time.perf_counter()


async def _finished(request: Request, resp: BaseHTTPResponse) -> None:
    metrics: DeskMetrics | None = getattr(request.app.ctx, "metrics", None)
    if metrics is not None:
        metrics.observe(request, resp)
    started = getattr(request.ctx, "metrics_started", None)
    if started is not None:
        # The server's own time (W3C Server-Timing): what `afterhours bench desk` reports, and
        # what a browser's developer tools show beside the network time.
        resp.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - started):.1f}"


def install(app: Sanic) -> None:
    """Adds the metrics (registry on ``app.ctx.metrics``), the timing middleware and the route.

    Call it before the other request middleware, so refused requests are timed too.
    """
    app.ctx.metrics = DeskMetrics(app.ctx.desk.queue.summary)
    app.register_middleware(_started, "request")
    app.register_middleware(_finished, "response")
    app.blueprint(bp)


@bp.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    """The metrics in Prometheus' text format, for the bearer of the token."""
    expected = os.environ.get(TOKEN_ENV) or ""
    if not expected:
        raise NotFound("Requested URL /metrics not found")
    if not authorized(request, expected):
        return response.text(
            "A bearer token is needed.",
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = await run_sync(generate_latest, request.app.ctx.metrics.registry)
    return response.raw(body, content_type=CONTENT_TYPE_LATEST)
