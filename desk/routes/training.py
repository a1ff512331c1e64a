"""Trainers review the labels before export, and see what the bot got wrong (``training``).

Open to trainers and supervisors (agents label cases when they resolve them; they do not review
their own labels). Every review action is written to the audit log. The texts shown are the
labelled examples' (masked when they were stored) and the transcripts' masked texts: personal
data is never shown in clear here.

What the bot got wrong (``/training/misses``) is read from what the queue stores:

- ``faq``: a handed-off case an agent or trainer labelled as a known FAQ topic: the bot could have
  answered it.
- ``unsure``: the bot was not sure (handoff reason ``complex``). The NLU's confidence itself is not
  stored with the ticket (the ``triage`` slot is not copied onto it, nor the parse data onto the
  transcript); when a transcript entry's metadata does carry ``intent_confidence`` or
  ``confidence``, a value under the bot's threshold is listed and shown.
- ``repeated``: the customer asked again after the bot answered: a customer message much like
  one before a bot answer, the bot's answer to the ticket's own topic given before the handoff,
  or a message whose metadata names the ``not_helpful`` intent.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.triage import Thresholds
from desk.export import export_intent
from desk.inputs import row_id
from desk.intents import faq_topic
from desk.models import TrainingExample
from desk.routes.deps import PAGE_ROWS, desk_of, guarded, page, refuse, run_sync
from desk.services import Desk
from desk.store import REVIEWS, SignedIn
from handoff.db import session_factory
from handoff.models import Ticket, TranscriptEntry

__all__ = ["Miss", "bp", "find_misses"]

bp = Blueprint("training")

REVIEWERS = ("trainer", "supervisor")
#: Two customer messages sharing this share of their words ask the same thing.
SAME_QUESTION = 0.5
_WORD = re.compile(r"\w+")
_CONFIDENCE_KEYS = ("intent_confidence", "confidence")
# The audit log's action for each review (an edit of the intent is ``training_edit``).
_ACTIONS = {"accepted": "training_accept", "excluded": "training_exclude"}


@dataclass(frozen=True)
class Miss:
    """One thing the bot got wrong: its kind (``faq``, ``unsure``, ``repeated``), case, why."""

    kind: str
    ticket: Ticket
    detail: str
    text: str
    labelled: bool


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _same_question(first: str, second: str) -> bool:
    a, b = _words(first), _words(second)
    if len(a) < 2 or len(b) < 2:
        return False  # "hi" twice is not a question asked again
    return len(a & b) / len(a | b) >= SAME_QUESTION


def _confidence(entry: TranscriptEntry) -> float | None:
    meta = entry.meta or {}
    for key in _CONFIDENCE_KEYS:
        value = meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _repeated(ticket: Ticket) -> tuple[str, str] | None:
    """Why the customer asked again after a bot answer, and the message; None if they did not."""
    lines = list(ticket.transcript)
    bots = [i for i, e in enumerate(lines) if e.author == "bot"]
    # The last bot line is the handoff's promise: only the bot's lines before it are answers.
    answers = bots[:-1]
    for later, entry in enumerate(lines):
        if entry.author != "customer":
            continue
        if (entry.meta or {}).get("intent") == "not_helpful":
            return "said the bot's answer did not help", entry.masked_text
        answered = [i for i in answers if i < later]
        if not answered:
            continue
        if ticket.suggested_answer and any(
            lines[i].text.strip() == ticket.suggested_answer.strip() for i in answered
        ):
            return f"asked again about {ticket.topic} after the bot answered it", entry.masked_text
        asked = [e.masked_text for e in lines[: answered[-1]] if e.author == "customer"]
        if any(_same_question(text, entry.masked_text) for text in asked):
            return "asked the same again after the bot's answer", entry.masked_text
    return None


def _first_customer_text(ticket: Ticket) -> str:
    first = next((e for e in ticket.transcript if e.author == "customer"), None)
    return first.masked_text if first else ""


def find_misses(
    tickets: list[Ticket],
    examples: list[TrainingExample],
    known: list[str],
    threshold: float = Thresholds().intent,
) -> list[Miss]:
    """What the bot got wrong in these tickets (their transcripts loaded), by kind then case.

    Args:
        tickets: The tickets to look at.
        examples: Their labels (excluded ones are ignored).
        known: The domain's intents (a label must be one of them to count as a known FAQ).
        threshold: Under this intent confidence the bot was not sure.

    Returns:
        The rows of the misses page.
    """
    by_ticket: dict[int, list[TrainingExample]] = defaultdict(list)
    for example in examples:
        if example.review != "excluded":
            by_ticket[example.ticket_id].append(example)
    found: list[Miss] = []
    for ticket in tickets:
        labels = by_ticket.get(ticket.id, [])
        intents = {export_intent(e) for e in labels} | {ticket.resolved_intent or ""}
        faq = sorted(i for i in intents if faq_topic(i) and i in known)
        if faq:
            shown = next((e.text for e in labels if export_intent(e) in faq), None)
            text = shown or _first_customer_text(ticket)
            found.append(Miss("faq", ticket, f"labelled {', '.join(faq)}", text, bool(labels)))
        scores = [(c, e) for e in ticket.transcript if (c := _confidence(e)) is not None]
        low = [(c, e) for c, e in scores if c < threshold and e.author == "customer"]
        if low or "complex" in (ticket.reasons or []):
            guess = f"; its guess: {ticket.topic}" if ticket.topic else ""
            if low:
                score, entry = min(low, key=lambda pair: pair[0])
                detail, text = f"confidence {score:.2f}{guess}", entry.masked_text
            else:
                detail, text = f"not sure (confidence not stored){guess}", ""
            found.append(
                Miss("unsure", ticket, detail, text or _first_customer_text(ticket), bool(labels))
            )
        again = _repeated(ticket)
        if again:
            found.append(Miss("repeated", ticket, again[0], again[1], bool(labels)))
    order = {"faq": 0, "unsure": 1, "repeated": 2}
    return sorted(found, key=lambda m: (order[m.kind], -m.ticket.id))


def _tickets(desk: Desk) -> list[Ticket]:
    """The latest tickets with their transcripts, newest first (runs in a worker thread)."""
    with session_factory(desk.queue.engine)() as session:  # a read the queue lacks
        return list(
            session.execute(
                select(Ticket)
                .order_by(Ticket.id.desc())
                .limit(PAGE_ROWS)
                .options(selectinload(Ticket.transcript))
            ).scalars()
        )


def _filters(source: Any) -> dict[str, str]:
    """The review list's filters from a query or a form: a state and a case, both checked."""
    state = str(source.get("state") or "pending")
    filters = {"state": state if state in REVIEWS or state == "all" else "pending", "ticket": ""}
    with contextlib.suppress(ValueError):  # no case, or not an id: every case
        filters["ticket"] = str(row_id(source.get("ticket") or ""))
    return filters


def _query(filters: dict[str, str], **extra: str) -> str:
    return urlencode({k: v for k, v in {**filters, **extra}.items() if v})


@bp.get("/training")
@guarded(roles=REVIEWERS)
async def review_page(request: Request) -> HTTPResponse:
    """The labelled messages to review (pending by default), with accept, edit and exclude."""
    desk = desk_of(request)
    filters = _filters(request.args)
    ticket = int(filters["ticket"]) if filters["ticket"] else None
    examples = await run_sync(desk.store.labels, ticket_id=ticket)
    counts = {state: sum(1 for e in examples if e.review == state) for state in REVIEWS}
    if filters["state"] != "all":
        examples = [e for e in examples if e.review == filters["state"]]
    return page(
        "training.html",
        request,
        view="review",
        examples=examples[-PAGE_ROWS:][::-1],
        counts=counts,
        filters=filters,
        intents=desk.intents,
    )


async def _review(
    request: Request, example_id: int, review: str, intent: str | None = None
) -> HTTPResponse:
    """Set an example's review state (and intent, when given); audit it."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    form = request.form or {}
    if intent is not None and intent not in desk.intents:
        return refuse(request, 400, "Choose one of the bot's intents.")
    example = await run_sync(
        desk.store.review_label, example_id, review, by=user.agent.username, intent=intent
    )
    if example is None:
        return refuse(request, 404, "There is no such labelled message.")
    action = "training_edit" if intent is not None else _ACTIONS[review]
    detail = {"example": example_id, "review": review, "intent": export_intent(example)}
    if intent is not None:
        detail["from"] = example.intent
    await run_sync(desk.store.audit, user.agent.username, action, example.ticket_id, detail)
    return response.redirect("/training?" + _query(_filters(form), msg="saved"))


@bp.post("/training/<example_id:id>/accept")
@guarded(roles=REVIEWERS)
async def accept(request: Request, example_id: int) -> HTTPResponse:
    """Accept a labelled message for export under its current intent."""
    return await _review(request, example_id, "accepted")


@bp.post("/training/<example_id:id>/intent")
@guarded(roles=REVIEWERS)
async def edit_intent(request: Request, example_id: int) -> HTTPResponse:
    """Accept a labelled message under another of the bot's intents."""
    intent = ((request.form or {}).get("intent") or "").strip()
    return await _review(request, example_id, "accepted", intent)


@bp.post("/training/<example_id:id>/exclude")
@guarded(roles=REVIEWERS)
async def exclude(request: Request, example_id: int) -> HTTPResponse:
    """Keep a labelled message out of every export."""
    return await _review(request, example_id, "excluded")


@bp.get("/training/misses")
@guarded(roles=REVIEWERS)
async def misses(request: Request) -> HTTPResponse:
    """What the bot got wrong in the latest cases the user may open."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    tickets = [t for t in await run_sync(_tickets, desk) if desk.may_view(t, user)]
    examples = await run_sync(desk.store.labels)
    rows = find_misses(tickets, examples, desk.intents)
    return page("training.html", request, view="misses", misses=rows, intents=desk.intents)


@bp.post("/training/label")
@guarded(roles=REVIEWERS)
async def label(request: Request) -> HTTPResponse:
    """Label an unlabelled resolved case's customer messages (accepted: a trainer chose it)."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    form = request.form or {}
    intent = (form.get("intent") or "").strip()
    try:
        ticket_id = row_id(form.get("ticket") or "")
    except ValueError:
        return refuse(request, 400, "Which case?")
    if intent not in desk.intents:
        return refuse(request, 400, "Choose one of the bot's intents.")
    ticket = await run_sync(desk.queue.get, ticket_id)
    if ticket is None:
        return refuse(request, 404, "There is no such case.")
    if not desk.may_view(ticket, user) or ticket.status != "resolved":
        return refuse(request, 403, "Only resolved cases are labelled here.")
    if await run_sync(desk.store.labels, ticket_id=ticket_id):
        return response.redirect(f"/training?state=all&ticket={ticket_id}")
    count = await run_sync(
        desk.store.store_labels,
        ticket_id,
        intent=intent,
        proposed=False,
        language=ticket.language,
        texts=[e.masked_text for e in ticket.transcript if e.author == "customer"],
        by=user.agent.username,
        review="accepted",
    )
    await run_sync(
        desk.store.audit,
        user.agent.username,
        "training_label",
        ticket_id,
        {"intent": intent, "examples": count},
    )
    return response.redirect(f"/training?state=all&ticket={ticket_id}&msg=saved")
