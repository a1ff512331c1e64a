"""Which channels are live, and their secrets — only ever from the environment.

`credentials.yml` lists the channels; a connector's secrets are never written there, only the NAMES
of the environment variables that hold them, as options ending in ``_env``::

    bot.channels.telegram.TelegramInput:
      token_env: TELEGRAM_BOT_TOKEN      # the option `token`, read from $TELEGRAM_BOT_TOKEN
      mode: polling

A channel whose variables are all set is live; one with none set is left out ("not configured");
one with only some set is a mistake and stops start-up with a :class:`~bot.settings.ConfigError`
naming the missing variable. A live channel's values are checked too (:func:`check_channel`: a
bot token's shape, an E.164 sender, a numeric X user id ...), so a wrong one stops `afterhours run`
before any server starts, naming the variable and never showing its value. Values are wrapped in
:class:`Secret`, whose ``repr`` and ``str`` never show them, so a logged options dict leaks
nothing. Plain logic: no Rasa import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.settings import ConfigError

__all__ = [
    "ENV_SUFFIX",
    "RUNTIME_CREDENTIALS",
    "Secret",
    "channel_label",
    "check_channel",
    "env_names",
    "live_channels",
    "load_credentials",
    "resolve",
    "write_runtime_credentials",
]

#: Options ending in this name an environment variable.
ENV_SUFFIX = "_env"
#: Where the runner writes the credentials of the live channels (variable names, no values).
RUNTIME_CREDENTIALS = Path("var") / "credentials.runtime.yml"
_HIDDEN = "***"


class Secret:
    """A secret value that does not print itself.

    ``str()``, ``repr()`` and f-strings show ``***``; :meth:`reveal` gives the value to the one
    library call that needs it.
    """

    __slots__ = ("_value", "name")

    def __init__(self, value: str, name: str = "") -> None:
        """Wraps ``value``, read from the environment variable ``name``."""
        self._value = value
        self.name = name

    def reveal(self) -> str:
        """The value itself: pass it to the client library, never to a log."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name or 'value'}={_HIDDEN})"

    def __str__(self) -> str:
        return _HIDDEN

    def __format__(self, spec: str) -> str:
        return _HIDDEN

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def channel_label(key: str) -> str:
    """A short name for a credentials key: ``bot.channels.telegram.TelegramInput`` → telegram."""
    parts = key.split(".")
    return parts[-2] if len(parts) >= 2 else key


def env_names(options: Mapping[str, Any] | None) -> dict[str, str]:
    """The environment variables a channel's options name: ``{option: VARIABLE}``.

    Args:
        options: A channel's entry in credentials.yml.

    Returns:
        ``token_env: TELEGRAM_BOT_TOKEN`` becomes ``{"token": "TELEGRAM_BOT_TOKEN"}``.

    Raises:
        ConfigError: An ``*_env`` option is not a variable name.
    """
    names: dict[str, str] = {}
    for key, value in (options or {}).items():
        if not isinstance(key, str) or not key.endswith(ENV_SUFFIX):
            continue
        if not isinstance(value, str) or not value.strip() or not value.replace("_", "").isalnum():
            raise ConfigError(
                f"credentials.yml: `{key}` must name an environment variable, got {value!r}"
            )
        names[key[: -len(ENV_SUFFIX)]] = value.strip()
    return names


def resolve(
    options: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None,
    *,
    channel: str = "",
) -> dict[str, Any]:
    """A channel's options with its secrets read from the environment.

    Args:
        options: The channel's entry in credentials.yml.
        environ: The environment (``os.environ`` when None).
        channel: The channel's name, for the error message.

    Returns:
        The options without the ``*_env`` keys, each replaced by its value as a :class:`Secret`
        (``token_env: TELEGRAM_BOT_TOKEN`` gives ``token``).

    Raises:
        ConfigError: A named variable is unset or empty; the message names it (never a value).
    """
    env = os.environ if environ is None else environ
    names = env_names(options)
    resolved = {k: v for k, v in (options or {}).items() if not str(k).endswith(ENV_SUFFIX)}
    for option, variable in names.items():
        value = env.get(variable, "")
        if not value:
            where = f" for the {channel} channel" if channel else ""
            raise ConfigError(f"environment variable {variable} is not set{where}")
        resolved[option] = Secret(value, variable)
    return resolved


# -- the values of a live channel ------------------------------------------------------------

#: A check of one option's value: what it must be, for the error message, and the test.
Rule = tuple[str, Callable[[Any], bool]]


def _pattern(expression: str) -> Callable[[Any], bool]:
    compiled = re.compile(expression)
    return lambda value: isinstance(value, str) and compiled.fullmatch(value) is not None


def _number(minimum: float, maximum: float = float("inf"), *, above: bool = False) -> Rule:
    def test(value: Any) -> bool:
        if isinstance(value, bool):
            return False
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        return (number > minimum if above else number >= minimum) and number <= maximum

    bound = f"above {minimum:g}" if above else f"at least {minimum:g}"
    limit = f" and at most {maximum:g}" if maximum != float("inf") else ""
    return f"a number {bound}{limit}", test


def _url(value: Any) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _one_of(*choices: str) -> Rule:
    return " or ".join(choices), lambda value: value in choices


_TOKEN: Rule = ("a single word (no spaces or line breaks)", _pattern(r"\S+"))
_URL: Rule = ("an http(s) URL", _url)
_BOOL: Rule = ("true or false", lambda value: isinstance(value, bool))
# What every connector of ours takes (bot/channels/base.py ChannelConnector).
_COMMON: dict[str, Rule] = {
    "max_body_bytes": _number(1024),
    "max_in_flight": _number(1),
    "redeliver_after": _number(0, above=True),
    "redeliver_every": _number(0),
}
#: The checks of each connector's values, by its credentials.yml key and option name.
CHANNEL_RULES: dict[str, dict[str, Rule]] = {
    "bot.channels.telegram.TelegramInput": {
        **_COMMON,
        "token": (
            "a bot token from @BotFather: digits, a colon, then 30 or more letters, digits, _ or -",
            _pattern(r"\d+:[A-Za-z0-9_-]{30,}"),
        ),
        "mode": _one_of("webhook", "polling"),
        "webhook_url": _URL,
        "secret_token": ("1 to 256 characters A-Z a-z 0-9 _ -", _pattern(r"[A-Za-z0-9_-]{1,256}")),
        "base_url": _URL,
        "allow_groups": _BOOL,
        "poll_timeout": _number(0),
        "per_chat_interval": _number(0),
        "overall_per_second": _number(0, above=True),
        "read_timeout": _number(0, above=True),
    },
    "bot.channels.sms.TwilioSmsInput": {
        **_COMMON,
        "account_sid": (
            "a Twilio Account SID: AC and 32 hex digits",
            _pattern(r"AC[0-9a-fA-F]{32}"),
        ),
        "auth_token": _TOKEN,
        "from_number": ("a number in E.164 form, like +351210000000", _pattern(r"\+[1-9]\d{6,14}")),
        "messaging_service_sid": (
            "a Messaging Service SID: MG and 32 hex digits",
            _pattern(r"MG[0-9a-fA-F]{32}"),
        ),
        "public_url": _URL,
        "api_base_url": _URL,
        "help_reply": _BOOL,
        "timeout": _number(0, above=True),
    },
    "bot.channels.x.XInput": {
        **_COMMON,
        "bearer_token": _TOKEN,
        "consumer_key": _TOKEN,
        "consumer_secret": _TOKEN,
        "access_token": _TOKEN,
        "access_token_secret": _TOKEN,
        "user_id": ("the brand account's numeric X user id", _pattern(r"\d{1,20}")),
        "tier": _one_of("free", "basic", "pro"),
        "mode": _one_of("polling", "webhook", "webhook+polling"),
        "mentions_seconds": _number(0, above=True),
        "dm_seconds": _number(0),
        "backfill_minutes": _number(0),
        "api_base_url": _URL,
        "mentions_user_auth": _BOOL,
        "page_size": _number(5, 100),
    },
}
# Options a connector cannot start without: each entry is a set of alternatives.
_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "bot.channels.telegram.TelegramInput": (("token",),),
    "bot.channels.sms.TwilioSmsInput": (
        ("account_sid",),
        ("auth_token",),
        ("from_number", "messaging_service_sid"),
    ),
    "bot.channels.x.XInput": tuple(
        (name,)
        for name in (
            "bearer_token",
            "consumer_key",
            "consumer_secret",
            "access_token",
            "access_token_secret",
            "user_id",
        )
    ),
}


def check_channel(
    key: str, options: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> None:
    """Checks the values of one live channel before any server starts.

    Only the project's own connectors (:data:`CHANNEL_RULES`) are checked; the connectors check
    again when Rasa builds them.

    Args:
        key: The channel's key in credentials.yml, e.g. ``bot.channels.telegram.TelegramInput``.
        options: Its entry in credentials.yml.
        environ: The environment (``os.environ`` when None).

    Raises:
        ConfigError: One line naming the environment variable (or the credentials.yml option)
            and what it must be; never the value.
    """
    rules = CHANNEL_RULES.get(key)
    if rules is None:
        return
    label = channel_label(key)
    names = env_names(options)
    values = resolve(options, environ, channel=label)

    def setting(option: str) -> str:
        if option in names:
            return f"{names[option]} (the {label} channel's `{option}_env`)"
        return f"credentials.yml: {label} `{option}`"

    for alternatives in _REQUIRED.get(key, ()):
        if not any(values.get(option) not in (None, "") for option in alternatives):
            wanted = " or ".join(f"`{option}_env`" for option in alternatives)
            raise ConfigError(f"credentials.yml: the {label} channel needs {wanted}")
    if key == "bot.channels.telegram.TelegramInput" and values.get("mode") == "webhook":
        for option in ("webhook_url", "secret_token"):
            if not values.get(option):
                raise ConfigError(f"credentials.yml: telegram webhook mode needs `{option}`")
    for option, value in values.items():
        rule = rules.get(option)
        if rule is None or value is None:
            continue
        what, test = rule
        if not test(value.reveal() if isinstance(value, Secret) else value):
            raise ConfigError(f"{setting(option)} must be {what}")


def load_credentials(path: str | Path = "credentials.yml") -> dict[str, Any]:
    """Reads credentials.yml.

    Raises:
        ConfigError: The file is missing, not YAML, or not a mapping of channels.
    """
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"credentials file not found at {source.resolve()}")
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from error
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a mapping of channel names to their options")
    return raw


def live_channels(
    credentials: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Splits the channels of credentials.yml into live ones and those left out.

    Args:
        credentials: credentials.yml as parsed.
        environ: The environment (``os.environ`` when None).

    Returns:
        The credentials of the live channels — exactly as written, variable names and not
        values, so the file can be handed to ``rasa run --credentials`` — and one line per
        channel for the operator, e.g. ``"telegram: live"`` or
        ``"sms: not configured (set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)"``.

    Raises:
        ConfigError: A channel has some of its variables but not all (names the missing one), or
            a live channel's value is wrong (names the variable; see :func:`check_channel`).
    """
    env = os.environ if environ is None else environ
    runtime: dict[str, Any] = {}
    report: list[str] = []
    for key, options in credentials.items():
        label = channel_label(str(key))
        if options is not None and not isinstance(options, Mapping):
            raise ConfigError(f"credentials.yml: `{key}` must be a mapping of options")
        names = env_names(options)
        present = [v for v in names.values() if env.get(v)]
        missing = [v for v in names.values() if not env.get(v)]
        if names and not present:
            report.append(f"{label}: not configured (set {', '.join(names.values())})")
            continue
        if missing:
            raise ConfigError(
                f"the {label} channel is partly configured: environment variable "
                f"{missing[0]} is not set"
                + (f" (also missing: {', '.join(missing[1:])})" if missing[1:] else "")
            )
        check_channel(str(key), options, env)
        runtime[key] = options
        report.append(f"{label}: live")
    return runtime, report


def write_runtime_credentials(
    runtime: Mapping[str, Any], target: str | Path = RUNTIME_CREDENTIALS
) -> Path:
    """Writes the live channels' credentials (no secret values: only variable names).

    Args:
        runtime: The first value returned by :func:`live_channels`.
        target: The file to write.

    Returns:
        The file's path.
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Written by `afterhours run` from credentials.yml: the channels whose environment\n"
        "# variables are set. Secrets are read from the environment, never written here.\n"
    )
    body = yaml.safe_dump(dict(runtime), sort_keys=False, allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")
    return path
