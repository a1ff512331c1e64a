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
from pydantic import (
    BaseModel,
    Extra,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    validator,
)
from pydantic.errors import PydanticValueError

from handoff.calendar import WEEKDAY_NAMES as WEEKDAYS  # brand.yml's desk_hours keys
from handoff.calendar import BusinessCalendar

BRAND_ENV = "AFTERHOURS_BRAND"
DB_ENV = "AFTERHOURS_DB_URL"
HOME_ENV = "AFTERHOURS_HOME"

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
class Retention:
    """How many days data is kept after it ends (brand.yml `retention:`; see desk/privacy.py)."""

    conversations: int = 90  # the tracker store's events and the turn log, after the last event
    tickets: int = 90  # a resolved ticket, its transcript, CSAT, notes and labels
    inbox: int = 90  # the channels' inbox rows, their replies and deliveries
    audit_log: int = 730  # the desk's audit log (kept longer: it is the accountability record)


@dataclass(frozen=True)
class Incidents:
    """When many reports of one failure become an incident (brand.yml `incidents:`).

    An incident opens when, within `window_minutes`, more distinct customers than the brand's
    normal rate (`normal_per_hour` over the window) plus `min_reports` report the same kind of
    failure (in the same area when they name one; see handoff/incidents.py).
    """

    enabled: bool = True
    window_minutes: int = 30
    min_reports: int = 10
    normal_per_hour: float = 2.0
    update_every_minutes: int = 60  # the next update promised to each customer
    areas: tuple[str, ...] = ()  # town names, matched in the text without accents or case
    send_per_minute: Mapping[str, int] = field(default_factory=dict)  # notices, per channel

    @property
    def threshold(self) -> int:
        """Distinct customers in one window that open an incident."""
        return self.min_reports + int(self.normal_per_hour * self.window_minutes / 60 + 0.999)


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
    # Ask the customer for a 1-5 score after an agent resolves their case (bot/csat.py).
    csat: bool = True
    # How long data is kept (brand.yml `retention:`).
    retention: Retention = field(default_factory=Retention)
    # When reports of one failure become an incident (brand.yml `incidents:`).
    incidents: Incidents = field(default_factory=Incidents)

    @property
    def default_language(self) -> str:
        """The language used when a message's language is unclear."""
        return self.languages[0]

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


# -- brand.yml as pydantic models ------------------------------------------------------------------
# The models describe the file; parse_brand turns them into the Brand above (whose shape is the
# runtime's: holidays flattened, a locale for every language, region codes upper-cased). Fields are
# declared in the order the errors are reported: the first wrong setting is the one named.


class SettingError(PydanticValueError):
    """A validator's complaint about a setting: `message` follows the setting's name.

    `at` names a part below the field (``locales.pt``), so the message names the exact setting.
    """

    code = "setting"
    msg_template = "{message}"

    def __init__(self, message: str, at: Sequence[str] = ()) -> None:
        super().__init__(message=message, at=list(at))


class _Settings(BaseModel):
    class Config:
        extra = Extra.ignore  # a key the product does not know is left alone, as before
        allow_mutation = False


class _Holidays(_Settings):
    country: StrictStr
    subdivision: str | None = None  # the `holidays` package checks it (BusinessCalendar)


class _DeskHours(_Settings):
    """Opening periods per weekday; a day left out is closed."""

    class Config:
        extra = Extra.forbid  # "funday" is named as not a weekday

    monday: list[StrictStr] = []
    tuesday: list[StrictStr] = []
    wednesday: list[StrictStr] = []
    thursday: list[StrictStr] = []
    friday: list[StrictStr] = []
    saturday: list[StrictStr] = []
    sunday: list[StrictStr] = []

    @validator("*", pre=True)
    def _a_day_is_a_list(cls, value: Any) -> Any:
        if value is None:
            raise TypeError("no periods")  # reported as "must be a list like [...]"
        return value

    def given(self) -> dict[str, list[str]]:
        """The days the file names, in weekday order."""
        return {day: list(getattr(self, day)) for day in WEEKDAYS if day in self.__fields_set__}


class _Contacts(_Settings):
    phone: StrictStr
    email: StrictStr
    web_chat: StrictStr
    status_page: str | None = None
    stores: str | None = None
    phone_note: str | None = None


class _Retention(_Settings):
    conversations: StrictInt = Retention.conversations
    tickets: StrictInt = Retention.tickets
    inbox: StrictInt = Retention.inbox
    audit_log: StrictInt = Retention.audit_log

    @validator("*")
    def _days(cls, days: int) -> int:
        if days < 1:
            raise SettingError(f"must be a number of days, 1 or more, got {days!r}")
        return days


class _Incidents(_Settings):
    enabled: StrictBool = Incidents.enabled
    window_minutes: StrictInt = Incidents.window_minutes
    min_reports: StrictInt = Incidents.min_reports
    normal_per_hour: float = Incidents.normal_per_hour
    update_every_minutes: StrictInt = Incidents.update_every_minutes
    areas: list[StrictStr] = []
    send_per_minute: dict[str, StrictInt] = {}

    @validator("window_minutes", "min_reports", "update_every_minutes")
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise SettingError(f"must be a whole number, 1 or more, got {value!r}")
        return value

    @validator("normal_per_hour")
    def _rate(cls, value: float) -> float:
        if value < 0:
            raise SettingError(f"must be 0 or more (reports an hour), got {value!r}")
        return value

    @validator("send_per_minute")
    def _per_minute(cls, limits: dict[str, int]) -> dict[str, int]:
        for channel, limit in limits.items():
            if limit < 1:
                raise SettingError(f"must be 1 or more messages a minute, got {limit!r}", [channel])
        return limits


class _BrandFile(_Settings):
    """What `brand.yml` may hold, validated."""

    name: StrictStr
    handle: StrictStr
    timezone: StrictStr
    holidays: _Holidays
    desk_hours: _DeskHours
    languages: list[StrictStr]
    locales: dict[str, Any] = {}
    contacts: _Contacts
    account_number_pattern: StrictStr | None = None
    answer_in_hours: StrictBool = False
    departments: dict[str, list[StrictStr]] = {}
    phone_regions: list[Any]
    csat: StrictBool = True
    retention: _Retention = _Retention()
    incidents: _Incidents = _Incidents()

    @validator("handle")
    def _handle(cls, handle: str) -> str:
        if not HANDLE_PATTERN.match(handle):
            raise SettingError(f"must look like @Name (15 characters), got {handle!r}")
        return handle

    @validator("timezone")
    def _timezone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise SettingError(f"{timezone!r} is not an IANA time zone") from error
        return timezone

    @validator("languages")
    def _languages(cls, languages: list[str]) -> list[str]:
        if not languages or not all(LANGUAGE_PATTERN.match(x) for x in languages):
            raise SettingError(MESSAGES["languages"])
        return languages

    @validator("locales", "departments", "retention", pre=True)
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @validator("locales", always=True)
    def _locales(cls, given: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
        """A Babel locale for every language (the bare language when not given)."""
        languages = values.get("languages") or ()  # none when they were wrong (named first)
        locales = {language: str(given.get(language, language)) for language in languages}
        for language, locale in locales.items():
            try:
                Locale.parse(locale)
            except (ValueError, UnknownLocaleError) as error:
                raise SettingError(f"{locale!r} is not a locale like pt_PT", [language]) from error
        return locales

    @validator("account_number_pattern")
    def _pattern(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise SettingError(f"is not a valid regex: {error}") from error
        return pattern

    @validator("phone_regions", pre=True)
    def _regions_given(cls, regions: Any) -> Any:
        if regions is None:
            raise SettingError(MESSAGES_MISSING["phone_regions"])
        return regions

    @validator("phone_regions")
    def _phone_regions(cls, regions: list[Any]) -> list[str]:
        """The regions tried for phone numbers written without a country code.

        A wrong or empty list is refused: the numbers customers write would then go undetected
        as personal data (shown on the desk, kept in training material, posted in public replies).
        """
        import phonenumbers  # loads its metadata lazily

        if not regions:
            raise SettingError(MESSAGES["phone_regions"])
        codes: list[str] = []
        for region in regions:
            code = region.strip().upper() if isinstance(region, str) else ""
            if code not in phonenumbers.SUPPORTED_REGIONS:
                raise SettingError(
                    f"{region!r} is not a region code phonenumbers knows (ISO 3166, like PT or ES)"
                )
            codes.append(code)
        return codes


#: What a setting of the wrong type must be (by the setting's top-level name).
MESSAGES = {
    "languages": "must be a non-empty list of ISO 639-1 codes",
    "locales": "must map a language to a locale like pt_PT",
    "desk_hours": 'must be a list like ["09:00-18:00"]',
    "answer_in_hours": "must be true or false",
    "csat": "must be true or false",
    "departments": "must map a department to a list of intents",
    "phone_regions": "must be a non-empty list like [PT, ES]",
    "retention": "must map conversations, tickets, inbox and audit_log to a number of days",
    "incidents": "must map window_minutes, min_reports, normal_per_hour, update_every_minutes, "
    "areas and send_per_minute (see brand.yml)",
}

#: What is said when a setting is missing, where "is missing" alone does not help.
MESSAGES_MISSING = {
    "phone_regions": (
        "is missing: the regions tried for phone numbers written without a country code, "
        "like [PT, ES]"
    ),
}

_KINDS = {"type_error.dict": "mapping", "type_error.list": "list"}


def _value_at(raw: Any, loc: Sequence[str | int]) -> Any:
    for part in loc:
        if isinstance(raw, Mapping):
            raw = raw.get(part)
        elif isinstance(raw, list) and isinstance(part, int) and part < len(raw):
            raw = raw[part]
        else:
            return None
    return raw


def _describe(error: ValidationError, raw: Mapping[str, Any]) -> str:
    """One line naming the first wrong setting: ``brand.yml: `contacts.phone` is missing``."""
    first = error.errors()[0]
    loc = [part for part in first["loc"] if part != "__root__"]
    kind = first["type"]
    setting = [str(part) for part in loc if not isinstance(part, int)]
    value = _value_at(raw, loc)
    if kind == "value_error.setting":
        setting += first["ctx"]["at"]
        message = first["ctx"]["message"]
    elif kind == "value_error.missing" or (
        kind == "type_error.none.not_allowed" and loc[0] not in ("answer_in_hours", "csat")
    ):  # an empty value (`phone:`) is as good as none
        message = MESSAGES_MISSING.get(str(loc[0]), "is missing")
    elif kind == "value_error.extra" and loc[0] == "desk_hours":
        message = f"is not a weekday ({', '.join(WEEKDAYS)})"
    elif loc[0] == "desk_hours":
        message = MESSAGES["desk_hours"]
    elif str(loc[0]) in MESSAGES:  # the whole setting's form, then the part that is wrong
        message = MESSAGES[str(loc[0])]
        if len(setting) > 1:
            message += f"; `{'.'.join(setting)}` is {value!r}"
        setting = setting[:1]
    elif kind in _KINDS:
        message = f"must be a {_KINDS[kind]}, got {value!r}"
    else:  # a str where something else was given
        message = f"must be a str, got {value!r}"
    return f"brand.yml: `{'.'.join(setting)}` {message}"


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
    try:
        settings = _BrandFile.parse_obj(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, raw)) from None
    contacts = settings.contacts
    brand = Brand(
        name=settings.name,
        handle=settings.handle,
        timezone=settings.timezone,
        holiday_country=settings.holidays.country,
        holiday_subdivision=settings.holidays.subdivision,
        desk_hours=settings.desk_hours.given(),
        answer_in_hours=settings.answer_in_hours,
        csat=settings.csat,
        languages=list(settings.languages),
        locales=settings.locales,
        contacts=Contacts(
            phone=contacts.phone,
            email=contacts.email,
            web_chat=contacts.web_chat,
            status_page=contacts.status_page,
            stores=contacts.stores,
            phone_note=contacts.phone_note,
        ),
        account_number_pattern=settings.account_number_pattern,
        phone_regions=list(settings.phone_regions),
        departments={k: list(v) for k, v in settings.departments.items()},
        retention=Retention(**settings.retention.dict()),
        incidents=Incidents(
            **settings.incidents.dict(exclude={"areas"}), areas=tuple(settings.incidents.areas)
        ),
    )
    try:  # the periods, the holidays' country and subdivision (its errors name the setting)
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
