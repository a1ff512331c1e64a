"""Who is working on the inbox, and which replies already went out.

Two small records that make redelivery exact after a crash:

- **workers**: every server process that takes inbox entries beats (``channel_workers``) every
  couple of seconds. An attempt held by a process that stopped beating — killed, or its machine
  gone — is taken over by another within seconds, without waiting for the attempt's lease; a
  process on this machine whose pid no longer exists is known gone at once.
- **the reply ledger**: each reply of an inbound message is recorded (entry id, reply index)
  right after the platform accepted it. When a message is processed again after a crash, the
  replies already recorded are skipped, so the customer never gets the same reply twice; only a
  crash between the platform's acceptance and that one INSERT can still repeat one.

Plain SQLAlchemy, blocking: async code calls these through ``asyncio.to_thread``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.channels.dbretry import retrying_call
from bot.channels.schema import channel_replies, channel_workers
from handoff.clock import naive_is_utc

__all__ = ["ReplyLedger", "Workers", "process_owner"]

_OWNER: tuple[int, str] | None = None
#: The channels each owner of this process beat for: one process may serve several connectors,
#: each beating under the same owner, and its row names them all.
_SERVED: dict[str, set[str]] = {}


def process_owner() -> str:
    """This process's name in the inbox: ``host:pid:nonce``, new in every (forked) process."""
    global _OWNER
    pid = os.getpid()
    if _OWNER is None or _OWNER[0] != pid:
        _OWNER = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return _OWNER[1]


def _pid_gone(owner: str) -> bool:
    """Whether ``owner`` names a process of this machine that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False


class Workers:
    """The heartbeats of the processes that take inbox entries."""

    def __init__(self, engine: Engine, now: Callable[[], dt.datetime]) -> None:
        """Wraps the inbox's engine; ``now`` returns the aware current time."""
        self.engine = engine
        self._now = now

    def beat(self, owner: str, channel: str | None = None) -> None:
        """Records that ``owner`` is alive now (creates its row on the first beat).

        Args:
            owner: The process (:func:`process_owner`).
            channel: The connector beating: the row names every channel the process served.
        """
        now = self._now()
        served = _SERVED.setdefault(owner, set())
        if channel:
            served.add(channel)
        channels = ",".join(sorted(served)) or None
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(channel_workers)
                .where(channel_workers.c.owner == owner)
                .values(heartbeat_at=now, channels=channels)
            ).rowcount
            if changed:
                return
            try:
                with connection.begin_nested():
                    connection.execute(
                        insert(channel_workers).values(
                            owner=owner, started_at=now, heartbeat_at=now, channels=channels
                        )
                    )
            except IntegrityError:  # another connector of this process beat first
                pass

    def leave(self, owner: str) -> None:
        """Removes ``owner`` (a clean stop): its unfinished entries are free at once."""
        _SERVED.pop(owner, None)
        with self.engine.begin() as connection:
            connection.execute(delete(channel_workers).where(channel_workers.c.owner == owner))

    def reap(self, older_than: dt.timedelta) -> list[str]:
        """Forgets workers of this machine whose process is gone, and any silent for too long.

        Args:
            older_than: Workers whose last beat is older than this are removed too (their
                entries are free anyway; this keeps the table small).

        Returns:
            The owners removed.
        """
        cutoff = self._now() - older_than
        with self.engine.begin() as connection:
            rows = connection.execute(
                select(channel_workers.c.owner, channel_workers.c.heartbeat_at)
            ).all()
            gone = [
                owner for owner, beat in rows if _pid_gone(owner) or naive_is_utc(beat) < cutoff
            ]
            if gone:
                connection.execute(delete(channel_workers).where(channel_workers.c.owner.in_(gone)))
        return gone


class ReplyLedger:
    """Which replies of each inbound message the platform accepted."""

    def __init__(self, engine: Engine, now: Callable[[], dt.datetime]) -> None:
        """Wraps the inbox's engine; ``now`` returns the aware current time."""
        self.engine = engine
        self._now = now

    def sent(self, entry_id: int) -> set[int]:
        """The indexes of the replies of ``entry_id`` already sent."""
        with self.engine.begin() as connection:
            return {
                int(idx)
                for (idx,) in connection.execute(
                    select(channel_replies.c.idx).where(channel_replies.c.entry_id == entry_id)
                )
            }

    def record(self, entry_id: int, index: int) -> None:
        """Records that reply ``index`` of ``entry_id`` went out (idempotent).

        Waits for the database while it restarts: a reply sent but not recorded would be sent
        again when the message is processed again.
        """
        retrying_call(self._insert, entry_id, index)

    def _insert(self, entry_id: int, index: int) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(channel_replies).values(
                        entry_id=entry_id, idx=index, sent_at=self._now()
                    )
                )
        except IntegrityError:  # recorded by an earlier attempt that died before finishing
            pass
