"""X facts in plain logic: addressing from post data, signatures, snowflakes, tiers, payloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.channels.x_data import (
    TIER_INTERVALS,
    DirectMessage,
    Post,
    addressed_hint,
    crc_response,
    dm_from_v1,
    dm_inbound,
    newest_id,
    poll_intervals,
    post_inbound,
    rate_limit_reset,
    signature_valid,
    snowflake_at,
    snowflake_time,
    tweet_from_v1,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

BRAND_ID = "1500000000000000001"
BRAND = "@AuroraCare"
USERS = [
    {"id": "11", "username": "ana"},
    {"id": "12", "username": "bob"},
    {"id": BRAND_ID, "username": "AuroraCare"},
]


def mention(name: str, start: int, user_id: str | None = None) -> dict[str, Any]:
    ids = {"ana": "11", "bob": "12", "auroracare": BRAND_ID}
    return {
        "start": start,
        "end": start + len(name) + 1,
        "username": name,
        "id": user_id or ids.get(name.casefold(), "99"),
    }


def tweet(text: str, *, author: str = "11", **fields: Any) -> dict[str, Any]:
    """A v2 tweet with entities.mentions computed from the text."""
    import re

    found = [mention(m.group(1), m.start()) for m in re.finditer(r"(?<![\w@])@(\w+)", text)]
    value: dict[str, Any] = {
        "id": "1346889436626259968",
        "text": text,
        "author_id": author,
        "created_at": "2026-11-27T23:00:00.000Z",
        "conversation_id": "1346889436626259968",
        "edit_history_tweet_ids": ["1346889436626259968"],
    }
    if found:
        value["entities"] = {"mentions": found}
    value.update(fields)
    return value


def hint_of(raw: dict[str, Any]) -> tuple[bool, str]:
    result = addressed_hint(Post.from_v2(raw, USERS), brand_id=BRAND_ID, brand_handle=BRAND)
    return result.addressed, result.why


# --- addressing from the post's own data --------------------------------------------------------


def test_a_post_that_opens_with_the_brand_is_addressed() -> None:
    assert hint_of(tweet("@AuroraCare is there an outage in Almada?")) == (
        True,
        "leading mention of the brand",
    )


def test_a_post_naming_the_brand_mid_sentence_without_other_handles_is_addressed() -> None:
    assert hint_of(tweet("no internet again, thanks @AuroraCare")) == (True, "mentions the brand")


def test_friends_talking_about_the_brand_are_not_addressing_it() -> None:
    assert hint_of(tweet("@bob have you tried @AuroraCare's fibre?")) == (
        False,
        "leading mention of someone else",
    )


def test_a_reply_to_someone_else_naming_the_brand_is_not_addressed() -> None:
    raw = tweet(
        "@bob have you tried @AuroraCare's fibre?",
        in_reply_to_user_id="12",
        referenced_tweets=[{"type": "replied_to", "id": "5"}],
        display_text_range=[5, 40],
    )
    assert hint_of(raw) == (False, "reply to someone else")


def test_xs_reply_prefix_naming_the_brand_does_not_address_it() -> None:
    # Bob and the brand were in the thread; Ana answers Bob. X wrote "@bob @AuroraCare " itself.
    raw = tweet(
        "@bob @AuroraCare same here lol",
        in_reply_to_user_id="12",
        referenced_tweets=[{"type": "replied_to", "id": "5"}],
        display_text_range=[17, 30],
    )
    assert hint_of(raw) == (False, "reply to someone else")
    # The text alone would have said otherwise: the brand is among the leading mentions.
    from bot.nlu.addressing import addressing

    assert addressing(raw["text"], public=True, brand_handle=BRAND).addressed is True


def test_a_reply_to_someone_else_whose_own_words_open_with_the_brand_is_addressed() -> None:
    raw = tweet(
        "@bob @AuroraCare can you help my friend here?",
        in_reply_to_user_id="12",
        referenced_tweets=[{"type": "replied_to", "id": "5"}],
        display_text_range=[5, 45],
    )
    assert hint_of(raw) == (True, "reply to someone else that opens with the brand")


def test_without_display_range_only_a_first_brand_mention_counts_in_a_reply() -> None:
    prefix_first = tweet("@bob @AuroraCare same here", in_reply_to_user_id="12")
    brand_first = tweet("@AuroraCare @bob please help him", in_reply_to_user_id="12")
    assert hint_of(prefix_first)[0] is False
    assert hint_of(brand_first)[0] is True


def test_a_reply_to_the_brand_is_addressed_whatever_the_text() -> None:
    raw = tweet(
        "@AuroraCare still nothing", in_reply_to_user_id=BRAND_ID, display_text_range=[12, 25]
    )
    assert hint_of(raw) == (True, "reply to the brand")
    bare = tweet("thanks!", in_reply_to_user_id=BRAND_ID)
    assert hint_of(bare) == (True, "reply to the brand")


def test_a_self_thread_is_read_like_an_original_post() -> None:
    raw = tweet("@AuroraCare and the router blinks red", in_reply_to_user_id="11")
    assert hint_of(raw) == (True, "leading mention of the brand")


def test_retweets_quotes_and_our_own_posts_are_not_addressed() -> None:
    retweet = tweet(
        "RT @bob: @AuroraCare is down again",
        referenced_tweets=[{"type": "retweeted", "id": "7"}],
    )
    quote = tweet("@AuroraCare look at this lol", referenced_tweets=[{"type": "quoted", "id": "7"}])
    own = tweet("@ana we are on it", author=BRAND_ID)
    assert hint_of(retweet) == (False, "retweet")
    assert hint_of(quote) == (False, "quote")
    assert hint_of(own) == (False, "our own post")


def test_the_brand_is_recognised_by_id_even_after_a_handle_change() -> None:
    raw = tweet("@OldAuroraName help")
    raw["entities"]["mentions"][0]["id"] = BRAND_ID
    assert hint_of(raw)[0] is True
    other = tweet("@AuroraCare help")
    other["entities"]["mentions"][0]["id"] = "77"  # someone else now owns that handle
    assert hint_of(other) == (False, "brand not mentioned")


def test_a_post_without_the_brand_is_not_addressed() -> None:
    assert hint_of(tweet("@bob hello")) == (False, "brand not mentioned")
    assert hint_of(tweet("lovely day")) == (False, "brand not mentioned")


# --- posts and DMs to inbound messages ----------------------------------------------------------


def test_a_post_becomes_a_public_inbound_message_with_its_ids() -> None:
    raw = tweet(
        "@AuroraCare fibre &amp; TV down &lt;again&gt;",
        in_reply_to_user_id=BRAND_ID,
        conversation_id="42",
        referenced_tweets=[{"type": "replied_to", "id": "41"}],
    )
    post = Post.from_v2(raw, USERS)
    inbound = post_inbound(post, addressed_hint(post, brand_id=BRAND_ID, brand_handle=BRAND))
    assert inbound.channel == "x" and inbound.public is True and inbound.sender == "ana"
    assert inbound.text == "@AuroraCare fibre & TV down <again>"  # X escapes &, < and >
    assert inbound.at == datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)
    assert inbound.platform == {
        "kind": "mention",
        "tweet_id": "1346889436626259968",
        "user_id": "11",
        "conversation_id": "42",
        "in_reply_to_user_id": BRAND_ID,
        "in_reply_to_tweet_id": "41",
        "addressed_hint": {"addressed": True, "why": "reply to the brand"},
    }
    assert inbound.conversation_id == "x:ana"


def test_a_long_post_is_read_whole_from_note_tweet() -> None:
    whole = "@AuroraCare " + "word " * 100
    raw = tweet(
        whole[:270] + "…",
        note_tweet={"text": whole, "entities": {"mentions": [mention("AuroraCare", 0)]}},
    )
    assert Post.from_v2(raw, USERS).text == whole


def test_a_post_without_its_author_is_refused() -> None:
    raw = tweet("@AuroraCare hi")
    del raw["author_id"]
    with pytest.raises(ValueError, match="author_id"):
        Post.from_v2(raw, USERS)
    unknown = Post.from_v2(tweet("@AuroraCare hi", author="404"), USERS)
    with pytest.raises(ValueError, match="username"):
        post_inbound(unknown, addressed_hint(unknown, brand_id=BRAND_ID, brand_handle=BRAND))


def test_a_dm_becomes_a_private_inbound_message() -> None:
    event = {
        "id": "1580705921830768647",
        "event_type": "MessageCreate",
        "text": "my NIF is 198765436",
        "sender_id": "11",
        "dm_conversation_id": f"11-{BRAND_ID}",
        "created_at": "2026-11-27T23:05:00.000Z",
    }
    message = DirectMessage.from_v2(event, USERS)
    assert message is not None and message.one_to_one(BRAND_ID)
    inbound = dm_inbound(message)
    assert inbound.public is False and inbound.sender == "ana"
    assert inbound.platform == {
        "kind": "dm",
        "dm_event_id": "1580705921830768647",
        "user_id": "11",
        "dm_conversation_id": f"11-{BRAND_ID}",
        "addressed_hint": {"addressed": True, "why": "direct message"},
    }


def test_dm_events_that_are_not_messages_and_group_dms_are_recognised() -> None:
    assert DirectMessage.from_v2({"id": "1", "event_type": "ParticipantsJoin"}, USERS) is None
    group = DirectMessage.from_v2(
        {
            "id": "2",
            "event_type": "MessageCreate",
            "text": "hi",
            "sender_id": "11",
            "dm_conversation_id": "1582838223602282497",
        },
        USERS,
    )
    assert group is not None and not group.one_to_one(BRAND_ID)
    with pytest.raises(ValueError):
        DirectMessage.from_v2({"id": "3", "event_type": "MessageCreate", "text": "x"}, USERS)


# --- Account Activity (v1.1) payloads ------------------------------------------------------------


def test_an_account_activity_tweet_reads_like_a_polled_one() -> None:
    raw = {
        "created_at": "Fri Nov 27 23:00:00 +0000 2026",
        "id_str": "1346889436626259968",
        "text": "@bob @AuroraCare same here",
        "display_text_range": [17, 26],
        "user": {"id_str": "11", "screen_name": "ana"},
        "in_reply_to_status_id_str": "5",
        "in_reply_to_user_id_str": "12",
        "entities": {
            "user_mentions": [
                {"screen_name": "bob", "id_str": "12", "indices": [0, 4]},
                {"screen_name": "AuroraCare", "id_str": BRAND_ID, "indices": [5, 16]},
            ]
        },
    }
    converted, author = tweet_from_v1(raw)
    post = Post.from_v2(converted, [author])
    assert post.username == "ana" and post.replied_to_id == "5"
    assert post.created_at == datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)
    assert addressed_hint(post, brand_id=BRAND_ID, brand_handle=BRAND).addressed is False
    quote = dict(raw, is_quote_status=True, quoted_status_id_str="9", in_reply_to_user_id_str=None)
    assert Post.from_v2(tweet_from_v1(quote)[0], [author]).quote_of == "9"
    with pytest.raises(ValueError):
        tweet_from_v1({"text": "no ids"})


def test_an_account_activity_dm_reads_like_a_polled_one() -> None:
    raw = {
        "type": "message_create",
        "id": "1580705921830768647",
        "created_timestamp": "1795820400000",
        "message_create": {
            "target": {"recipient_id": BRAND_ID},
            "sender_id": "11",
            "message_data": {"text": "hello"},
        },
    }
    converted = dm_from_v1(raw, {"11": {"id": "11", "screen_name": "ana"}})
    assert converted is not None
    event, sender = converted
    message = DirectMessage.from_v2(event, [sender])
    assert message is not None and message.username == "ana" and message.one_to_one(BRAND_ID)
    assert dm_from_v1({"type": "typing_indicator"}, {}) is None


# --- signatures ----------------------------------------------------------------------------------


def reference_signature(secret: str, message: bytes) -> str:
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def test_the_crc_answer_is_the_base64_hmac_of_the_token() -> None:
    answer = crc_response("consumer-secret", "crc-token-123")
    assert answer == {"response_token": reference_signature("consumer-secret", b"crc-token-123")}
    assert answer["response_token"].startswith("sha256=")


def test_only_the_right_signature_of_the_exact_body_is_valid() -> None:
    body = b'{"for_user_id":"1","tweet_create_events":[]}'
    good = reference_signature("consumer-secret", body)
    assert signature_valid("consumer-secret", body, good)
    assert signature_valid("consumer-secret", body, f"  {good} ")
    assert not signature_valid("consumer-secret", body + b" ", good)  # body changed
    assert not signature_valid("other-secret", body, good)
    assert not signature_valid("consumer-secret", body, good.removeprefix("sha256="))
    assert not signature_valid("consumer-secret", body, None)
    assert not signature_valid("consumer-secret", body, "")
    assert not signature_valid("consumer-secret", body, "sha256=é")  # not ASCII: no crash
    assert not signature_valid("", body, reference_signature("", body))


# --- snowflakes, rate limits, tiers --------------------------------------------------------------


def test_snowflakes_carry_their_creation_time() -> None:
    # X's documentation example: this post was created on Wed Jan 06 18:40:40 +0000 2021.
    created = snowflake_time("1346889436626259968")
    assert created.replace(microsecond=0) == datetime(2021, 1, 6, 18, 40, 40, tzinfo=timezone.utc)
    moment = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)
    assert snowflake_time(snowflake_at(moment)) == moment
    assert snowflake_at(moment + timedelta(milliseconds=1)) > snowflake_at(moment)
    assert snowflake_at(datetime(2026, 11, 27, 23, 0)) == snowflake_at(moment)  # naive = UTC


def test_newest_id_compares_ids_as_numbers() -> None:
    assert newest_id(["999", "1000", None, "abc"]) == "1000"
    assert newest_id([]) is None


def test_rate_limit_reset_reads_the_header() -> None:
    assert rate_limit_reset({"x-rate-limit-reset": "1795820400"}) == 1795820400.0
    assert rate_limit_reset({"x-rate-limit-reset": "soon"}) is None
    assert rate_limit_reset({}) is None and rate_limit_reset(None) is None


@pytest.mark.parametrize(
    ("tier", "per_window"),
    # (mentions requests allowed per 15 minutes, DM lookups allowed per 15 minutes)
    [("free", (1, 0)), ("basic", (15, 15)), ("pro", (450, 300))],
)
def test_each_tier_polls_within_its_rate_limits(tier: str, per_window: tuple[int, int]) -> None:
    intervals = TIER_INTERVALS[tier]
    window = 15 * 60
    assert intervals.mentions is not None and window / intervals.mentions <= per_window[0]
    if per_window[1] == 0:
        assert intervals.dms is None
    else:
        assert intervals.dms is not None and window / intervals.dms <= per_window[1]


def test_intervals_can_be_overridden_and_are_checked() -> None:
    assert poll_intervals("basic", mentions=5).mentions == 5.0
    assert poll_intervals("pro", dms=0).dms is None
    assert poll_intervals("free").dms is None
    with pytest.raises(ValueError, match="unknown X access tier"):
        poll_intervals("enterprise")
    with pytest.raises(ValueError, match="positive"):
        poll_intervals("basic", mentions=-1)
