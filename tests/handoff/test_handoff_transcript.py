from __future__ import annotations

import datetime as dt

import pytest

from handoff.transcript import Entry, mask

UTC = dt.timezone.utc


def test_mask_one_span() -> None:
    text = "my iban is PT50000201231234567890154 thanks"
    spans = [{"kind": "iban", "start": 11, "end": 36}]
    assert mask(text, spans) == "my iban is [iban] thanks"


def test_mask_unsorted_spans() -> None:
    text = "mail a@b.pt or call 912345678"
    spans = [
        {"kind": "phone", "start": 20, "end": 29},
        {"kind": "email", "start": 5, "end": 11},
    ]
    assert mask(text, spans) == "mail [email] or call [phone]"


def test_mask_overlapping_spans_are_merged() -> None:
    text = "account AUR-12345678 ok"
    spans = [
        {"kind": "phone", "start": 12, "end": 20},
        {"kind": "account_number", "start": 8, "end": 20},
        {"kind": "phone", "start": 10, "end": 15},
    ]
    assert mask(text, spans) == "account [account_number] ok"


def test_mask_touching_spans_stay_apart() -> None:
    assert (
        mask("abcdef", [{"kind": "x", "start": 0, "end": 3}, {"kind": "y", "start": 3, "end": 6}])
        == "[x][y]"
    )


def test_mask_clips_and_ignores_empty_spans() -> None:
    assert mask("abc", [{"kind": "x", "start": 1, "end": 99}]) == "a[x]"
    assert mask("abc", [{"kind": "x", "start": 2, "end": 2}]) == "abc"
    assert mask("abc", []) == "abc"


def test_mask_without_kind_uses_a_generic_label() -> None:
    assert mask("abc", [{"start": 0, "end": 1}]) == "[personal_data]bc"


@pytest.mark.parametrize(
    "span",
    [{"kind": "x"}, {"kind": "x", "start": "0", "end": 1}, {"kind": "x", "start": True, "end": 2}],
)
def test_mask_rejects_malformed_spans(span: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        mask("abc", [span])


def test_entry_masked_text_and_validation() -> None:
    entry = Entry(
        at=dt.datetime(2026, 3, 2, 21, 0, tzinfo=UTC),
        author="customer",
        text="write to ana@example.com",
        personal_data=[{"kind": "email", "start": 9, "end": 24}],
        metadata={"channel": "telegram", "platform": {"message_id": 7}},
    )
    assert entry.masked_text == "write to [email]"
    assert entry.text == "write to ana@example.com"
    with pytest.raises(ValueError, match="author"):
        Entry(at=entry.at, author="robot", text="hi")
    with pytest.raises(ValueError, match="aware"):
        Entry(at=dt.datetime(2026, 3, 2, 21, 0), author="bot", text="hi")
