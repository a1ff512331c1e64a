"""What the desk's pages work with, built once from the environment: queue, store, Rasa, brand.

The desk's configuration layer (:class:`Desk`): the routes in :mod:`desk.routes` read it from
``app.ctx.desk`` and ask it who may do what with a case.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import Brand
from desk.intents import known_intents
from desk.rasa import RasaClient
from desk.store import DeskStore, SignedIn
from handoff.desk_side import DEFAULT_CLAIM_TTL, DeskQueue
from handoff.models import Ticket

__all__ = ["Desk"]

# The checkout: the project folder when the current one does not hold the domain.
_CHECKOUT = Path(__file__).resolve().parent.parent


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

    queue: DeskQueue
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
        queue = DeskQueue.from_url(db_url or database_url(), migrate=True)
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
                root or (Path.cwd() if (Path.cwd() / "domain.yml").is_file() else _CHECKOUT)
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
