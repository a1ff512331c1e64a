"""Which channels are live, and secrets only from the environment."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from bot.channels.config import (
    Secret,
    channel_label,
    env_names,
    live_channels,
    load_credentials,
    resolve,
    write_runtime_credentials,
)
from bot.settings import ConfigError

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

ROOT = Path(__file__).resolve().parents[2]
TELEGRAM = "bot.channels.telegram.TelegramInput"
SMS = "bot.channels.sms.TwilioSmsInput"
CREDENTIALS = {
    "rest": None,
    TELEGRAM: {"mode": "polling", "token_env": "TELEGRAM_BOT_TOKEN"},
    SMS: {
        "account_sid_env": "TWILIO_ACCOUNT_SID",
        "auth_token_env": "TWILIO_AUTH_TOKEN",
        "from_number_env": "TWILIO_FROM_NUMBER",
    },
}
TOKEN = "123456789:AAH-super-secret-token_0123456789abc"  # shaped like @BotFather's
SMS_ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "auth-token-value-xyz",
    "TWILIO_FROM_NUMBER": "+15005550006",
}


def test_a_secret_never_shows_itself() -> None:
    secret = Secret("123:very-secret", "TELEGRAM_BOT_TOKEN")
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret:>20}", str({"token": secret})):
        assert "very-secret" not in shown
    assert secret.reveal() == "123:very-secret"
    assert "TELEGRAM_BOT_TOKEN" in repr(secret)
    assert secret == Secret("123:very-secret") and bool(secret) and not Secret("")


def test_options_ending_in_env_name_variables() -> None:
    assert env_names(CREDENTIALS[SMS]) == {
        "account_sid": "TWILIO_ACCOUNT_SID",
        "auth_token": "TWILIO_AUTH_TOKEN",
        "from_number": "TWILIO_FROM_NUMBER",
    }
    assert env_names(None) == {}
    with pytest.raises(ConfigError, match="token_env"):
        env_names({"token_env": "not a variable!"})
    with pytest.raises(ConfigError, match="token_env"):
        env_names({"token_env": 42})


def test_resolve_reads_secrets_from_the_environment_only() -> None:
    options = resolve(CREDENTIALS[TELEGRAM], {"TELEGRAM_BOT_TOKEN": "1:abc-secret"})
    assert options["mode"] == "polling"
    assert "token_env" not in options
    assert isinstance(options["token"], Secret) and options["token"].reveal() == "1:abc-secret"


@pytest.mark.parametrize("environ", [{}, {"TELEGRAM_BOT_TOKEN": ""}])
def test_resolve_names_a_missing_variable(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set for the telegram channel"):
        resolve(CREDENTIALS[TELEGRAM], environ, channel="telegram")


def test_channels_with_all_their_variables_are_live() -> None:
    environ = {"TELEGRAM_BOT_TOKEN": TOKEN, **SMS_ENV}
    runtime, report = live_channels(CREDENTIALS, environ)
    assert list(runtime) == ["rest", TELEGRAM, SMS]
    assert runtime[TELEGRAM] == CREDENTIALS[TELEGRAM]  # names, never values
    assert report == ["rest: live", "telegram: live", "sms: live"]


def test_channels_with_none_of_their_variables_are_left_out() -> None:
    runtime, report = live_channels(CREDENTIALS, {"TELEGRAM_BOT_TOKEN": TOKEN})
    assert list(runtime) == ["rest", TELEGRAM]
    assert report[-1] == (
        "sms: not configured (set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER)"
    )


def test_a_channel_with_some_variables_stops_start_up_naming_the_missing_one() -> None:
    environ = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_FROM_NUMBER": "+15005550006"}
    with pytest.raises(ConfigError) as raised:
        live_channels(CREDENTIALS, environ)
    message = str(raised.value)
    assert "sms" in message and "TWILIO_AUTH_TOKEN" in message
    assert "AC1" not in message and "+15005550006" not in message


def test_the_runtime_file_holds_no_secret_and_rasa_can_read_it(tmp_path: Path) -> None:
    environ = {"TELEGRAM_BOT_TOKEN": TOKEN, **SMS_ENV}
    runtime, _ = live_channels(CREDENTIALS, environ)
    path = write_runtime_credentials(runtime, tmp_path / "var" / "credentials.runtime.yml")
    written = path.read_text(encoding="utf-8")
    for value in environ.values():
        assert value not in written
    assert yaml.safe_load(written) == runtime
    assert load_credentials(path) == runtime


def test_the_shipped_credentials_name_variables_for_every_channel() -> None:
    credentials = load_credentials(ROOT / "credentials.yml")
    assert "rest" in credentials
    for key in (TELEGRAM, SMS):
        assert env_names(credentials[key]), key
    runtime, report = live_channels(credentials, {})
    assert list(runtime) == ["rest"]
    assert "telegram: not configured (set TELEGRAM_BOT_TOKEN)" in report


def test_load_credentials_refuses_what_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_credentials(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_credentials(bad)
    broken = tmp_path / "broken.yml"
    broken.write_text("rest: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="YAML"):
        load_credentials(broken)


def test_labels() -> None:
    assert channel_label(TELEGRAM) == "telegram"
    assert channel_label("bot.channels.x.XInput") == "x"
    assert channel_label("rest") == "rest"


def test_a_connector_built_from_credentials_logs_no_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.channels.sms import TwilioSmsInput
    from bot.channels.telegram import TelegramInput

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "424242:telegram-token-never-logged")
    for key, value in SMS_ENV.items():
        monkeypatch.setenv(key, value)
    telegram = TelegramInput.from_credentials(dict(CREDENTIALS[TELEGRAM]))  # type: ignore[arg-type]
    sms = TwilioSmsInput.from_credentials(dict(CREDENTIALS[SMS]))  # type: ignore[arg-type]
    assert telegram.client.bot_id == 424242
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpx").info(
            "HTTP Request: POST https://api.telegram.org/bot424242:telegram-token-never-logged/getMe"
        )
        logging.getLogger("anything").warning("token=%s", "auth-token-value-xyz")
        logging.getLogger("anything").warning("options %r", vars(sms))
    text = caplog.text
    assert "telegram-token-never-logged" not in text
    assert "auth-token-value-xyz" not in text
    assert "bot***/getMe" in text


def test_telegram_options_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.channels.telegram import TelegramInput

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:abc")
    with pytest.raises(ConfigError, match="webhook_url"):
        TelegramInput.from_credentials({"token_env": "TELEGRAM_BOT_TOKEN", "mode": "webhook"})
    with pytest.raises(ConfigError, match="mode"):
        TelegramInput.from_credentials(
            {"token_env": "TELEGRAM_BOT_TOKEN", "mode": "carrier pigeon"}
        )
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "has spaces")
    with pytest.raises(ConfigError, match="secret token"):
        TelegramInput.from_credentials(
            {
                "token_env": "TELEGRAM_BOT_TOKEN",
                "mode": "webhook",
                "webhook_url": "https://bot.example/webhooks/telegram/webhook",
                "secret_token_env": "TELEGRAM_WEBHOOK_SECRET",
            }
        )
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "no-colon")
    with pytest.raises(ConfigError, match="bot token"):
        TelegramInput.from_credentials({"token_env": "TELEGRAM_BOT_TOKEN"})


def test_sms_options_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.channels.sms import TwilioSmsInput

    for key, value in SMS_ENV.items():
        monkeypatch.setenv(key, value)
    options = {"account_sid_env": "TWILIO_ACCOUNT_SID", "auth_token_env": "TWILIO_AUTH_TOKEN"}
    with pytest.raises(ConfigError, match="from_number_env"):
        TwilioSmsInput.from_credentials(dict(options))
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "0800 123")
    with pytest.raises(ConfigError, match="E.164"):
        TwilioSmsInput.from_credentials({**options, "from_number_env": "TWILIO_FROM_NUMBER"})


# -- a live channel's values, checked before anything starts ------------------------------------

X = "bot.channels.x.XInput"
X_OPTIONS = {
    "tier": "basic",
    "mode": "polling",
    **{
        f"{option}_env": f"X_{option.upper()}"
        for option in (
            "bearer_token",
            "consumer_key",
            "consumer_secret",
            "access_token",
            "access_token_secret",
            "user_id",
        )
    },
}
GOOD = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    **SMS_ENV,
    "X_BEARER_TOKEN": "AAAAbearer-value",
    "X_CONSUMER_KEY": "consumer-key-value",
    "X_CONSUMER_SECRET": "consumer-secret-value",
    "X_ACCESS_TOKEN": "1500000000000000001-access",
    "X_ACCESS_TOKEN_SECRET": "access-secret-value",
    "X_USER_ID": "1500000000000000001",
}
ALL = {**CREDENTIALS, X: X_OPTIONS}

BAD_VALUES = [
    ("TELEGRAM_BOT_TOKEN", "123:short"),
    ("TELEGRAM_BOT_TOKEN", "not-a-token-at-all-not-a-token-at-all"),
    ("TELEGRAM_BOT_TOKEN", TOKEN + "\n"),
    ("TWILIO_FROM_NUMBER", "00351210000000"),
    ("TWILIO_FROM_NUMBER", "+351 21 000 0000"),
    ("TWILIO_ACCOUNT_SID", "AC-not-a-sid"),
    ("TWILIO_AUTH_TOKEN", "two words"),
    ("X_USER_ID", "@AuroraCare"),
    ("X_ACCESS_TOKEN", "has a space"),
]


def test_good_values_make_every_channel_live() -> None:
    _, report = live_channels(ALL, GOOD)
    assert report == ["rest: live", "telegram: live", "sms: live", "x: live"]


@pytest.mark.parametrize("variable, value", BAD_VALUES)
def test_a_bad_value_is_refused_naming_its_variable_not_its_value(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        live_channels(ALL, {**GOOD, variable: value})
    message = str(raised.value)
    assert message.startswith(variable) and "\n" not in message
    assert value.strip() not in message


@pytest.mark.parametrize(
    "key, change, setting",
    [
        (TELEGRAM, {"mode": "carrier pigeon"}, "`mode`"),
        (TELEGRAM, {"mode": "webhook"}, "`webhook_url`"),
        (TELEGRAM, {"per_chat_interval": "fast"}, "`per_chat_interval`"),
        (TELEGRAM, {"allow_groups": "yes"}, "`allow_groups`"),
        (SMS, {"public_url": "bot.example.com/webhooks/sms/webhook"}, "`public_url`"),
        (X, {"tier": "enterprise"}, "`tier`"),
        (X, {"page_size": 500}, "`page_size`"),
        (X, {"mentions_seconds": 0}, "`mentions_seconds`"),
    ],
)
def test_a_bad_option_in_credentials_is_named(
    key: str, change: dict[str, object], setting: str
) -> None:
    credentials = {**ALL, key: {**ALL[key], **change}}
    with pytest.raises(ConfigError, match=setting):
        live_channels(credentials, GOOD)


def test_sms_needs_a_sender() -> None:
    without = {k: v for k, v in CREDENTIALS[SMS].items() if k != "from_number_env"}
    with pytest.raises(ConfigError, match="from_number_env"):
        live_channels({SMS: without}, GOOD)


def test_the_fake_platforms_credentials_pass() -> None:
    """The benchmarks and the fault bench run the real channels with the fakes' values."""
    from afterhours.bench.fakes.telegram_server import FakeTelegram
    from afterhours.bench.fakes.twilio_server import FakeTwilio

    twilio = FakeTwilio()
    environ = {
        **GOOD,
        "TELEGRAM_BOT_TOKEN": FakeTelegram().token,
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": twilio.number,
    }
    assert live_channels(ALL, environ)[1][-1] == "x: live"
