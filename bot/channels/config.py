"""Which channels are live, and their secrets — only ever from the environment.

`credentials.yml` lists the channels; a connector's secrets are never written there, only the NAMES
of the environment variables that hold them, as options ending in ``_env``::

    bot.channels.telegram.TelegramInput:
      token_env: TELEGRAM_BOT_TOKEN      # the option `token`, read from $TELEGRAM_BOT_TOKEN
      mode: polling

A channel whose variables are all set is live; one with none set is left out ("not configured");
one with only some set is a mistake and stops start-up with a :class:`~bot.settings.ConfigError`
naming the missing variable. Values are wrapped in :class:`Secret`, whose ``repr`` and ``str`` never
show them, so a logged options dict leaks nothing. Plain logic: no Rasa import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.settings import ConfigError

__all__ = [
    "ENV_SUFFIX",
    "RUNTIME_CREDENTIALS",
    "Secret",
    "channel_label",
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
        ConfigError: A channel has some of its variables but not all; names the missing one.
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
