"""Property-style checks without hypothesis: many seeded random texts, the limits always hold."""

import random
import unicodedata

import pytest

from bot.render import (
    encoding_of,
    fit_public_reply,
    fit_sms,
    is_gsm7,
    normalise_outgoing,
    render,
    split_message,
    transliterate_to_gsm7,
    weighted_length,
)
from bot.render.text import ELLIPSIS, utf16_len
from bot.render.x import segments

ITERATIONS = 250

# fmt: off
WORDS = [
    "olá", "ligação", "não", "está", "internet", "router", "fatura", "pagamento", "ação",
    "perché", "città", "niño", "¿qué", "tal?", "€10", "£5", "{x}", "[y]", "a|b", "~",
    "hello", "world.", "ok!", "e.g.", "nº", "1ª", "“citação”", "—", "…", "日本語", "안녕",
    "Привет", "مرحبا", "👍", "👍🏽", "😀😀", "👨\u200d👩\u200d👧\u200d👦", "🇵🇹", "1️⃣", "©", "❤️",
    "https://example.com/a/b?c=d", "https://aurora.example/chat", "www.aurora.pt/ajuda",
    "aurora.example/chat", "example.com", "help@aurora.example", "+351 210 000 000",
    "210000000", "x" * 40, "y" * 300, "\u0301", "\u200d", "\ufe0f", "\t", "\r", "\x07",
]
# fmt: on
SEPARATORS = [" ", " ", " ", " ", "  ", "\n", "\n\n", ". ", "! ", "? ", ", ", "\n\n\n"]


def random_text(rng: random.Random, max_words: int = 120) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(0, max_words)):
        if rng.random() < 0.1:
            parts.append("".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(1, 6))))
        else:
            parts.append(rng.choice(WORDS))
        parts.append(rng.choice(SEPARATORS))
    return "".join(parts)


def emoji_and_urls(text: str) -> set[str]:
    normal = unicodedata.normalize("NFC", text)
    return {normal[seg.start : seg.end] for seg in segments(normal) if seg.kind != "char"}


@pytest.mark.parametrize("seed", range(4))
def test_public_replies_always_fit(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(ITERATIONS // 4):
        body = normalise_outgoing(random_text(rng))
        assert weighted_length(body) == sum(seg.weight for seg in segments(body))
        handle = rng.choice(["ana", "@Joao_Silva", "x", "AuroraCare"])
        limit = rng.choice([280, 280, 140, 60, 30])
        reply = fit_public_reply(body, handle, limit=limit)
        name = handle.lstrip("@")
        assert weighted_length(reply) <= limit
        assert reply == "@" + name or reply.startswith("@" + name + " ")
        # Links and emoji sequences in the reply are ones the body had: none was cut open.
        head = reply.removesuffix(ELLIPSIS)
        assert emoji_and_urls(head) <= emoji_and_urls(body) | emoji_and_urls("@" + name)
        if weighted_length(f"@{name} {body}") <= limit and body:
            assert reply == f"@{name} {body}"


@pytest.mark.parametrize("seed", range(4))
def test_sms_always_fits(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(ITERATIONS // 4):
        text = normalise_outgoing(random_text(rng))
        max_segments = rng.choice([1, 2, 2, 3])
        fitted = fit_sms(text, max_segments=max_segments)
        assert encoding_of(fitted).segments <= max_segments
        if encoding_of(text).segments <= max_segments:
            assert fitted == text
        assert is_gsm7(transliterate_to_gsm7(text))


@pytest.mark.parametrize("seed", range(4))
def test_telegram_parts_always_fit(seed: int) -> None:
    rng = random.Random(200 + seed)
    for _ in range(ITERATIONS // 4):
        text = random_text(rng, max_words=200)
        limit = rng.choice([2, 3, 11, 50, 200, 4096])
        parts = split_message(text, limit=limit)
        assert all(part and part == part.strip() for part in parts)
        assert all(utf16_len(part) <= limit for part in parts)
        # Nothing is lost or reordered, apart from whitespace at the cuts.
        assert "".join("".join(parts).split()) == "".join(text.split())


@pytest.mark.parametrize("seed", range(2))
def test_normalise_is_idempotent_and_clean(seed: int) -> None:
    rng = random.Random(300 + seed)
    for _ in range(ITERATIONS // 2):
        clean = normalise_outgoing(random_text(rng))
        assert normalise_outgoing(clean) == clean
        assert "\n\n\n" not in clean
        assert all(c == "\n" or unicodedata.category(c) != "Cc" for c in clean)


@pytest.mark.parametrize("seed", range(2))
def test_render_respects_every_channel(seed: int) -> None:
    rng = random.Random(400 + seed)
    for _ in range(ITERATIONS // 4):
        text = random_text(rng, max_words=400)
        (x_reply,) = render("x", text, public=True, handle="cliente") or ["@cliente"]
        assert weighted_length(x_reply) <= 280
        assert all(len(p) <= 10_000 for p in render("x", text, public=False, handle="cliente"))
        assert all(
            utf16_len(p) <= 4096 for p in render("telegram", text, public=False, handle=None)
        )
        for body in render("sms", text, public=False, handle=None):
            assert encoding_of(body).segments <= 2
