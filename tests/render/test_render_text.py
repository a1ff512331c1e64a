import pytest

from bot.render.text import (
    cluster_ends,
    emoji_end,
    normalise_outgoing,
    sentence_ends,
    shorten,
    utf16_len,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Olá  ", "Olá"),
        ("a\n\n\n\nb", "a\n\nb"),
        ("a\n\nb", "a\n\nb"),
        ("a  \n \n\n\nb", "a\n\nb"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("a\tb", "a b"),
        ("a\x00b\x07c\x1bd\x7fe\x85f", "abcdef"),
        ("\ufeffstart\ufffe", "start"),
        ("e\u0301", "é"),
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # ZWJ is a format character, kept
        ("\n\n  \n", ""),
    ],
)
def test_normalise_outgoing(raw: str, expected: str) -> None:
    assert normalise_outgoing(raw) == expected


def test_emoji_end() -> None:
    text = "a👍🏽 🇵🇹🇧🇷 1️⃣ 👨\u200d👩\u200d👧 ©"
    found = []
    i = 0
    while i < len(text):
        end = emoji_end(text, i)
        if end is not None:
            found.append(text[i:end])
            i = end
        else:
            i += 1
    assert found == ["👍🏽", "🇵🇹", "🇧🇷", "1️⃣", "👨\u200d👩\u200d👧"]


def test_cluster_ends_keep_marks_and_emoji_whole() -> None:
    text = "e\u0301👍🏽\r\nx"
    assert cluster_ends(text) == [2, 4, 6, 7]


def test_sentence_ends() -> None:
    text = "Olá! Veja e.g. isto. “Sim.” Depois\nlinha nova"
    ends = sentence_ends(text)
    assert [text[:end] for end in ends] == [
        "Olá!",
        "Olá! Veja e.g. isto.",
        "Olá! Veja e.g. isto. “Sim.”",
        "Olá! Veja e.g. isto. “Sim.” Depois",
        text,
    ]


def test_shorten_prefers_whole_sentences() -> None:
    text = "Um. Dois dois. Três três três."
    assert shorten(text, lambda s: len(s) <= 16) == "Um. Dois dois."
    assert shorten("uma frase muito longa", lambda s: len(s) <= 12) == "uma frase…"
    assert shorten("abcdefgh", lambda s: len(s) <= 4) == "abc…"
    assert shorten("abc", lambda s: False) == ""


def test_utf16_len() -> None:
    assert utf16_len("aé😀") == 4
