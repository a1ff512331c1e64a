"""The Redis at 127.0.0.1:6379 for tests of the scaled set-up.

Without it the test is skipped, or fails when HANDOFF_REQUIRE_POSTGRES is set (CI sets it: the
scaled set-up's services come together).
"""

from __future__ import annotations

import os

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def require_redis() -> None:
    """Skips the test (fails it in CI) when the Redis does not answer."""
    import redis

    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        if os.environ.get("HANDOFF_REQUIRE_POSTGRES"):
            pytest.fail(f"Redis at {REDIS_HOST}:{REDIS_PORT} is required but unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_HOST}:{REDIS_PORT} unreachable: {exc}")
