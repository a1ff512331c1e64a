"""X (Twitter) facts in plain logic: tweets and DM events to inbound messages, signatures, tiers.

Nothing here talks to the network, imports tweepy or Rasa: the connector (`bot.channels.x`) and
the poller (`bot.channels.x_poll`) use it, and its unit tests run in milliseconds.

Whether a public post is *addressed* to the brand is decided by the NLU
(`bot.nlu.addressing`, from the text, the same for replay and live). X gives more than the text,
so :func:`addressed_hint` reads the post's own data — who it replies to, whether it is a retweet or
a quote, where the brand is mentioned — and the connector passes the result in the message
metadata as ``platform.addressed_hint`` for the NLU to use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bot.inbound import Inbound
from handoff.clock import parse_iso

CHANNEL = "x"
# X's snowflake ids carry their creation time: milliseconds since this epoch, shifted 22 bits.
TWITTER_EPOCH_MS = 1288834974657
_SNOWFLAKE_SHIFT = 22

# What the poller asks X for, so that every fact used below is in the answer.
TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "display_text_range",
    "entities",
    "in_reply_to_user_id",
    "note_tweet",
    "referenced_tweets",
]
TWEET_EXPANSIONS = ["author_id"]
DM_EVENT_FIELDS = ["created_at", "dm_conversation_id", "event_type", "id", "sender_id", "text"]
DM_EXPANSIONS = ["sender_id"]
USER_FIELDS = ["username"]


# --- snowflakes --------------------------------------------------------------------------------


def snowflake_at(moment: datetime) -> int:
    """The smallest snowflake id X could give a post created at ``moment``.

    A cursor initialised with it means "everything after this moment" (X's ``since_id`` takes any
    id, and DM event ids are snowflakes too).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    milliseconds = int(moment.timestamp() * 1000) - TWITTER_EPOCH_MS
    return max(milliseconds, 0) << _SNOWFLAKE_SHIFT


def snowflake_time(snowflake: int | str) -> datetime:
    """When a snowflake id was created (UTC)."""
    milliseconds = (int(snowflake) >> _SNOWFLAKE_SHIFT) + TWITTER_EPOCH_MS
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc)


def newest_id(ids: Iterable[str | int | None]) -> str | None:
    """The largest id of ``ids`` (ids compare as numbers, not strings)."""
    found = [int(value) for value in ids if value is not None and str(value).isdigit()]
    return str(max(found)) if found else None


# --- polling intervals per tier ----------------------------------------------------------------


@dataclass(frozen=True)
class PollIntervals:
    """Seconds between two polls of each stream; None switches a stream off."""

    mentions: float | None
    dms: float | None


# X's limits per access tier for the two reads, in 15-minute windows (the Developer Portal's tier
# tables; mentions are read with the app's bearer token, DMs need the brand's user token):
#   GET /2/users/:id/mentions   free 1 per app;  basic 15 per app (10 per user);  pro 450 per app
#   GET /2/dm_events            free: not in the tier;  basic 15 per user;  pro 300 per user
# (the basic DM figure is the tier table's, as low as the old v1.1 limit; the v2 DM pages quote
# 300 without naming a tier, so the lower one is assumed). A poll costs one request per page, so
# steady polling uses at most two thirds of a window and leaves the rest for the extra pages of a
# busy night (100 posts a page, 800 mentions at most):
#   free:  mentions every 900 s (1 per window, the whole allowance: a second page waits for the
#          reset through the 429 back-off); DMs off.
#   basic: mentions every 90 s (10 of 15); DMs every 90 s (10 of 15).
#   pro:   mentions every 10 s (90 of 450); DMs every 10 s (90 of 300).
# A brand whose limits differ (X changes them) sets `mentions_seconds` / `dm_seconds`.
TIER_INTERVALS: dict[str, PollIntervals] = {
    "free": PollIntervals(mentions=900.0, dms=None),
    "basic": PollIntervals(mentions=90.0, dms=90.0),
    "pro": PollIntervals(mentions=10.0, dms=10.0),
}


def poll_intervals(
    tier: str, *, mentions: float | None = None, dms: float | None = None
) -> PollIntervals:
    """The polling intervals for an access tier, with optional overrides.

    Args:
        tier: ``free``, ``basic`` or ``pro`` (as in credentials.yml).
        mentions: Seconds between mention polls instead of the tier's.
        dms: Seconds between DM polls instead of the tier's (0 switches DM polling off).

    Returns:
        The intervals.

    Raises:
        ValueError: For an unknown tier or an interval that is not positive.
    """
    try:
        base = TIER_INTERVALS[tier]
    except KeyError:
        raise ValueError(
            f"unknown X access tier {tier!r}; expected one of {', '.join(TIER_INTERVALS)}"
        ) from None
    chosen_mentions = base.mentions if mentions is None else float(mentions)
    chosen_dms = base.dms if dms is None else (float(dms) or None)
    for name, value in (("mentions_seconds", chosen_mentions), ("dm_seconds", chosen_dms)):
        if value is not None and value <= 0:
            raise ValueError(f"X `{name}` must be a positive number of seconds, got {value}")
    return PollIntervals(mentions=chosen_mentions, dms=chosen_dms)


def rate_limit_reset(headers: Mapping[str, str] | None) -> float | None:
    """The epoch second X's rate-limit window resets at (``x-rate-limit-reset``), if given."""
    if not headers:
        return None
    raw = headers.get("x-rate-limit-reset")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


# --- Account Activity API signatures -----------------------------------------------------------


def _hmac_b64(consumer_secret: str, message: bytes) -> str:
    digest = hmac.new(consumer_secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    """The answer to X's CRC challenge: ``sha256=`` + base64(HMAC-SHA256(secret, crc_token)).

    Args:
        consumer_secret: The app's consumer (API key) secret.
        crc_token: The ``crc_token`` query parameter X sent.

    Returns:
        ``{"response_token": "sha256=..."}``, the JSON body X expects.
    """
    return {"response_token": "sha256=" + _hmac_b64(consumer_secret, crc_token.encode("utf-8"))}


def signature_valid(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``x-twitter-webhooks-signature`` is X's signature of the raw request body.

    The comparison takes the same time wherever the strings differ.

    Args:
        consumer_secret: The app's consumer secret.
        body: The request body exactly as received.
        header: The header's value (``sha256=<base64>``), or None when it is missing.

    Returns:
        True only for the right signature.
    """
    if not header or not consumer_secret:
        return False
    expected = "sha256=" + _hmac_b64(consumer_secret, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8"))


# --- tweets and their addressing ---------------------------------------------------------------


def _name(handle: str) -> str:
    return handle.strip().lstrip("@＠").casefold()


def _user_index(users: Iterable[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    return {str(user.get("id")): user for user in users or [] if user.get("id") is not None}


def _parse_time(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return parse_iso(raw, assume_utc=True)
    except ValueError:
        return None


@dataclass(frozen=True)
class Mention:
    """One @mention inside a post: the name and where it is in the text."""

    username: str
    start: int
    end: int
    user_id: str | None = None


@dataclass(frozen=True)
class Post:
    """The facts of one public post (an X API v2 tweet object) that the connector needs."""

    id: str
    text: str
    author_id: str
    username: str | None
    created_at: datetime | None
    conversation_id: str | None
    in_reply_to_user_id: str | None
    replied_to_id: str | None
    retweet_of: str | None
    quote_of: str | None
    mentions: tuple[Mention, ...]
    body_start: int

    @classmethod
    def from_v2(
        cls, tweet: Mapping[str, Any], users: Iterable[Mapping[str, Any]] | None = None
    ) -> Post:
        """Read a v2 tweet object (with ``includes.users`` for the author's username).

        Raises:
            ValueError: If the tweet has no ``id`` or ``author_id``.
        """
        tweet_id = tweet.get("id")
        author_id = tweet.get("author_id")
        if not tweet_id or not author_id:
            raise ValueError("a tweet needs `id` and `author_id` (request tweet.fields=author_id)")
        author = _user_index(users).get(str(author_id)) or {}
        references = {
            str(ref.get("type")): str(ref.get("id"))
            for ref in tweet.get("referenced_tweets") or []
            if ref.get("id") is not None
        }
        note = tweet.get("note_tweet") or {}
        # A post over 280 characters arrives cut; its whole text is in `note_tweet`.
        text = html.unescape(str(note.get("text") or tweet.get("text") or ""))
        entities = (note.get("entities") if note.get("text") else None) or tweet.get("entities")
        mentions = tuple(
            Mention(
                username=str(item.get("username") or ""),
                start=int(item.get("start") or 0),
                end=int(item.get("end") or 0),
                user_id=str(item["id"]) if item.get("id") is not None else None,
            )
            for item in (entities or {}).get("mentions") or []
            if item.get("username")
        )
        display = tweet.get("display_text_range")
        body_start = int(display[0]) if isinstance(display, list) and display else 0
        return cls(
            id=str(tweet_id),
            text=text,
            author_id=str(author_id),
            username=str(author["username"]) if author.get("username") else None,
            created_at=_parse_time(tweet.get("created_at")),
            conversation_id=str(tweet["conversation_id"]) if tweet.get("conversation_id") else None,
            in_reply_to_user_id=str(tweet["in_reply_to_user_id"])
            if tweet.get("in_reply_to_user_id")
            else None,
            replied_to_id=references.get("replied_to"),
            retweet_of=references.get("retweeted"),
            quote_of=references.get("quoted"),
            mentions=mentions,
            body_start=body_start,
        )

    def leading_mentions(self) -> list[Mention]:
        """The mentions that open the post (X's reply prefix and any typed right after it)."""
        leading: list[Mention] = []
        position = 0
        for mention in sorted(self.mentions, key=lambda m: m.start):
            gap = self.text[position : mention.start]
            if gap.strip(" \t\n.,:;") != "":
                break
            leading.append(mention)
            position = mention.end
        return leading


@dataclass(frozen=True)
class Hint:
    """Whether the post's own data says it is addressed to the brand, and why."""

    addressed: bool
    why: str

    def as_dict(self) -> dict[str, Any]:
        """The metadata value: ``{"addressed": bool, "why": str}``."""
        return {"addressed": self.addressed, "why": self.why}


def _is_brand(mention: Mention, brand_id: str, brand_name: str) -> bool:
    if mention.user_id is not None and brand_id:
        return mention.user_id == brand_id
    return _name(mention.username) == brand_name


def addressed_hint(post: Post, *, brand_id: str, brand_handle: str) -> Hint:
    """Decide from a post's data whether it is addressed to the brand.

    - Our own posts, plain retweets and quotes are not addressed.
    - A reply to the brand is addressed.
    - A reply to someone else is addressed only when the part the author wrote starts with the
      brand's @handle; X's automatic reply prefix (``@friend @brand`` when the brand was in the
      thread) does not count, nor does naming the brand mid-sentence ("have you tried @brand?").
    - Any other post: addressed when its leading mentions include the brand, or when it names the
      brand without opening with someone else's handle.

    Args:
        post: The post.
        brand_id: The brand's X user id.
        brand_handle: The brand's handle, with or without the @.

    Returns:
        The hint (the NLU makes the decision).
    """
    brand_name = _name(brand_handle)
    if post.author_id == brand_id:
        return Hint(False, "our own post")
    if post.retweet_of:
        return Hint(False, "retweet")
    if post.quote_of:
        return Hint(False, "quote")
    if post.in_reply_to_user_id == brand_id:
        return Hint(True, "reply to the brand")
    leading = post.leading_mentions()
    if post.in_reply_to_user_id and post.in_reply_to_user_id != post.author_id:
        typed = [m for m in leading if m.start >= post.body_start]
        if post.body_start == 0:
            # Without display_text_range the reply prefix cannot be told apart: only a brand
            # mention before any other counts.
            typed = leading[:1]
        if any(_is_brand(m, brand_id, brand_name) for m in typed):
            return Hint(True, "reply to someone else that opens with the brand")
        return Hint(False, "reply to someone else")
    if any(_is_brand(m, brand_id, brand_name) for m in leading):
        return Hint(True, "leading mention of the brand")
    if not any(_is_brand(m, brand_id, brand_name) for m in post.mentions):
        return Hint(False, "brand not mentioned")
    if leading:
        return Hint(False, "leading mention of someone else")
    return Hint(True, "mentions the brand")


def _at(moment: datetime | None, snowflake: str) -> datetime:
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return snowflake_time(snowflake)


def post_inbound(post: Post, hint: Hint) -> Inbound:
    """The inbound message for a public post (its sender is the author's username).

    Raises:
        ValueError: If the author's username is unknown (request ``expansions=author_id``).
    """
    if not post.username:
        raise ValueError(f"tweet {post.id}: the author's username is not in includes.users")
    platform: dict[str, Any] = {
        "kind": "mention",
        "tweet_id": post.id,
        "user_id": post.author_id,
        "conversation_id": post.conversation_id,
        "in_reply_to_user_id": post.in_reply_to_user_id,
        "in_reply_to_tweet_id": post.replied_to_id,
        "addressed_hint": hint.as_dict(),
    }
    return Inbound(
        channel=CHANNEL,
        sender=post.username,
        text=post.text,
        public=True,
        at=_at(post.created_at, post.id),
        platform={key: value for key, value in platform.items() if value is not None},
    )


@dataclass(frozen=True)
class DirectMessage:
    """The facts of one DM event (an X API v2 ``MessageCreate`` dm_event)."""

    id: str
    text: str
    sender_id: str
    username: str | None
    conversation_id: str | None
    created_at: datetime | None

    @classmethod
    def from_v2(
        cls, event: Mapping[str, Any], users: Iterable[Mapping[str, Any]] | None = None
    ) -> DirectMessage | None:
        """Read a v2 DM event; None for events that are not messages (joins, leaves).

        Raises:
            ValueError: If a message event has no ``id`` or ``sender_id``.
        """
        if event.get("event_type", "MessageCreate") != "MessageCreate":
            return None
        event_id, sender_id = event.get("id"), event.get("sender_id")
        if not event_id or not sender_id:
            raise ValueError("a DM event needs `id` and `sender_id`")
        sender = _user_index(users).get(str(sender_id)) or {}
        return cls(
            id=str(event_id),
            text=str(event.get("text") or ""),
            sender_id=str(sender_id),
            username=str(sender["username"]) if sender.get("username") else None,
            conversation_id=str(event["dm_conversation_id"])
            if event.get("dm_conversation_id")
            else None,
            created_at=_parse_time(event.get("created_at")),
        )

    def one_to_one(self, brand_id: str) -> bool:
        """Whether the DM is in the brand's one-to-one conversation (ids ``a-b``), not a group."""
        if not self.conversation_id:
            return True
        return brand_id in self.conversation_id.split("-")


def dm_inbound(message: DirectMessage) -> Inbound:
    """The inbound message for a DM (private; its sender is the author's username).

    Raises:
        ValueError: If the sender's username is unknown (request ``expansions=sender_id``).
    """
    if not message.username:
        raise ValueError(f"DM {message.id}: the sender's username is not in includes.users")
    platform = {
        "kind": "dm",
        "dm_event_id": message.id,
        "user_id": message.sender_id,
        "dm_conversation_id": message.conversation_id,
        "addressed_hint": Hint(True, "direct message").as_dict(),
    }
    return Inbound(
        channel=CHANNEL,
        sender=message.username,
        text=message.text,
        public=False,
        at=_at(message.created_at, message.id),
        platform={key: value for key, value in platform.items() if value is not None},
    )


# --- Account Activity API (v1.1 shaped) payloads to v2 shapes ---------------------------------


def _v1_time(raw: Mapping[str, Any]) -> str | None:
    millis = raw.get("timestamp_ms") or raw.get("created_timestamp")
    if millis is not None and str(millis).isdigit():
        moment = datetime.fromtimestamp(int(millis) / 1000, tz=timezone.utc)
        return moment.isoformat().replace("+00:00", "Z")
    created = raw.get("created_at")
    if isinstance(created, str):
        try:
            moment = datetime.strptime(created, "%a %b %d %H:%M:%S %z %Y")
        except ValueError:
            return None
        return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return None


def tweet_from_v1(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An Account Activity ``tweet_create_events`` item as a v2 tweet and its author.

    Raises:
        ValueError: If the object has no id or user.
    """
    user = raw.get("user") or {}
    tweet_id, author_id = raw.get("id_str") or raw.get("id"), user.get("id_str") or user.get("id")
    if not tweet_id or not author_id:
        raise ValueError("a tweet_create_events item needs `id_str` and `user.id_str`")
    extended = raw.get("extended_tweet") or {}
    text = str(extended.get("full_text") or raw.get("full_text") or raw.get("text") or "")
    entities = extended.get("entities") or raw.get("entities") or {}
    display = extended.get("display_text_range") or raw.get("display_text_range")
    references = []
    if raw.get("retweeted_status"):
        retweeted = raw["retweeted_status"]
        references.append({"type": "retweeted", "id": str(retweeted.get("id_str", ""))})
    if raw.get("is_quote_status") and (raw.get("quoted_status_id_str") or raw.get("quoted_status")):
        quoted = raw.get("quoted_status_id_str") or raw["quoted_status"].get("id_str")
        references.append({"type": "quoted", "id": str(quoted)})
    if raw.get("in_reply_to_status_id_str"):
        references.append({"type": "replied_to", "id": str(raw["in_reply_to_status_id_str"])})
    tweet: dict[str, Any] = {
        "id": str(tweet_id),
        "text": text,
        "author_id": str(author_id),
        "created_at": _v1_time(raw),
        "entities": {
            "mentions": [
                {
                    "start": item["indices"][0],
                    "end": item["indices"][1],
                    "username": item.get("screen_name"),
                    "id": item.get("id_str"),
                }
                for item in entities.get("user_mentions") or []
                if isinstance(item.get("indices"), list) and len(item["indices"]) == 2
            ]
        },
    }
    if raw.get("in_reply_to_user_id_str"):
        tweet["in_reply_to_user_id"] = str(raw["in_reply_to_user_id_str"])
    if references:
        tweet["referenced_tweets"] = references
    if isinstance(display, list) and len(display) == 2:
        tweet["display_text_range"] = display
    author = {"id": str(author_id), "username": user.get("screen_name")}
    return tweet, author


def dm_from_v1(
    raw: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]] | None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """An Account Activity ``direct_message_events`` item as a v2 DM event and its sender.

    Returns:
        None for events other than ``message_create``.

    Raises:
        ValueError: If a message has no id or sender.
    """
    if raw.get("type") != "message_create":
        return None
    create = raw.get("message_create") or {}
    sender_id = create.get("sender_id")
    recipient_id = (create.get("target") or {}).get("recipient_id")
    if not raw.get("id") or not sender_id:
        raise ValueError("a direct_message_events item needs `id` and `message_create.sender_id`")
    sender = (users or {}).get(str(sender_id)) or {}
    event: dict[str, Any] = {
        "id": str(raw["id"]),
        "event_type": "MessageCreate",
        "text": str((create.get("message_data") or {}).get("text") or ""),
        "sender_id": str(sender_id),
        "created_at": _v1_time(raw),
    }
    if recipient_id:
        low, high = sorted([str(sender_id), str(recipient_id)], key=int)
        event["dm_conversation_id"] = f"{low}-{high}"
    return event, {"id": str(sender_id), "username": sender.get("screen_name")}
