"""The brand's configuration (`brand.yml`) and the runtime settings from the environment.

Everything brand-specific is read from here; a missing or wrong setting raises
:class:`ConfigError` with the setting's name, so start-up stops with a clear message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from babel import Locale, UnknownLocaleError

from handoff.calendar import BusinessCalendar

BRAND_ENV = "AFTERHOURS_BRAND"
DB_ENV = "AFTERHOURS_DB_URL"
HOME_ENV = "AFTERHOURS_HOME"

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HANDLE_PATTERN = re.compile(r"^@[A-Za-z0-9_]{1,15}$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2}$")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the setting."""


@dataclass(frozen=True)
class Contacts:
    """How customers reach the brand besides the bot."""

    phone: str
    email: str
    web_chat: str
    status_page: str | None = None
    stores: str | None = None
    phone_note: str | None = None


@dataclass(frozen=True)
class Brand:
    """The facts of one brand, validated."""

    name: str
    handle: str
    timezone: str
    holiday_country: str
    holiday_subdivision: str | None
    desk_hours: Mapping[str, Sequence[str]]
    answer_in_hours: bool
    languages: list[str]
    locales: Mapping[str, str]
    contacts: Contacts
    account_number_pattern: str | None
    phone_regions: list[str]
    departments: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def default_language(self) -> str:
        """The language used when a message's language is unclear."""
        return self.languages[0]

    @property
    def handle_name(self) -> str:
        """The X handle without its leading @."""
        return self.handle.lstrip("@")

    def locale_for(self, language: str, hint: str | None = None) -> str:
        """Returns the Babel locale for writing dates to a customer of `language`."""
        if hint and hint.split("_")[0] == language:
            return hint
        return self.locales.get(language, language)

    def calendar(self) -> BusinessCalendar:
        """The desk's business-hours calendar (built once per brand)."""
        return self._calendar

    @cached_property
    def _calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_strings(
            self.timezone,
            dict(self.desk_hours),
            self.holiday_country,
            self.holiday_subdivision,
        )


def _require(raw: Mapping[str, Any], key: str, kind: type, where: str = "") -> Any:
    name = f"{where}{key}"
    if key not in raw or raw[key] is None:
        raise ConfigError(f"brand.yml: `{name}` is missing")
    value = raw[key]
    if not isinstance(value, kind):
        raise ConfigError(f"brand.yml: `{name}` must be a {kind.__name__}, got {value!r}")
    return value


def _phone_regions(raw: Mapping[str, Any]) -> list[str]:
    """The regions tried for phone numbers written without a country code, validated.

    A wrong or empty list is refused: the numbers customers write would then go undetected as
    personal data (shown on the desk, kept in training material, posted in public replies).
    """
    import phonenumbers  # loads its metadata lazily

    regions = raw.get("phone_regions")
    if regions is None:
        raise ConfigError(
            "brand.yml: `phone_regions` is missing: the regions tried for phone numbers written "
            "without a country code, like [PT, ES]"
        )
    if not isinstance(regions, list) or not regions:
        raise ConfigError("brand.yml: `phone_regions` must be a non-empty list like [PT, ES]")
    codes: list[str] = []
    for region in regions:
        code = region.strip().upper() if isinstance(region, str) else ""
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(
                f"brand.yml: `phone_regions`: {region!r} is not a region code phonenumbers "
                "knows (ISO 3166, like PT or ES)"
            )
        codes.append(code)
    return codes


def parse_brand(raw: Any) -> Brand:
    """Validates a parsed `brand.yml` and builds a :class:`Brand`.

    Args:
        raw: The YAML document as Python objects.

    Returns:
        The brand.

    Raises:
        ConfigError: naming the first setting that is missing or wrong.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("brand.yml: the file must be a mapping of settings")
    name = _require(raw, "name", str)
    handle = _require(raw, "handle", str)
    if not HANDLE_PATTERN.match(handle):
        raise ConfigError(
            f"brand.yml: `handle` must look like @Name (15 characters), got {handle!r}"
        )
    timezone = _require(raw, "timezone", str)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"brand.yml: `timezone` {timezone!r} is not an IANA time zone") from error

    holidays_raw = _require(raw, "holidays", Mapping)
    country = _require(holidays_raw, "country", str, "holidays.")
    subdivision = holidays_raw.get("subdivision")

    desk_hours_raw = _require(raw, "desk_hours", Mapping)
    for day in desk_hours_raw:
        if day not in WEEKDAYS:
            raise ConfigError(
                f"brand.yml: `desk_hours.{day}` is not a weekday ({', '.join(WEEKDAYS)})"
            )
        periods = desk_hours_raw[day]
        if not isinstance(periods, list) or not all(isinstance(p, str) for p in periods):
            raise ConfigError(f'brand.yml: `desk_hours.{day}` must be a list like ["09:00-18:00"]')

    languages = _require(raw, "languages", list)
    if not languages or not all(
        isinstance(x, str) and LANGUAGE_PATTERN.match(x) for x in languages
    ):
        raise ConfigError("brand.yml: `languages` must be a non-empty list of ISO 639-1 codes")
    locales_raw = raw.get("locales") or {}
    if not isinstance(locales_raw, Mapping):
        raise ConfigError("brand.yml: `locales` must map a language to a locale like pt_PT")
    locales = {language: str(locales_raw.get(language, language)) for language in languages}
    for language, locale in locales.items():
        try:
            Locale.parse(locale)
        except (ValueError, UnknownLocaleError) as error:
            raise ConfigError(
                f"brand.yml: `locales.{language}` {locale!r} is not a locale like pt_PT"
            ) from error

    contacts_raw = _require(raw, "contacts", Mapping)
    contacts = Contacts(
        phone=_require(contacts_raw, "phone", str, "contacts."),
        email=_require(contacts_raw, "email", str, "contacts."),
        web_chat=_require(contacts_raw, "web_chat", str, "contacts."),
        status_page=contacts_raw.get("status_page"),
        stores=contacts_raw.get("stores"),
        phone_note=contacts_raw.get("phone_note"),
    )

    pattern = raw.get("account_number_pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            raise ConfigError(
                f"brand.yml: `account_number_pattern` is not a valid regex: {error}"
            ) from error

    answer_in_hours = raw.get("answer_in_hours", False)
    if not isinstance(answer_in_hours, bool):
        raise ConfigError("brand.yml: `answer_in_hours` must be true or false")

    departments = raw.get("departments") or {}
    if not isinstance(departments, Mapping) or not all(
        isinstance(v, list) for v in departments.values()
    ):
        raise ConfigError("brand.yml: `departments` must map a department to a list of intents")

    phone_regions = _phone_regions(raw)

    brand = Brand(
        name=name,
        handle=handle,
        timezone=timezone,
        holiday_country=country,
        holiday_subdivision=subdivision,
        desk_hours={day: list(periods) for day, periods in desk_hours_raw.items()},
        answer_in_hours=answer_in_hours,
        languages=list(languages),
        locales=locales,
        contacts=contacts,
        account_number_pattern=pattern,
        phone_regions=phone_regions,
        departments={k: list(v) for k, v in departments.items()},
    )
    try:
        brand.calendar()
    except (ValueError, NotImplementedError, KeyError) as error:
        raise ConfigError(f"brand.yml: {error}") from error
    return brand


def brand_path(path: str | Path | None = None) -> Path:
    """Where `brand.yml` is: the argument, else $AFTERHOURS_BRAND, else ./brand.yml."""
    return Path(path or os.environ.get(BRAND_ENV) or "brand.yml")


@lru_cache(maxsize=8)
def _load_cached(resolved: str, mtime: float) -> Brand:
    with open(resolved, encoding="utf-8") as handle:
        try:
            raw = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ConfigError(f"brand.yml: not valid YAML: {error}") from error
    return parse_brand(raw)


def load_brand(path: str | Path | None = None) -> Brand:
    """Loads and validates the brand (cached until the file changes).

    Args:
        path: The file; defaults to $AFTERHOURS_BRAND or ./brand.yml.

    Raises:
        ConfigError: the file is missing or a setting is wrong.
    """
    resolved = brand_path(path).resolve()
    if not resolved.is_file():
        raise ConfigError(f"brand.yml not found at {resolved} (set {BRAND_ENV} to its path)")
    return _load_cached(str(resolved), resolved.stat().st_mtime)


def check_database(url: str, setting: str = DB_ENV) -> None:
    """Checks once, at start-up, that the queue's database can be used (see handoff.db).

    Args:
        url: The database URL.
        setting: What the operator set it with, named in the error (``AFTERHOURS_DB_URL``,
            ``--db``).

    Raises:
        ConfigError: One line naming the setting, e.g. ``AFTERHOURS_DB_URL: cannot connect to
            PostgreSQL at 127.0.0.1:5999 (connection refused)``; never the password.
    """
    from handoff.db import DatabaseUnavailable, check_connection  # SQLAlchemy only when needed

    try:
        check_connection(url)
    except DatabaseUnavailable as error:
        raise ConfigError(f"{setting}: {error}") from None


def database_url(default_dir: str | Path | None = None) -> str:
    """The queue's SQLAlchemy URL: $AFTERHOURS_DB_URL, else SQLite in ./var/."""
    url = os.environ.get(DB_ENV)
    if url:
        return url
    folder = Path(default_dir or os.environ.get(HOME_ENV) or "var")
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'queue.db').resolve()}"
