"""Telegram rendering: split a long reply into messages Telegram accepts.

Telegram limits a text message to 4096 characters counted as UTF-16 code units (an emoji outside
the Basic Multilingual Plane counts 2), measured after it strips the message's ends.
"""

from __future__ import annotations

import re

from bot.render.text import cluster_ends, utf16_len

MAX_MESSAGE_LENGTH = 4096

# Where a message may be split, from the most to the least natural. Each pattern matches the
# separator, which stays at the end of the piece before it.
_SEPARATORS = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(r"\n\s*"),  # lines
    re.compile(r"[.!?…]+[\"'”’»)\]]*\s+"),  # sentences
    re.compile(r"\s+"),  # words
)


def _pieces(text: str, separator: re.Pattern[str]) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in separator.finditer(text):
        if match.end() > start and match.start() > 0:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _hard_split(text: str, limit: int) -> list[str]:
    """Split between user-perceived characters (or code points, if one is longer than limit)."""
    parts: list[str] = []
    start = used = 0
    previous = 0
    for end in cluster_ends(text):
        size = utf16_len(text[previous:end])
        if size > limit:  # a freak cluster (a very long ZWJ chain): fall back to code points
            if previous > start:
                parts.append(text[start:previous])
            parts.extend(_hard_split_code_points(text[previous:end], limit))
            start, used = end, 0
        elif used + size > limit:
            parts.append(text[start:previous])
            start, used = previous, size
        else:
            used += size
        previous = end
    if start < len(text):
        parts.append(text[start:])
    return parts


def _hard_split_code_points(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += size
    if current:
        parts.append("".join(current))
    return parts


def _split(text: str, limit: int, level: int) -> list[str]:
    if utf16_len(text.rstrip()) <= limit:
        return [text]
    if level == len(_SEPARATORS):
        return _hard_split(text.rstrip(), limit)
    pieces = _pieces(text, _SEPARATORS[level])
    if len(pieces) < 2:
        return _split(text, limit, level + 1)
    parts: list[str] = []
    current, used = "", 0
    for piece in pieces:
        # What counts is the piece without its trailing separator: a part's ends are stripped.
        content = utf16_len(piece.rstrip())
        if used + content <= limit:
            current += piece
            used += utf16_len(piece)
            continue
        if current:
            parts.append(current)
        if content <= limit:
            current, used = piece, utf16_len(piece)
        else:
            parts.extend(_split(piece, limit, level + 1))
            current, used = "", 0
    if current:
        parts.append(current)
    return parts


def split_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split a reply into Telegram messages of at most ``limit`` UTF-16 code units each.

    Splits at paragraph breaks if it can, else at line breaks, else after sentences, else between
    words, and only as a last resort between characters (never inside an emoji or a surrogate
    pair). Each part is stripped; no part is empty.

    Args:
        text: The reply.
        limit: The most UTF-16 code units per message (4096 on Telegram).

    Returns:
        The messages in order; an empty list for a blank text.

    Raises:
        ValueError: If ``limit`` is below 2 (a surrogate pair must fit).
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 UTF-16 code units")
    stripped = text.strip()
    if not stripped:
        return []
    parts = (part.strip() for part in _split(stripped, limit, 0))
    return [part for part in parts if part]
