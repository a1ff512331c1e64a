"""Incident notices: one post to one linked customer, claimed before it is sent, marked after.

:class:`NoticeQueue` is the notices' half of :class:`handoff.incidents.IncidentStore`: a sender
claims pending notices (``sending`` with a delivery id), sends them, and marks them; a sender that
stopped leaves them claimed, and the next one settles them (:meth:`NoticeQueue.stale_notices`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from handoff.base import QueueBase, as_utc
from handoff.models import Incident, IncidentLink, IncidentNotice, IncidentPost

__all__ = ["Notice", "NoticeQueue", "serialise"]

#: The Postgres advisory lock that serialises detection and claims (two servers must not race).
_LOCK = 0x1AC1DE


def serialise(session: Session) -> None:
    """Takes the database's write lock first, so two servers cannot both open an incident."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
    else:  # SQLite: a write as the first statement takes the database's write lock
        session.execute(update(Incident).where(Incident.id == -1).values(kind="none"))


@dataclass(frozen=True)
class Notice:
    """One post to send to one customer (claimed: ``delivery_id`` names the attempt)."""

    id: int
    incident_id: int
    conversation_id: str
    customer: str
    channel: str
    public: bool
    language: str
    kind: str
    texts: dict[str, str] = field(default_factory=dict)
    delivery_id: str | None = None


class NoticeQueue(QueueBase):
    """The notices of the incidents (see module docstring)."""

    def claim_notices(
        self, channel: str, limit: int, delivery_ids: Sequence[str], now: dt.datetime
    ) -> list[Notice]:
        """Claims up to ``limit`` pending notices of ``channel`` (each gets a delivery id).

        A claimed notice is ``sending`` until :meth:`finish_notice`; after a crash the sender
        settles it from its delivery record (:meth:`stale_notices`), never sends it blind again.
        """
        when = as_utc(now, "now")
        claimed: list[Notice] = []
        with self._transaction() as session:
            serialise(session)
            rows = session.scalars(
                select(IncidentNotice)
                .where(IncidentNotice.state == "pending", IncidentNotice.channel == channel)
                .order_by(IncidentNotice.id)
                .limit(min(limit, len(delivery_ids)))
            ).all()
            for row, delivery_id in zip(rows, delivery_ids, strict=False):
                row.state, row.delivery_id, row.claimed_at = "sending", delivery_id, when
                claimed.append(self._notice(session, row))
        return claimed

    @staticmethod
    def _notice(session: Session, row: IncidentNotice) -> Notice:
        link = session.scalars(
            select(IncidentLink).where(
                IncidentLink.incident_id == row.incident_id,
                IncidentLink.conversation_id == row.conversation_id,
            )
        ).one()
        post = session.scalars(
            select(IncidentPost).where(
                IncidentPost.incident_id == row.incident_id,
                IncidentPost.sequence == row.sequence,
            )
        ).one()
        return Notice(
            id=row.id,
            incident_id=row.incident_id,
            conversation_id=row.conversation_id,
            customer=link.customer,
            channel=row.channel,
            public=link.public,
            language=link.language,
            kind=row.kind,
            texts=dict(post.texts or {}),
            delivery_id=row.delivery_id,
        )

    def stale_notices(self, older_than: dt.datetime) -> list[Notice]:
        """Notices claimed before ``older_than`` and never marked (their sender stopped)."""
        with self._transaction() as session:
            rows = session.scalars(
                select(IncidentNotice).where(
                    IncidentNotice.state == "sending",
                    IncidentNotice.claimed_at < as_utc(older_than, "older_than"),
                )
            ).all()
            return [self._notice(session, row) for row in rows]

    def finish_notice(
        self, notice_id: int, state: str, at: dt.datetime, reason: str | None = None
    ) -> None:
        """Marks a claimed notice ``sent``, ``failed``, ``skipped`` or ``pending`` (to retry)."""
        if state not in ("sent", "failed", "skipped", "pending"):
            raise ValueError(f"not a final state: {state!r}")
        when = as_utc(at, "at")
        with self._transaction() as session:
            session.execute(
                update(IncidentNotice)
                .where(IncidentNotice.id == notice_id, IncidentNotice.state == "sending")
                .values(
                    state=state,
                    sent_at=when if state == "sent" else None,
                    reason=reason,
                    delivery_id=IncidentNotice.delivery_id if state != "pending" else None,
                )
            )

    def notice_counts(self, incident_id: int | None = None) -> dict[str, int]:
        """How many notices are in each state (of one incident, or all)."""
        query = select(IncidentNotice.state, func.count()).group_by(IncidentNotice.state)
        if incident_id is not None:
            query = query.where(IncidentNotice.incident_id == incident_id)
        with self._transaction() as session:
            return {state: int(n) for state, n in session.execute(query).all()}

    def notices(self, incident_id: int) -> list[IncidentNotice]:
        """Every notice of an incident."""
        with self._transaction() as session:
            return list(
                session.scalars(
                    select(IncidentNotice).where(IncidentNotice.incident_id == incident_id)
                ).all()
            )
