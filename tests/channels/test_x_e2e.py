"""The X channel end to end: a fake X on loopback, tweepy, the real Rasa server and action server.

One `rasa run` for the module (the X channel in ``webhook+polling`` mode, polling every 0.25 s,
5 posts a page), started like `afterhours run` starts it (:func:`x_stack`; it can be restarted). The
fake X serves what the documentation shows; each test plays the customers and reads what the
brand posted. The brand's desk is always closed
(afterhours/bench/brand_night.yml), so the decisions do not
depend on the time the tests run at.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from afterhours.bench.channels_x import ENV_NAMES
from afterhours.bench.fakes.x_server import FakeX, wait_until
from bot.render.x import weighted_length

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:5]


# --- the stack: a fake X, the action server, `rasa run` with the X channel ---------------------


@dataclass
class XStack:
    """A fake X, the action server and `rasa run` with the X channel pointed at the fake."""

    fake: Any
    scratch: Path
    model: Path
    db_url: str
    env: dict[str, str]
    endpoints: Path
    credentials: Path
    rasa_port: int
    log_path: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    rasa: subprocess.Popen[bytes] | None = None
    ready_seconds: float | None = None

    @property
    def rasa_url(self) -> str:
        """The Rasa server (HTTP API enabled)."""
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def webhook_url(self) -> str:
        """The X channel's Account Activity webhook."""
        return f"{self.rasa_url}/webhooks/x/webhook"

    def start_rasa(self, timeout: float = 300.0) -> float:
        """Starts `rasa run` and waits for the model and the X channel's first poll.

        Returns:
            Seconds from start to ready.
        """
        from bot.servers import rasa_run_command, rasa_status_url, wait_until_healthy

        started = time.perf_counter()
        polled_before = len(self.fake.hits("mentions"))
        log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 (the process owns it)
        self.rasa = subprocess.Popen(
            rasa_run_command(self.model, self.rasa_port, self.endpoints, self.credentials),
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until_healthy(rasa_status_url(self.rasa_url), self.rasa, timeout=timeout)
        deadline = time.monotonic() + 60
        while len(self.fake.hits("mentions")) <= polled_before:
            if self.rasa.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the X channel did not start polling; see {self.log_path}")
            time.sleep(0.05)
        self.ready_seconds = time.perf_counter() - started
        return self.ready_seconds

    def stop_rasa(self) -> None:
        """Stops `rasa run` the way Ctrl-C does (SIGINT), then for good if it hangs."""
        if self.rasa is None:
            return
        if self.rasa.poll() is None:
            self.rasa.send_signal(signal.SIGINT)
            try:
                self.rasa.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.rasa.kill()
                self.rasa.wait()
        self.rasa = None

    def inbox(self) -> Any:
        """The channels' inbox the server writes to (open it in this process)."""
        from bot.channels.inbox import Inbox

        return Inbox.from_url(self.db_url, migrate=False)

    def log_tail(self, lines: int = 60) -> str:
        """The end of the servers' log, for a failing test's message."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def x_stack(
    model: Path,
    *,
    brand: Path | None = None,
    mode: str = "webhook+polling",
    mentions_seconds: float = 0.25,
    dm_seconds: float = 0.25,
    page_size: int = 100,
    keep_dir: Path | None = None,
    redeliver_after: float = 120.0,
) -> Iterator[XStack]:
    """Runs the stack for the duration of the block (see the module's docstring).

    Args:
        model: The trained model.
        brand: The brand file (default: $AFTERHOURS_BRAND or brand.yml).
        mode: The X channel's mode.
        mentions_seconds: Seconds between mention polls.
        dm_seconds: Seconds between DM polls.
        page_size: Posts per page the poller asks for.
        keep_dir: Put the scratch files (databases, logs) here instead of a temporary folder.
        redeliver_after: Seconds before an unfinished message counts as abandoned.
    """
    from afterhours.runner import runtime_endpoints, stop
    from bot.servers import action_server_command, free_port, wait_until_healthy
    from bot.settings import BRAND_ENV, DB_ENV, brand_path

    fake = FakeX().start()
    with tempfile.TemporaryDirectory(prefix="afterhours-x-") as temporary:
        scratch = keep_dir or Path(temporary)
        scratch.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{scratch / 'queue.db'}"
        action_port, rasa_port = free_port(), free_port()
        endpoints = runtime_endpoints(
            action_port, ROOT / "endpoints.yml", scratch, tracker_db=scratch / "trackers.db"
        )
        credentials = scratch / "credentials.yml"
        entry: dict[str, Any] = {
            "tier": "pro",
            "mode": mode,
            "mentions_seconds": mentions_seconds,
            "dm_seconds": dm_seconds,
            "page_size": page_size,
            "api_base_url": fake.base_url,
            "redeliver_every": 5,
            "redeliver_after": redeliver_after,
        }
        entry.update({f"{option}_env": name for option, name in ENV_NAMES.items()})
        credentials.write_text(
            yaml.safe_dump({"bot.channels.x.XInput": entry}, sort_keys=False), encoding="utf-8"
        )
        secrets = {
            "X_BEARER_TOKEN": fake.bearer_token,
            "X_CONSUMER_KEY": fake.consumer_key,
            "X_CONSUMER_SECRET": fake.consumer_secret,
            "X_ACCESS_TOKEN": fake.access_token,
            "X_ACCESS_TOKEN_SECRET": fake.access_token_secret,
            "X_USER_ID": fake.brand_id,
        }
        env = dict(
            os.environ,
            **secrets,
            **{DB_ENV: db_url, BRAND_ENV: str((brand or brand_path()).resolve())},
        )
        env.setdefault("RASA_TELEMETRY_ENABLED", "false")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        log_path = scratch / "servers.log"
        stack = XStack(
            fake=fake,
            scratch=scratch,
            model=model,
            db_url=db_url,
            env=env,
            endpoints=endpoints,
            credentials=credentials,
            rasa_port=rasa_port,
            log_path=log_path,
        )
        action_log = open(scratch / "actions.log", "w", encoding="utf-8")  # noqa: SIM115
        try:
            actions = subprocess.Popen(
                action_server_command(action_port),
                env=env,
                cwd=ROOT,
                stdout=action_log,
                stderr=subprocess.STDOUT,
            )
            stack.processes.append(actions)
            wait_until_healthy(f"http://127.0.0.1:{action_port}/health", actions)
            stack.start_rasa()
            yield stack
        finally:
            stack.stop_rasa()
            stop(stack.processes)
            action_log.close()
            fake.stop()


def who(name: str) -> str:
    """A username of this run (X usernames: 15 characters at most)."""
    return f"{name[:9]}_{RUN}"


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[XStack]:
    with x_stack(
        trained_model,
        brand=ROOT / "afterhours" / "bench" / "brand_night.yml",
        mode="webhook+polling",
        page_size=5,
        keep_dir=tmp_path_factory.mktemp("x-e2e"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def inbox(stack: XStack) -> Iterator[Any]:
    box = stack.inbox()
    yield box
    box.dispose()


def processed(inbox: Any, platform_id: str, timeout: float = 60.0) -> Any:
    """Waits until the server finished an inbox entry; returns it."""

    def done() -> Any:
        entry = inbox.find("x", platform_id)
        return entry if entry is not None and entry.status == "done" else None

    return wait_until(done, timeout)


def replies(fake: FakeX, tweet: dict[str, Any], count: int = 1, timeout: float = 60.0) -> list:
    """Waits for ``count`` replies under a post, then a moment more to catch any extra."""
    wait_until(lambda: len(fake.replies_to(tweet["id"])) >= count, timeout)
    time.sleep(1.0)
    return fake.replies_to(tweet["id"])


def tracker_triage(stack: XStack, conversation: str) -> dict[str, Any]:
    from bot.servers import rasa_token

    path = urllib.parse.quote(conversation, safe=":")
    url = f"{stack.rasa_url}/conversations/{path}/tracker?token={rasa_token()}"
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (loopback)
        tracker = json.loads(answer.read())
    return dict((tracker.get("slots") or {}).get("triage") or {})


def test_a_mention_is_answered_threaded_within_280(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    customer = who("ana")
    tweet = fake.mention(
        customer,
        "how do I use my phone abroad? I'm travelling to Brazil next week and need data there",
    )
    [reply] = replies(fake, tweet)
    assert reply["text"].startswith(f"@{customer} ")
    assert weighted_length(reply["text"]) <= 280
    assert fake.dms_to(customer) == []
    entry = processed(inbox, f"tweet:{tweet['id']}")
    assert entry.inbound.platform["addressed_hint"] == {
        "addressed": True,
        "why": "leading mention of the brand",
    }
    assert tracker_triage(stack, f"x:{customer}").get("decision") == "answer"


def test_a_post_between_other_people_naming_the_brand_is_ignored(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    rita, joana = who("rita"), who("joana")
    opener = fake.post(rita, "looking for a new internet provider, any tips?")
    chat = fake.post(joana, "have you tried @AuroraCare's fibre? mine is great", reply_to=opener)
    entry = processed(inbox, f"tweet:{chat['id']}")
    assert entry.inbound.platform["addressed_hint"]["addressed"] is False
    time.sleep(1.0)
    assert fake.replies_to(chat["id"]) == [] and fake.dms_to(joana) == []
    triage = tracker_triage(stack, f"x:{joana}")
    assert triage.get("decision") == "ignore" and triage.get("reasons") == ["not_addressed"]


def test_our_own_posts_and_plain_retweets_are_not_answered(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    own = fake.post(fake.brand_username, "Fibre maintenance tonight in Lisbon, @AuroraCare team")
    original = fake.mention(who("orig"), "fibre down in Porto since 8pm")
    retweet = fake.post(who("rtfan"), "", retweet_of=original)
    processed(inbox, f"tweet:{retweet['id']}")
    replies(fake, original)  # the original is a customer's question: it is answered
    assert fake.replies_to(retweet["id"]) == []
    assert inbox.find("x", f"tweet:{own['id']}") is None  # never handed to the bot
    assert fake.replies_to(own["id"]) == []


def test_a_quote_is_not_answered(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    quoted = fake.post(who("news"), "Aurora Telecom raises prices by 5%")
    quote = fake.post(who("quoter"), "@AuroraCare look at this, really?", quote_of=quoted)
    entry = processed(inbox, f"tweet:{quote['id']}")
    assert entry.inbound.platform["addressed_hint"] == {"addressed": False, "why": "quote"}
    time.sleep(1.0)
    assert fake.replies_to(quote["id"]) == []


def test_a_dm_is_answered_by_dm(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    customer = who("dmcust")
    event = fake.dm(customer, "how can I pay my bill?")
    wait_until(lambda: fake.dms_to(customer), 60)
    processed(inbox, f"dm:{event['id']}")
    time.sleep(1.0)
    [dm] = fake.dms_to(customer)
    assert dm["participant_id"] == event["sender_id"] and dm["text"]
    assert not any(t["text"].startswith(f"@{customer}") for t in fake.posted_tweets)


def test_personal_data_in_public_gets_a_short_public_reply_and_a_dm(
    stack: XStack, inbox: Any
) -> None:
    fake = stack.fake
    customer = who("mark")
    tweet = fake.mention(
        customer, "why was I charged 12 euros for calls this month? my NIF is 198765436"
    )
    [public] = replies(fake, tweet)
    wait_until(lambda: fake.dms_to(customer), 60)
    [dm] = fake.dms_to(customer)
    assert "198765436" not in public["text"] and public["text"].startswith(f"@{customer} ")
    assert weighted_length(public["text"]) < 200  # short: the rest goes to DM
    assert dm["participant_id"] == tweet["author_id"] and len(dm["text"]) > 20
    assert tracker_triage(stack, f"x:{customer}").get("decision") == "handoff"


def test_closed_dms_get_the_dm_link_and_the_customers_dm_joins_the_ticket(
    stack: XStack, inbox: Any
) -> None:
    # Issue 18: she does not follow the brand; X refuses the DM. The public reply must not claim
    # one and carries the brand's DM link; her DM joins the same conversation and ticket.
    from handoff.queue import HandoffQueue

    fake = stack.fake
    customer = who("closed")
    fake.close_dms(customer)
    tweet = fake.mention(customer, "why was I charged 12 euros this month? my NIF is 198765436")
    [public] = replies(fake, tweet)
    assert public["text"].startswith(f"@{customer} ") and "198765436" not in public["text"]
    assert f"https://x.com/messages/compose?recipient_id={fake.brand_id}" in public["text"]
    assert "sent you" not in public["text"].lower()
    assert fake.dms_to(customer) == [] and fake.hits("dm_send")[-1].status == 403
    ticket_id = int(tracker_triage(stack, f"x:{customer}")["ticket"])
    queue = HandoffQueue.from_url(stack.db_url, migrate=False)
    try:

        def routes() -> list[Any]:
            ticket = queue.get(ticket_id)
            return [(line.meta or {}).get("route") for line in ticket.transcript]

        assert wait_until(lambda: "link_sent" in routes(), 30)
        assert [r for r in routes() if r] == ["dm_refused", "link_sent"]
        # She opens the link and writes: the private line she missed goes now, by DM.
        fake.dm(customer, "here I am")
        wait_until(lambda: fake.dms_to(customer), 60)
        [dm] = fake.dms_to(customer)
        assert dm["text"].startswith("Hi, we're continuing our conversation here, in private.")
        assert wait_until(lambda: "first_private_message" in routes(), 30)
        ticket = queue.get(ticket_id)
        assert ticket.conversation_id == f"x:{customer}"
        assert [line.text for line in ticket.transcript if line.author == "customer"][-1] == (
            "here I am"
        )
    finally:
        queue.dispose()


def test_pages_of_mentions_are_all_answered_once(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    before = len(fake.hits("mentions"))
    with fake._lock:  # all posted before the next poll: one poll, three pages of 5
        posted = [fake.mention(who(f"page{i}"), "how can I pay my bill?") for i in range(12)]
    for tweet in posted:
        wait_until(partial(fake.replies_to, tweet["id"]), 120)
    time.sleep(1.0)
    assert [len(fake.replies_to(t["id"])) for t in posted] == [1] * 12
    tokens = [r.query.get("pagination_token") for r in fake.hits("mentions")[before:]]
    assert sum(1 for t in tokens if t) >= 2


def test_a_429_backs_off_until_the_reset(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    before = len(fake.hits("mentions"))
    reset = fake.exhaust("mentions", reset_in=2.0)
    tweet = fake.mention(who("patient"), "is there an outage in Almada?")
    [reply] = replies(fake, tweet, timeout=60)
    hits = fake.hits("mentions")[before:]
    limited = [h for h in hits if h.status == 429]
    assert len(limited) == 1  # the job keeps firing every 0.25 s but does not call X
    after = [h for h in hits if h.at > limited[0].at]
    assert after and all(h.at >= reset for h in after)
    assert reply["received_at"] >= reset


def test_a_restart_neither_answers_twice_nor_skips(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    first = fake.mention(who("before"), "how can I pay my bill?")
    replies(fake, first)
    cursor = inbox.get_cursor("x:mentions:since_id")
    assert cursor is not None and int(cursor) >= int(first["id"])
    stack.stop_rasa()
    stopped = time.time()
    during = fake.mention(who("during"), "how do I use my phone abroad?")
    stack.start_rasa()
    assert len(replies(fake, during)) == 1
    time.sleep(1.0)
    assert len(fake.replies_to(first["id"])) == 1
    # The restarted server went on from the saved cursor, not from its own start time.
    resumed = [h for h in fake.hits("mentions") if h.at > stopped][0]
    assert resumed.query["since_id"] == cursor


def test_a_reply_sent_later_through_rasas_api_lands_threaded(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    customer = who("later")
    older = fake.mention(customer, "how do I use my phone abroad?")
    replies(fake, older)
    newer = fake.mention(customer, "thanks! and how can I pay my bill?")
    replies(fake, newer)
    conversation = f"x:{customer}"

    def send_later(event: dict[str, Any]) -> None:
        from bot.servers import rasa_token

        query = urllib.parse.urlencode(
            {"output_channel": "latest", "execute_side_effects": "true", "token": rasa_token()}
        )
        request = urllib.request.Request(
            f"{stack.rasa_url}/conversations/{conversation}/tracker/events?{query}",
            data=json.dumps(event).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            assert answer.status == 200

    send_later({"event": "bot", "text": "An agent here: all sorted, Ana."})
    agent_reply = wait_until(
        lambda: [t for t in fake.replies_to(newer["id"]) if "An agent here" in t["text"]], 30
    )
    assert agent_reply[0]["text"] == f"@{customer} An agent here: all sorted, Ana."
    # An answer the desk marks private goes by DM, like the bot's own private replies.
    send_later(
        {
            "event": "bot",
            "text": "Your refund of 12 EUR is on its way.",
            "metadata": {"visibility": "private"},
        }
    )
    dm = wait_until(lambda: fake.dms_to(customer), 30)
    assert dm[0]["text"] == "Your refund of 12 EUR is on its way."
    assert not [t for t in fake.replies_to(newer["id"]) if "refund" in t["text"]]


# --- the Account Activity webhook ---------------------------------------------------------------


def test_the_crc_challenge_is_answered(stack: XStack) -> None:
    assert stack.fake.crc_check(stack.webhook_url, "a-crc-token-from-x")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(stack.webhook_url, timeout=10)  # noqa: S310 (no crc_token)
    assert missing.value.code == 400


def test_a_signed_delivery_is_answered_once_even_when_x_retries(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    customer = who("hooked")
    tweet = fake.mention(customer, "how do I use my phone abroad?")
    fake.hidden.add(tweet["id"])  # only the webhook brings it
    payload = fake.activity_for_tweet(tweet)
    status, body = fake.deliver(stack.webhook_url, payload)
    assert status == 200 and json.loads(body)["accepted"] == 1
    [reply] = replies(fake, tweet)
    assert reply["text"].startswith(f"@{customer} ")
    again, body = fake.deliver(stack.webhook_url, payload)  # X retries the same event
    assert again == 200 and json.loads(body)["accepted"] == 0
    time.sleep(1.5)
    assert len(fake.replies_to(tweet["id"])) == 1


def test_forged_or_missing_signatures_are_refused(stack: XStack, inbox: Any) -> None:
    fake = stack.fake
    tweet = fake.mention(who("forged"), "how can I pay my bill?")
    fake.hidden.add(tweet["id"])
    body = json.dumps(fake.activity_for_tweet(tweet)).encode()
    forged = "sha256=" + "A" * 43 + "="
    assert fake.deliver(stack.webhook_url, body, signature=forged)[0] == 403
    assert fake.deliver(stack.webhook_url, body, signature="")[0] == 403
    other_secret = FakeX(consumer_secret="not-the-apps-secret")
    assert fake.deliver(stack.webhook_url, body, signature=other_secret.sign(body))[0] == 403
    tampered = body.replace(b"how can I", b"how can U")
    assert fake.deliver(stack.webhook_url, tampered, signature=fake.sign(body))[0] == 403
    time.sleep(1.0)
    assert inbox.find("x", f"tweet:{tweet['id']}") is None
    assert fake.replies_to(tweet["id"]) == []


def test_malformed_json_is_a_400(stack: XStack) -> None:
    fake = stack.fake
    body = b'{"for_user_id": "1500000000000000001", "tweet_create_events": [ {'
    status, _ = fake.deliver(stack.webhook_url, body)  # correctly signed, not JSON
    assert status == 400
    unreadable = json.dumps(
        {"for_user_id": fake.brand_id, "tweet_create_events": [{"text": "no ids"}]}
    ).encode()
    assert fake.deliver(stack.webhook_url, unreadable)[0] == 400


def test_an_oversized_delivery_is_a_413_and_other_activity_is_acknowledged(stack: XStack) -> None:
    fake = stack.fake
    huge = json.dumps(
        {"for_user_id": fake.brand_id, "tweet_create_events": [], "padding": "x" * 300_000}
    ).encode()
    assert fake.deliver(stack.webhook_url, huge)[0] == 413
    # Likes, follows and typing indicators are Account Activity too: acknowledged, not answered.
    other = {
        "for_user_id": fake.brand_id,
        "favorite_events": [{"id": "a1", "favorited_status": {"id_str": "1"}}],
        "follow_events": [{"type": "follow", "source": {"id": "42"}}],
        "direct_message_indicate_typing_events": [{"sender_id": "42"}],
    }
    status, body = fake.deliver(stack.webhook_url, other)
    assert status == 200 and json.loads(body)["accepted"] == 0
