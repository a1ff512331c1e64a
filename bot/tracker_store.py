"""Rasa's SQL tracker store, the same table and rows, with less work on every message.

Profiling `rasa run` under load (benchmarks/results.md, experiment 17) put a fifth of a
message's time in `SQLTrackerStore.save`: before inserting, it counts the conversation's stored
events with a query (to know which of the tracker's events are new), and it inserts them one ORM
object at a time. This store remembers how many events each tracker it loaded or saved already
has in the table, so it only counts when it meets a tracker it has not seen, and inserts the new
rows in one statement. A conversation's first message used to pay for the count too: Rasa creates
its tracker right after finding no row for it, and saves the empty tracker at once; this store
knows from that lookup that nothing is stored, so the empty save costs nothing.

Remembering is safe across processes because Rasa holds the conversation's lock (the lock store)
from loading the tracker to saving it: no other worker writes that conversation in between. The
memory is per tracker object, dropped with the object; a lookup that found nothing is forgotten
once this store writes the conversation or finds it.

In the same transaction as a turn's events it writes the turn log (:mod:`bot.turn_log`): one row
per customer message the bot decided on, for the supervisors' reports — stored exactly when the
turn is, in one more insert per save.

Configure it in `endpoints.yml` with the settings of Rasa's `SQL` store and
`type: bot.tracker_store.LeanSQLTrackerStore`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot import turn_log, turns

logger = logging.getLogger(__name__)


class LeanSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` without the count query per save and with one insert per save."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Takes the same settings as Rasa's `SQLTrackerStore` (dialect, host, db, ...)."""
        super().__init__(*args, **kwargs)
        # id(tracker) -> (the tracker, weakly; how many of its events are in the table).
        self._stored: dict[int, tuple[weakref.ref[DialogueStateTracker], int]] = {}
        # Conversations the last lookup found no row for (and none written since by this store):
        # Rasa creates and saves their tracker next.
        self._absent: set[str] = set()
        # The reports' turn log lives beside the events, written in the same transaction.
        turn_log.create_table(self.engine)

    def _remember(self, tracker: DialogueStateTracker) -> None:
        key = id(tracker)
        self._stored[key] = (
            weakref.ref(tracker, lambda _: self._stored.pop(key, None)),
            len(tracker.events),
        )

    def stored_events(self, tracker: DialogueStateTracker) -> int | None:
        """How many of this tracker's events are in the table, if this store knows."""
        entry = self._stored.get(id(tracker))
        if entry is None or entry[0]() is not tracker:
            return None
        return entry[1]

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        try:
            tracker = await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        except Exception as error:
            if turns.current() is not None:  # a connector will try the message again
                raise turns.StoreUnavailable(type(error).__name__) from error
            raise
        if tracker is not None:
            # Everything a retrieved tracker holds came from the table.
            self._remember(tracker)
            self._absent.discard(sender_id)
        elif self.domain:
            # Rasa returns None for "no row" only when it has a domain (same test as its own).
            self._absent.add(sender_id)
        return tracker

    def _stored_count(self, tracker: DialogueStateTracker) -> int | None:
        stored = self.stored_events(tracker)
        if stored is None and tracker.sender_id in self._absent:
            # A new conversation's tracker, made by Rasa (or its fail-safe wrapper) right after the
            # lookup found no row; the conversation's lock has been held since.
            return 0
        return stored

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator[Any]:
        stored = self._stored_count(tracker)
        if stored is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, None)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Inserts the tracker's events that are not in the table yet, in one statement.

        When a connector watches the turn (:mod:`bot.turns`), reports on it: a turn in which a
        custom action lost its events (the action server failed) is not stored, so that the
        connector processes the message again from the same tracker.
        """
        await self.stream_events(tracker)
        turn = turns.current()
        if turn is not None:
            # The turn's last save decides: committed stays False if the database fails below.
            turn.reported, turn.committed = True, False
        if self._stored_count(tracker) == len(tracker.events):
            # Nothing new (a new conversation's empty tracker): no session, no query.
            self._remember(tracker)
            if turn is not None:
                turn.committed = True
            return
        with self.session_scope() as session:
            new_events = list(self._additional_events(session, tracker))
            if turn is not None:
                turn.lost = turns.lost_actions(new_events, self._custom_actions())
                if turn.lost:
                    logger.warning(
                        "%s lost its events (action server failed): turn of message %s not "
                        "stored, to be processed again",
                        ", ".join(turn.lost),
                        turn.message_id,
                    )
                    return
            rows = [self._row(tracker.sender_id, event) for event in new_events]
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
                # The turn's decisions, committed with its events or not at all.
                logged = _turn_log_rows(tracker.sender_id, new_events)
                if logged:
                    session.execute(turn_log.TURN_LOG.insert(), logged)
                session.commit()
                self._absent.discard(tracker.sender_id)
            if turn is not None:
                turn.committed = True
        self._remember(tracker)

    def _custom_actions(self) -> list[str]:
        """The domain's custom actions (run by the action server), not its responses."""
        if self.domain is None:
            return []
        return [name for name in self.domain.user_actions if not name.startswith("utter_")]

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }


def _departments() -> Mapping[str, Sequence[str]] | None:
    """brand.yml's departments (cached by bot.settings); None when the brand cannot be read."""
    from bot.settings import ConfigError, load_brand

    try:
        return load_brand().departments
    except ConfigError:
        return None


def _turn_log_rows(sender_id: str, events: list[Event]) -> list[dict[str, Any]]:
    """The turn log's rows for a save; none, with a warning, if they cannot be made.

    A report must never cost a turn: an unexpected value in the `triage` slot loses its row in
    the turn log, not the customer's message.
    """
    try:
        return turn_log.rows_for(sender_id, events, dt.datetime.now(dt.timezone.utc), _departments)
    except Exception as error:  # noqa: BLE001 - see the docstring
        logger.warning("Turn log row not written (%s)", type(error).__name__)
        return []
