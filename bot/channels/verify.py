"""Checking a webhook request before anything else: secrets, signatures, size, JSON.

Every comparison of a secret is constant-time; every rejection carries a reason safe to log; no
secret reaches a log line (:func:`protect_secrets` redacts them from every record).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

from sanic.request import Request

from bot.channels.config import Secret

__all__ = [
    "Rejected",
    "check_size",
    "parse_json_object",
    "protect_secrets",
    "redact",
    "reveal",
    "secrets_match",
    "signature_matches",
]

#: Larger webhook bodies are refused (413): no platform sends one message this big.
DEFAULT_MAX_BODY_BYTES = 256 * 1024


class Rejected(Exception):
    """A webhook request refused: the HTTP status and a reason safe to log."""

    def __init__(self, status: int, reason: str) -> None:
        """Builds the rejection.

        Args:
            status: 400 malformed, 403 forged, 413 too large, ...
            reason: Why, in a few words; never a secret or a header's value.
        """
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def reveal(value: Secret | str | None) -> str:
    """The plain value of a secret option (tests may pass plain strings)."""
    if value is None:
        return ""
    return value.reveal() if isinstance(value, Secret) else str(value)


_PROTECTED: set[str] = set()
_FACTORY_INSTALLED = False


def protect_secrets(*values: Secret | str | None) -> None:
    """Makes sure the given secrets never reach a log line, whoever logs them.

    Every log record created afterwards has these values replaced by ``***`` (libraries log
    request URLs, and Telegram's URLs contain the bot token). Called by each connector when it
    is configured; nothing happens at import.
    """
    global _FACTORY_INSTALLED
    for value in values:
        plain = reveal(value)
        if len(plain) >= 6:  # a short value would redact ordinary words
            _PROTECTED.add(plain)
    if _FACTORY_INSTALLED or not _PROTECTED:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging module's business
            return record
        if any(secret in message for secret in _PROTECTED):
            record.msg, record.args = redact(message), ()
        return record

    logging.setLogRecordFactory(factory)
    _FACTORY_INSTALLED = True


def redact(text: str) -> str:
    """``text`` with every protected secret replaced by ``***``."""
    for secret in _PROTECTED:
        text = text.replace(secret, "***")
    return text


def secrets_match(given: str | None, expected: Secret | str | None) -> bool:
    """Compares a presented secret with the expected one in constant time.

    Args:
        given: What the request carried (a header's value), or None.
        expected: The configured secret.

    Returns:
        False when either is missing or empty, or when they differ.
    """
    wanted = reveal(expected)
    if not given or not wanted:
        return False
    return hmac.compare_digest(given.encode("utf-8"), wanted.encode("utf-8"))


def signature_matches(
    given: str | None,
    key: Secret | str,
    message: bytes,
    *,
    digest: str = "sha256",
    encoding: str = "base64",
    prefix: str = "",
) -> bool:
    """Checks an HMAC signature header in constant time.

    Args:
        given: The header's value, e.g. ``sha256=...``.
        key: The signing secret.
        message: The signed bytes (usually the raw body).
        digest: The hash ("sha256", "sha1").
        encoding: How the platform writes the MAC: "base64" or "hex".
        prefix: Text before the MAC (``"sha256="`` on X).

    Returns:
        True when the signature is the expected one.
    """
    secret = reveal(key)
    if not given or not secret:
        return False
    mac = hmac.new(secret.encode("utf-8"), message, getattr(hashlib, digest)).digest()
    expected = prefix + (base64.b64encode(mac).decode() if encoding == "base64" else mac.hex())
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_size(request: Request, limit: int) -> None:
    """Refuses a body over ``limit`` bytes.

    Raises:
        Rejected: 413, by the declared length or the body actually read.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, f"body of {declared} bytes is over the {limit}-byte limit")
    if len(request.body or b"") > limit:
        raise Rejected(413, f"body of {len(request.body)} bytes is over the {limit}-byte limit")


def parse_json_object(body: bytes | None) -> dict[str, Any]:
    """Parses a webhook's JSON body.

    Raises:
        Rejected: 400 when it is empty, not UTF-8 JSON, or not an object.
    """
    if not body:
        raise Rejected(400, "empty body")
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Rejected(400, f"malformed JSON ({type(error).__name__})") from error
    if not isinstance(value, dict):
        raise Rejected(400, "JSON body is not an object")
    return value
