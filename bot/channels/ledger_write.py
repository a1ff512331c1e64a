"""A reply's reply-ledger write, run by a client's own thread the moment the platform took it.

The Rasa server's event loop is busy with the model's CPU work for long stretches: a connector
that recorded a reply only once that loop got back to it would leave a wide window in which a
crash makes the reply go out twice after the restart. The SMS and Telegram clients therefore take
the platform's answer on a thread of their own and call :attr:`LedgerWrite.on_sent` right there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["LedgerWrite"]


class LedgerWrite:
    """Wraps ``record`` (see ``ConnectorOutput.deliver_and_record``) for a client's thread.

    A failed write is kept, not raised on the client's thread (where it would look like a
    failed send and be retried: the reply would go out twice); :meth:`check` raises it in the
    event loop, as the default ``deliver_and_record`` would.
    """

    def __init__(self, record: Callable[[], None] | None) -> None:
        """``record`` writes the ledger row (blocking); None: nothing to record."""
        self.record = record
        self.done = False
        self.error: Exception | None = None

    @property
    def on_sent(self) -> Callable[[], None] | None:
        """What the client calls the moment the platform accepted the reply (never raises)."""
        return self._write if self.record is not None else None

    def _write(self) -> None:
        assert self.record is not None
        try:
            self.record()
        except Exception as error:  # noqa: BLE001 - raised in the event loop by check()
            self.error = error
        self.done = True

    async def now(self) -> None:
        """Records from the event loop (a reply refused for good: it is not tried again)."""
        if self.record is not None and not self.done:
            await asyncio.to_thread(self._write)
        self.check()

    def check(self) -> None:
        """Raises the write's error, if it failed."""
        if self.error is not None:
            raise self.error
