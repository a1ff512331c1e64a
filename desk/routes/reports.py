"""The supervisors' reports: the page, its charts (SVG drawn on the server) and the CSV.

The page shows the figures of :func:`desk.reports.build_report` and refers to its charts by URL:
``/reports/charts/<name>.svg`` draws them with matplotlib in a worker thread, so the page's own
request never waits for a drawing and the CSP stays strict (images from 'self', no inline script
or style). A range's report and charts are kept for a minute: the page and its three charts
count the databases once.

The turn log is read from the tracker store's database named by ``endpoints.yml``
($AFTERHOURS_ENDPOINTS, else ./endpoints.yml, else the checkout's); ``app.ctx.turn_log`` may hold
an engine set by whoever builds the app (tests, benchmarks).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from desk.reports import build_report, csv_text, open_turn_log, parse_range
from desk.routes.deps import desk_of, guarded, page, refuse, run_sync, utc_now

__all__ = ["CHARTS", "bp"]

bp = Blueprint("reports")

#: The charts the page shows, by name.
CHARTS = ("hours", "daily", "agents")
_ENDPOINTS_ENV = "AFTERHOURS_ENDPOINTS"
_CHECKOUT = Path(__file__).resolve().parents[2]
# A missing turn log (the tracker store not started yet) is looked for again after this long.
_RETRY_SECONDS = 60.0
_CACHE_SIZE = 64
# How long a computed report or drawn chart is served again (the page loads three charts).
_FRESH_SECONDS = 60.0
_lock = threading.Lock()


def _endpoints() -> Path:
    given = os.environ.get(_ENDPOINTS_ENV)
    if given:
        return Path(given)
    here = Path.cwd() / "endpoints.yml"
    return here if here.is_file() else _CHECKOUT / "endpoints.yml"


def _turn_engine(request: Request) -> Any:
    """The turn log's engine kept on the app (None while the tracker store has no turn log)."""
    ctx = request.app.ctx
    with _lock:
        engine = getattr(ctx, "turn_log", None)
        if engine is not None or getattr(ctx, "turn_log_fixed", False):
            return engine
        if time.monotonic() - getattr(ctx, "turn_log_checked", -_RETRY_SECONDS) < _RETRY_SECONDS:
            return None
        ctx.turn_log_checked = time.monotonic()
        ctx.turn_log = open_turn_log(_endpoints())
        return ctx.turn_log


def _range(request: Request) -> tuple[dt.datetime, dt.datetime]:
    """The range of ``?since=&until=`` (the last night by default); ValueError when bad."""
    since = request.args.get("since") or None
    until = request.args.get("until") or None
    calendar = desk_of(request).brand.calendar()
    return parse_range(since, until, calendar, utc_now(), _turn_engine(request))


def _cached(request: Request, key: tuple[str, ...]) -> Any:
    """A value computed for ``key`` less than :data:`_FRESH_SECONDS` ago, or None."""
    cache = _cache(request)
    with _lock:
        found = cache.get(key)
    if found is None or time.monotonic() - found[0] > _FRESH_SECONDS:
        return None
    return found[1]


def _keep(request: Request, key: tuple[str, ...], value: Any) -> None:
    cache = _cache(request)
    with _lock:
        cache[key] = (time.monotonic(), value)
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)


def _report(request: Request, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """The report over the range; the page, its charts and the CSV share it for a minute."""
    key = ("report", since.isoformat(), until.isoformat())
    report = _cached(request, key)
    if report is None:
        desk = desk_of(request)
        report = build_report(
            desk.queue.engine, _turn_engine(request), desk.brand.timezone, since, until, utc_now()
        )
        _keep(request, key, report)
    return report


def _query(since: dt.datetime, until: dt.datetime) -> str:
    return urlencode({"since": since.isoformat(), "until": until.isoformat()})


@bp.get("/reports")
@guarded(roles=("supervisor",))
async def reports(request: Request) -> HTTPResponse:
    """The report over ``?since=&until=`` (ISO dates or date-times; the last night by default)."""
    try:
        since, until = _range(request)
    except ValueError as error:
        return refuse(request, 400, str(error))
    report = await run_sync(_report, request, since, until)
    zone = desk_of(request).brand.timezone
    query = _query(since, until)
    return page(
        "reports.html",
        request,
        report=report,
        query=query,
        charts=CHARTS,
        since_value=since.astimezone(_zone(zone)).strftime("%Y-%m-%dT%H:%M"),
        until_value=until.astimezone(_zone(zone)).strftime("%Y-%m-%dT%H:%M"),
        peak_hour=max(report["volume_by_hour"].values(), default=0),
    )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@bp.get("/reports.csv")
@guarded(roles=("supervisor",))
async def reports_csv(request: Request) -> HTTPResponse:
    """The daily series and a total (``?table=agents``: the agents) as CSV."""
    table = request.args.get("table") or "daily"
    if table not in ("daily", "agents"):
        return refuse(request, 400, "table: daily or agents")
    try:
        since, until = _range(request)
    except ValueError as error:
        return refuse(request, 400, str(error))
    report = await run_sync(_report, request, since, until)
    name = f"afterhours-{table}-{since.date().isoformat()}-{until.date().isoformat()}.csv"
    return response.text(
        csv_text(report, table),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _cache(request: Request) -> OrderedDict[tuple[str, ...], tuple[float, Any]]:
    ctx = request.app.ctx
    with _lock:
        if not hasattr(ctx, "report_cache"):
            ctx.report_cache = OrderedDict()
        cache: OrderedDict[tuple[str, ...], tuple[float, Any]] = ctx.report_cache
        return cache


@bp.get("/reports/charts/<name:str>")
@guarded(roles=("supervisor",))
async def chart(request: Request, name: str) -> HTTPResponse:
    """One chart of the report as SVG, drawn once per range (``?since=&until=``)."""
    chart_name = name.removesuffix(".svg")
    if not name.endswith(".svg") or chart_name not in CHARTS:
        return refuse(request, 404, "No such chart.")
    try:
        since, until = _range(request)
    except ValueError as error:
        return refuse(request, 400, str(error))
    key = ("chart", chart_name, since.isoformat(), until.isoformat())
    svg = _cached(request, key)
    if svg is None:
        report = await run_sync(_report, request, since, until)
        svg = await run_sync(draw, chart_name, report)
        _keep(request, key, svg)
    return response.raw(svg, content_type="image/svg+xml")


def draw(name: str, report: dict[str, Any]) -> bytes:
    """Draw one chart of ``report`` as SVG (matplotlib's Agg backend, imported here only).

    Args:
        name: One of :data:`CHARTS`.
        report: :func:`desk.reports.build_report`'s dict.

    Returns:
        The SVG document.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 2.6), dpi=96)
    axes = figure.subplots()
    if name == "hours":
        hours = report["volume_by_hour"]
        axes.bar(list(hours), list(hours.values()), color="#2457c5")
        axes.set_title(f"Customer messages by hour ({report['range']['timezone']})", fontsize=10)
        axes.tick_params(axis="x", labelsize=7)
    elif name == "daily":
        days = report["daily"]
        labels = [day["date"][5:] for day in days]
        answered = [day["answered_by_bot"] for day in days]
        handed = [day["handoffs"] for day in days]
        ignored = [day["ignored"] for day in days]
        axes.bar(labels, answered, color="#1f7a44", label="answered by the bot")
        axes.bar(labels, handed, bottom=answered, color="#c46a00", label="handed off")
        tops = [a + h for a, h in zip(answered, handed, strict=True)]
        axes.bar(labels, ignored, bottom=tops, color="#9aa1b1", label="ignored")
        axes.legend(fontsize=7, frameon=False)
        axes.set_title("Messages per day", fontsize=10)
        axes.tick_params(axis="x", labelsize=7, rotation=45 if len(days) > 10 else 0)
    else:
        agents = [a for a in report["agents"] if a["median_minutes"] is not None]
        names = [a["agent"] for a in agents]
        # p90 first, the median over it: the light part of a bar is the slow tail.
        axes.barh(names, [a["p90_minutes"] for a in agents], color="#a9bde9", label="p90")
        axes.barh(names, [a["median_minutes"] for a in agents], color="#2457c5", label="median")
        axes.set_xlabel("minutes to the first reply", fontsize=8)
        axes.legend(fontsize=7, frameon=False)
        axes.set_title("First human response per agent", fontsize=10)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return _without_inline_styles(out.getvalue().decode("utf-8")).encode("utf-8")


_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)


def _without_inline_styles(svg: str) -> str:
    """The SVG with presentation attributes instead of matplotlib's ``style``s.

    The CSP refuses inline styles (``style-src 'self'``): a browser applying it to the image
    would draw the chart all black.
    """

    def attributes(found: re.Match[str]) -> str:
        pairs = (part.split(":", 1) for part in found.group(1).split(";") if ":" in part)
        return "".join(f' {key.strip()}="{value.strip()}"' for key, value in pairs)

    svg = _STYLE_ELEMENT.sub("", svg, count=1)
    svg = svg.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)
    return _STYLE_ATTRIBUTE.sub(attributes, svg)
