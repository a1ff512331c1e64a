"""Whether a message is addressed to the brand (no Rasa, no TensorFlow)."""

from __future__ import annotations

import pytest

from bot.nlu.addressing import Addressing, addressing

HANDLE = "@AuroraCare"


@pytest.mark.parametrize(
    "text",
    ["hello", "", "@someone_else what do you think", "RT @x: nothing", "NIF 123456789"],
)
def test_private_messages_are_always_addressed(text: str) -> None:
    result = addressing(text, public=False, brand_handle=HANDLE)
    assert result == Addressing(True, "private message")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("@AuroraCare my internet is down", "leading mention of the brand"),
        ("@auroracare my internet is down", "leading mention of the brand"),
        ("@AURORACARE help", "leading mention of the brand"),
        ("@AuroraCare", "leading mention of the brand"),
        ("  @AuroraCare\nhelp", "leading mention of the brand"),
        ("@ana @AuroraCare can you check this?", "leading mention of the brand"),
        ("@ana, @joao, @AuroraCare: still no signal", "leading mention of the brand"),
        (".@AuroraCare why is my bill so high", "leading mention of the brand"),
        ("my internet is down @AuroraCare", "mentions the brand"),
        ("Hey @AuroraCare, is there an outage in Porto?", "mentions the brand"),
        ("Three days without TV, thanks @AuroraCare 😡 #fail", "mentions the brand"),
        ("@AuroraCare's app keeps crashing", "leading mention of the brand"),
        # A reply in a thread with the brand among the leading mentions is a reply to it too.
        ("@ana @joao @AuroraCare is the worst lol", "leading mention of the brand"),
    ],
)
def test_public_posts_to_the_brand_are_addressed(text: str, why: str) -> None:
    assert addressing(text, public=True, brand_handle=HANDLE) == Addressing(True, why)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("@ana have you tried @AuroraCare's fibre?", "leading mention of someone else"),
        ("@joao_silva I switched to @AuroraCare last week", "leading mention of someone else"),
        ("@friend1 @friend2 ask @AuroraCare, they're open late", "leading mention of someone else"),
        ("my internet is down again", "brand not mentioned"),
        ("@Vodafone my internet is down", "brand not mentioned"),
        ("@AuroraCareers we're hiring!", "brand not mentioned"),
        ("write to care@AuroraCare.example", "brand not mentioned"),
        ("", "brand not mentioned"),
        ("RT @AuroraCare: planned maintenance tonight", "retweet"),
        ("RT @ana: @AuroraCare is down again", "retweet"),
    ],
)
def test_public_posts_not_to_the_brand(text: str, why: str) -> None:
    assert addressing(text, public=True, brand_handle=HANDLE) == Addressing(False, why)


def test_handle_given_without_at_or_in_another_case() -> None:
    assert addressing("@AuroraCare hi", public=True, brand_handle="auroracare").addressed
    assert addressing("@auroracare hi", public=True, brand_handle="@AURORACARE").addressed


def test_as_dict_has_the_documented_keys() -> None:
    value = addressing("@ana look at @AuroraCare", public=True, brand_handle=HANDLE).as_dict()
    assert value == {"addressed": False, "why": "leading mention of someone else"}


@pytest.mark.parametrize(
    "text", ["\x00\x1b[31m@AuroraCare", "😡" * 5000, "@" * 10000, "@a " * 3000]
)
def test_odd_texts_are_safe(text: str) -> None:
    result = addressing(text, public=True, brand_handle=HANDLE)
    assert isinstance(result.addressed, bool)


@pytest.mark.parametrize(
    "text",
    [
        "@AuroraCare sponsoring the youth league again, love it",
        "my dad calls the @AuroraCare router 'the oracle' 😂",
        "Aurora Telecom opens 20 new stores @AuroraCare",
    ],
)
def test_a_public_post_that_asks_nothing_is_not_addressed(text: str) -> None:
    # The classifier's `no_request` decides what the post's shape cannot (issue 12, kind 1).
    result = addressing(text, public=True, brand_handle=HANDLE, asks_nothing=True)
    assert result == Addressing(False, "asks the brand nothing")


def test_asking_nothing_changes_neither_private_messages_nor_posts_to_someone_else() -> None:
    assert addressing("lol", public=False, brand_handle=HANDLE, asks_nothing=True).addressed
    to_friend = addressing(
        "@ana write to @AuroraCare", public=True, brand_handle=HANDLE, asks_nothing=True
    )
    assert to_friend == Addressing(False, "leading mention of someone else")
    hint = {"addressed": True, "why": "reply to the brand's tweet"}
    reply = addressing("haha nice", public=True, brand_handle=HANDLE, hint=hint, asks_nothing=True)
    assert reply == Addressing(False, "asks the brand nothing")
