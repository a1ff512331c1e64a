import pytest

from bot.render.telegram import split_message
from bot.render.text import utf16_len

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 11 UTF-16 code units


def test_short_message_is_one_part() -> None:
    assert split_message("  Olá!  ") == ["Olá!"]
    assert split_message("a" * 4096) == ["a" * 4096]


def test_blank_message_has_no_parts() -> None:
    assert split_message("") == []
    assert split_message(" \n\n ") == []


def test_splits_at_paragraphs_first() -> None:
    first, second = "a " * 1500, "b " * 1500
    text = f"{first.strip()}\n\n{second.strip()}"
    assert split_message(text) == [first.strip(), second.strip()]


def test_packs_paragraphs_greedily() -> None:
    paragraphs = [f"Parágrafo {i}. " + "x" * 1000 for i in range(10)]
    parts = split_message("\n\n".join(paragraphs))
    assert len(parts) == 3  # four paragraphs of 1013 units (and separators) fit in 4096
    assert parts == ["\n\n".join(paragraphs[i : i + 4]) for i in (0, 4, 8)]
    assert all(utf16_len(part) <= 4096 for part in parts)


def test_splits_at_lines_then_sentences_then_words() -> None:
    lines = ["linha " + "y" * 2000 for _ in range(3)]
    assert split_message("\n".join(lines)) == ["\n".join(lines[:2]), lines[2]]
    sentences = ["Frase " + "z" * 2500 + "." for _ in range(2)]
    assert split_message(" ".join(sentences)) == sentences
    words = "palavra " * 1000
    parts = split_message(words)
    assert all(part.endswith("palavra") and part.startswith("palavra") for part in parts)
    assert sum(part.count("palavra") for part in parts) == 1000


def test_hard_split_when_there_is_no_boundary() -> None:
    assert [len(part) for part in split_message("a" * 10000)] == [4096, 4096, 1808]


def test_counts_utf16_code_units() -> None:
    text = "😀" * 3000  # 6000 code units, 3000 code points
    parts = split_message(text)
    assert [utf16_len(part) for part in parts] == [4096, 1904]
    assert "".join(parts) == text
    assert split_message("😀" * 2048) == ["😀" * 2048]
    assert len(split_message("😀" * 2049)) == 2


def test_never_splits_an_emoji_sequence() -> None:
    parts = split_message(FAMILY * 1000)
    assert "".join(parts) == FAMILY * 1000
    for part in parts:
        assert utf16_len(part) <= 4096
        assert part == FAMILY * (len(part) // len(FAMILY))


def test_small_limit() -> None:
    assert split_message("ab😀c", limit=2) == ["ab", "😀", "c"]
    with pytest.raises(ValueError):
        split_message("abc", limit=1)
