"""Incidents: many customers reporting one failure become one incident with one parent case.

The bot's side records each outage report (:meth:`IncidentStore.note_report`): it is linked to a
matching open incident, or counted, and when more distinct customers than the threshold reported
the same kind of failure (in the same area when they named one) within the window, an incident
opens with one parent ticket in the queue. The desk's side declares, updates and resolves
incidents (:meth:`IncidentStore.post`); each post becomes one notice per linked customer, claimed
before it is sent so that it goes out once (:meth:`claim_notices`, :meth:`finish_notice`).
This module knows nothing of Rasa or channels.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from handoff.base import as_utc
from handoff.incident_notices import Notice, NoticeQueue, serialise
from handoff.models import (
    Incident,
    IncidentLink,
    IncidentNotice,
    IncidentPost,
    IncidentReport,
    Ticket,
    TranscriptEntry,
)
from handoff.transcript import customer_label

__all__ = [
    "GENERAL",
    "KINDS",
    "IncidentNotFound",
    "IncidentStore",
    "Notice",
    "Report",
    "Rules",
    "Summary",
    "area_in",
    "compatible",
]

#: The failing services, by the FAQ topic customers report them with. ``outage`` is general: it
#: matches an incident of any kind, and any incident matches it.
KINDS: Mapping[str, str] = {
    "faq/internet_down": "internet",
    "faq/tv_no_signal": "tv",
    "faq/outage": "outage",
}
GENERAL = "outage"
#: How many customer messages the parent case keeps as its sample.
SAMPLE_SIZE = 20


class IncidentNotFound(LookupError):
    """No incident has that id."""


@dataclass(frozen=True)
class Summary:
    """What the parent case shows (customers masked as the desk masks them)."""

    incident: Incident
    customers: int
    handed_off: int
    areas: dict[str, int]
    channels: dict[str, int]
    languages: dict[str, int]
    sample: list[tuple[dt.datetime, str, str]]
    linked: list[tuple[str, str, int | None]]
    notices: dict[str, int]


@dataclass(frozen=True)
class Rules:
    """The brand's detection settings (brand.yml ``incidents:``)."""

    window: dt.timedelta = dt.timedelta(minutes=30)
    threshold: int = 11
    update_every: dt.timedelta = dt.timedelta(minutes=60)
    enabled: bool = True


@dataclass(frozen=True)
class Report:
    """One customer's report of a failure, as the bot saw it."""

    conversation_id: str
    customer: str
    kind: str
    area: str | None
    channel: str
    public: bool
    language: str
    text: str  # masked: personal data replaced by labels
    at: dt.datetime
    message_id: str | None = None


def _plain(value: str) -> str:
    """Lower case without accents, for matching town names as customers type them."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def area_in(text_: str, areas: Iterable[str]) -> str | None:
    """The first of the brand's areas the text names (``Name/Alias/...``), by its first name.

    Matched as whole words, without accents or case: "evora" and "Évora" name ``Évora``.
    """
    plain = _plain(text_)
    for area in areas:
        names = [n.strip() for n in area.split("/") if n.strip()]
        for name in names:
            if re.search(rf"(?<!\w){re.escape(_plain(name))}(?!\w)", plain):
                return names[0]
    return None


def compatible(incident_kind: str, report_kind: str) -> bool:
    """Whether a report of ``report_kind`` belongs to an incident of ``incident_kind``."""
    return GENERAL in (incident_kind, report_kind) or incident_kind == report_kind


def _area_matches(incident_area: str | None, report_area: str | None) -> bool:
    # A report naming no town joins the open incident (the status page says where); one naming
    # another town does not.
    return incident_area is None or report_area is None or incident_area == report_area


class IncidentStore(NoticeQueue):
    """The incidents on the queue's database (see module docstring)."""

    # -- the bot's side ----------------------------------------------------------------------

    def matching(self, kind: str, area: str | None) -> Incident | None:
        """The open incident a report of ``kind`` in ``area`` belongs to, or None."""
        with self._transaction() as session:
            return self._matching(session, kind, area)

    @staticmethod
    def _matching(session: Session, kind: str, area: str | None) -> Incident | None:
        candidates = session.scalars(
            select(Incident).where(Incident.status == "open").order_by(Incident.opened_at)
        ).all()
        found = [i for i in candidates if compatible(i.kind, kind) and _area_matches(i.area, area)]
        # The same town first, then the same kind, then the oldest.
        found.sort(key=lambda i: (i.area != area, i.kind != kind))
        return found[0] if found else None

    def note_report(
        self, report: Report, rules: Rules, *, count: bool = True
    ) -> tuple[Incident | None, bool]:
        """Records a report and links it to its incident, opening one when the threshold is met.

        Args:
            report: The report.
            rules: The brand's thresholds.
            count: Whether the report counts towards opening an incident (False: only link).

        Returns:
            The incident it was linked to (None: not an incident yet) and whether it opened now.
        """
        at = as_utc(report.at, "report.at")
        with self._transaction() as session:
            serialise(session)
            incident = self._matching(session, report.kind, report.area)
            opened = False
            if incident is None and count and rules.enabled:
                incident = self._detect(session, report, rules, at)
                opened = incident is not None
            if count:
                session.add(
                    IncidentReport(
                        conversation_id=report.conversation_id,
                        customer=report.customer,
                        kind=report.kind,
                        area=report.area,
                        channel=report.channel,
                        public=report.public,
                        language=report.language,
                        text=report.text,
                        at=at,
                        incident_id=incident.id if incident else None,
                    )
                )
            if incident is not None:
                self._link(session, incident, report, at)
                session.flush()
            return incident, opened

    def _detect(
        self, session: Session, report: Report, rules: Rules, at: dt.datetime
    ) -> Incident | None:
        """Opens an incident if, with this report, enough customers reported it in the window."""
        recent = session.scalars(
            select(IncidentReport).where(
                IncidentReport.at > at - rules.window,
                IncidentReport.at <= at,
                IncidentReport.incident_id.is_(None),
            )
        ).all()
        alike = [
            r
            for r in recent
            if compatible(r.kind, report.kind) and (report.area is None or r.area == report.area)
        ]
        customers = {r.conversation_id for r in alike} | {report.conversation_id}
        if len(customers) < rules.threshold:
            return None
        kinds = [r.kind for r in alike if r.kind != GENERAL] + [report.kind]
        specific = [k for k in kinds if k != GENERAL]
        kind = max(set(specific), key=specific.count) if specific else GENERAL
        if len(set(specific)) > 1:
            kind = GENERAL  # internet and TV down together: the network
        incident = self._open(session, kind, report.area, "auto", at, rules.update_every)
        for earlier in alike:
            # Those who reported before it opened hear its updates and resolution too.
            earlier.incident_id = incident.id
            self._link(session, incident, _as_report(earlier), earlier.at)
        return incident

    def _open(
        self,
        session: Session,
        kind: str,
        area: str | None,
        by: str,
        at: dt.datetime,
        update_every: dt.timedelta,
        language: str = "en",
    ) -> Incident:
        incident = Incident(
            kind=kind,
            area=area,
            status="open",
            opened_by=by,
            opened_at=at,
            next_update_at=at + update_every,
        )
        session.add(incident)
        session.flush()
        where = f" in {area}" if area else ""
        ticket = Ticket(
            channel="incident",
            conversation_id=f"incident:{incident.id}",
            customer=f"{incident.ref}: {kind}{where}",
            public=False,
            language=language,
            locale=language,
            reasons=["incident"],
            need=2,
            department="technical",
            topic=f"incident/{kind}",
            status="open",
            created_at=at,
            updated_at=at,
            # The customers are promised an update by then: the case's promise is the same.
            reply_eta=at + update_every,
            last_customer_message_at=at,
            transcript=[],
        )
        session.add(ticket)
        session.flush()
        incident.ticket_id = ticket.id
        return incident

    def _link(self, session: Session, incident: Incident, report: Report, at: dt.datetime) -> None:
        """Links the conversation once; keeps the parent case's figures and sample current."""
        link = session.scalars(
            select(IncidentLink).where(
                IncidentLink.incident_id == incident.id,
                IncidentLink.conversation_id == report.conversation_id,
            )
        ).first()
        if link is None:
            session.add(
                IncidentLink(
                    incident_id=incident.id,
                    conversation_id=report.conversation_id,
                    customer=report.customer,
                    channel=report.channel,
                    public=report.public,
                    language=report.language,
                    message_id=report.message_id,
                    linked_at=at,
                )
            )
        incident.first_report_at = min(incident.first_report_at or at, at)
        incident.last_report_at = max(incident.last_report_at or at, at)
        if incident.ticket_id is not None and report.text:
            self._sample(session, incident.ticket_id, report, at)

    @staticmethod
    def _sample(session: Session, ticket_id: int, report: Report, at: dt.datetime) -> None:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            return
        lines = session.scalar(
            select(func.count())
            .select_from(TranscriptEntry)
            .where(TranscriptEntry.ticket_id == ticket_id)
        )
        ticket.updated_at = max(ticket.updated_at, at)
        ticket.last_customer_message_at = max(ticket.last_customer_message_at, at)
        if (lines or 0) >= SAMPLE_SIZE:
            return
        session.add(
            TranscriptEntry(
                ticket_id=ticket_id,
                position=lines or 0,
                at=at,
                author="customer",
                text=report.text,
                personal_data=[],
                meta={"channel": report.channel, "language": report.language, "sample": True},
            )
        )

    @staticmethod
    def _on_parent(
        session: Session,
        ticket_id: int,
        kind: str,
        texts: Mapping[str, str],
        by: str,
        when: dt.datetime,
    ) -> None:
        """Writes a post on the parent case, as the agent's line (its promise kept by it)."""
        lines = session.scalar(
            select(func.max(TranscriptEntry.position)).where(TranscriptEntry.ticket_id == ticket_id)
        )
        message = next(iter(texts.values()), "") if texts else ""
        session.add(
            TranscriptEntry(
                ticket_id=ticket_id,
                position=(lines if lines is not None else -1) + 1,
                at=when,
                author="agent",
                text=f"[{kind}] {message}".strip(),
                personal_data=[],
                meta={"source": "incident", "agent": by, "incident_post": kind},
            )
        )

    def link_handoff(self, incident_id: int, report: Report, ticket_id: int) -> None:
        """Links a handed-off conversation to an incident, with its own ticket."""
        at = as_utc(report.at, "report.at")
        with self._transaction() as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                raise IncidentNotFound(incident_id)
            self._link(session, incident, report, at)
            session.flush()
            session.execute(
                update(IncidentLink)
                .where(
                    IncidentLink.incident_id == incident_id,
                    IncidentLink.conversation_id == report.conversation_id,
                )
                .values(ticket_id=ticket_id)
            )

    # -- the desk's side ---------------------------------------------------------------------

    def declare(
        self,
        kind: str,
        area: str | None,
        by: str,
        at: dt.datetime,
        update_every: dt.timedelta,
        language: str = "en",
    ) -> Incident:
        """A supervisor declares an incident (no reports needed)."""
        when = as_utc(at, "at")
        with self._transaction() as session:
            serialise(session)
            return self._open(session, kind, area, by, when, update_every, language)

    def incident(self, incident_id: int) -> Incident | None:
        """The incident, or None."""
        with self._transaction() as session:
            return session.get(Incident, incident_id)

    def incidents(self, status: str | None = None) -> list[Incident]:
        """Incidents, newest first (``status``: ``open``, ``resolved`` or None for all)."""
        query = select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc())
        if status:
            query = query.where(Incident.status == status)
        with self._transaction() as session:
            return list(session.scalars(query).all())

    def links(self, incident_id: int) -> list[IncidentLink]:
        """The linked conversations, oldest first."""
        with self._transaction() as session:
            return list(
                session.scalars(
                    select(IncidentLink)
                    .where(IncidentLink.incident_id == incident_id)
                    .order_by(IncidentLink.linked_at, IncidentLink.id)
                ).all()
            )

    def by_ticket(self, ticket_id: int) -> Incident | None:
        """The incident whose parent case is ``ticket_id``, or None."""
        with self._transaction() as session:
            return session.scalars(select(Incident).where(Incident.ticket_id == ticket_id)).first()

    def post(
        self,
        incident_id: int,
        kind: str,
        texts: Mapping[str, str],
        by: str,
        at: dt.datetime,
        update_every: dt.timedelta,
    ) -> IncidentPost:
        """Posts an update or the resolution: one pending notice per linked customer.

        Args:
            incident_id: The incident.
            kind: ``update`` or ``resolved``.
            texts: The message per language (``*``: any); may be empty for a resolution.
            by: Who posted it.
            at: When.
            update_every: When the next update is due after this one.

        Raises:
            IncidentNotFound: No such incident.
            ValueError: A wrong kind, an update without text, or the incident is resolved.
        """
        if kind not in ("update", "resolved"):
            raise ValueError(f"kind must be update or resolved, not {kind!r}")
        if kind == "update" and not any(t.strip() for t in texts.values()):
            raise ValueError("an update needs a message")
        when = as_utc(at, "at")
        with self._transaction() as session:
            serialise(session)
            incident = session.get(Incident, incident_id)
            if incident is None:
                raise IncidentNotFound(incident_id)
            if incident.status != "open":
                raise ValueError(f"{incident.ref} is already resolved")
            sequence = 1 + (
                session.scalar(
                    select(func.max(IncidentPost.sequence)).where(
                        IncidentPost.incident_id == incident_id
                    )
                )
                or 0
            )
            row = IncidentPost(
                incident_id=incident_id,
                sequence=sequence,
                kind=kind,
                texts=dict(texts),
                posted_by=by,
                posted_at=when,
            )
            session.add(row)
            incident.last_update = next(iter(texts.values()), None) or kind
            incident.last_update_at = when
            incident.next_update_at = when + update_every
            if incident.ticket_id is not None:
                self._on_parent(session, incident.ticket_id, kind, texts, by, when)
            if kind == "resolved":
                incident.status, incident.resolved_at = "resolved", when
                if incident.ticket_id is not None:
                    session.execute(
                        update(Ticket)
                        .where(Ticket.id == incident.ticket_id, Ticket.status != "resolved")
                        .values(status="resolved", resolved_at=when, updated_at=when)
                    )
            for link in session.scalars(
                select(IncidentLink).where(IncidentLink.incident_id == incident_id)
            ):
                session.add(
                    IncidentNotice(
                        incident_id=incident_id,
                        conversation_id=link.conversation_id,
                        channel=link.channel,
                        sequence=sequence,
                        kind=kind,
                        state="pending",
                    )
                )
            session.flush()
            session.expunge(row)
            return row

    def summary(self, incident_id: int) -> Summary:
        """The parent case's figures: count, areas, channels, reports' times, sample, customers.

        Raises:
            IncidentNotFound: No such incident.
        """
        with self._transaction() as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                raise IncidentNotFound(incident_id)
            links = session.scalars(
                select(IncidentLink)
                .where(IncidentLink.incident_id == incident_id)
                .order_by(IncidentLink.linked_at, IncidentLink.id)
            ).all()
            reports = session.scalars(
                select(IncidentReport).where(IncidentReport.incident_id == incident_id)
            ).all()
            sample = session.scalars(
                select(TranscriptEntry)
                .where(TranscriptEntry.ticket_id == (incident.ticket_id or -1))
                .order_by(TranscriptEntry.position)
            ).all()
            areas = Counter(r.area for r in reports if r.area)
            if incident.area:
                areas[incident.area] += 0
            return Summary(
                incident=incident,
                customers=len(links),
                handed_off=sum(1 for link in links if link.ticket_id is not None),
                areas=dict(areas.most_common()),
                channels=dict(Counter(link.channel for link in links).most_common()),
                languages=dict(Counter(link.language for link in links).most_common()),
                sample=[(e.at, str(e.meta.get("channel", "")), e.masked_text) for e in sample],
                linked=[
                    (customer_label(link.channel, link.customer), link.channel, link.ticket_id)
                    for link in links
                ],
                notices=self._counts(session, incident_id),
            )

    @staticmethod
    def _counts(session: Session, incident_id: int) -> dict[str, int]:
        query = (
            select(IncidentNotice.state, func.count())
            .where(IncidentNotice.incident_id == incident_id)
            .group_by(IncidentNotice.state)
        )
        return {state: int(n) for state, n in session.execute(query).all()}

    def erase_conversation(self, conversation_id: str) -> int:
        """Erases one customer's reports, links and notices (a privacy erasure); returns rows.

        The incident and its parent case stay (their sample lines are masked reports: the
        privacy erasure of tickets handles the parent case's transcript).
        """
        removed = 0
        with self._transaction() as session:
            for model in (IncidentNotice, IncidentLink, IncidentReport):
                result = session.execute(
                    delete(model).where(model.conversation_id == conversation_id)
                )
                removed += int(result.rowcount or 0)
        return removed

    def purge_reports(self, before: dt.datetime) -> int:
        """Deletes reports no incident took, older than ``before`` (retention); returns rows."""
        with self._transaction() as session:
            result = session.execute(
                delete(IncidentReport).where(
                    IncidentReport.at < as_utc(before, "before"),
                    IncidentReport.incident_id.is_(None),
                )
            )
            return int(result.rowcount or 0)

    def first_update_at(self, incident_id: int) -> dt.datetime | None:
        """When the first update (or the resolution) was posted, or None."""
        with self._transaction() as session:
            return session.scalar(
                select(func.min(IncidentPost.posted_at)).where(
                    IncidentPost.incident_id == incident_id
                )
            )


def _as_report(row: IncidentReport) -> Report:
    """A stored report as a :class:`Report` (for linking those who reported before it opened)."""
    return Report(
        conversation_id=row.conversation_id,
        customer=row.customer,
        kind=row.kind,
        area=row.area,
        channel=row.channel,
        public=row.public,
        language=row.language,
        text=row.text,
        at=row.at,
    )
