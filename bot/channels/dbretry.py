"""Waiting out a database that is restarting, instead of losing what was being written.

When the queue's database (PostgreSQL in the scaled set-up) restarts, every statement fails for a
few seconds. What the connectors write about a message — its status, its sent replies — must not
be lost meanwhile, or the message would be processed again (and a reply sent twice), so those
writes are retried with exponential backoff and jitter (tenacity) for up to two minutes.
Anything else (a constraint, a bug) is raised at once.

The platform clients (SMS, Telegram, X) retry their sends with :func:`send_backoff`: the same
tenacity waits, shaped like their old hand-written ones plus jitter, so that the sends a platform
outage failed together do not all come back at the same instant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_random,
    wait_random_exponential,
)
from tenacity.wait import wait_base

__all__ = [
    "MAX_SEND_WAIT_SECONDS",
    "database_down",
    "retrying_call",
    "retrying_call_async",
    "send_backoff",
]

T = TypeVar("T")

#: How long a write waits for the database to come back before giving up.
MAX_WAIT_SECONDS = 120.0
#: Where the doubling waits between two tries of a platform send stop growing.
MAX_SEND_WAIT_SECONDS = 30.0


def database_down(error: BaseException) -> bool:
    """Whether ``error`` means the database could not be reached (not that it refused)."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def _policy() -> dict[str, Any]:
    return {
        "retry": retry_if_exception(database_down),
        "wait": wait_random_exponential(multiplier=0.2, max=5),
        "stop": stop_after_delay(MAX_WAIT_SECONDS),
        "reraise": True,
    }


def retrying_call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, retried while the database is down (blocking)."""
    return Retrying(**_policy())(function, *args, **kwargs)


async def retrying_call_async(
    function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> T:
    """``await function(*args, **kwargs)``, retried while the database is down."""
    return await AsyncRetrying(**_policy())(function, *args, **kwargs)


def send_backoff(first: float, cap: float = MAX_SEND_WAIT_SECONDS) -> wait_base:
    """The wait between tries of a platform send: ``first``, doubling, plus up to ``first`` more.

    Never shorter than the plain doubling (the platform gets at least that long to recover); the
    random part spreads out the sends that failed together. (tenacity's
    ``wait_exponential_jitter`` is the same, but its arguments changed between versions.)

    Args:
        first: The base of the first wait, in seconds (tests pass tiny ones).
        cap: Where the doubling stops growing (the random part comes on top).
    """
    first = max(0.0, float(first))
    return wait_exponential(multiplier=first, max=cap) + wait_random(0, first)
