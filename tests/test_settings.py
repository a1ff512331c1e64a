"""bot.settings: brand.yml validation (every error names its setting) and runtime settings."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import (
    BRAND_ENV,
    DB_ENV,
    HOME_ENV,
    Brand,
    ConfigError,
    brand_path,
    database_url,
    load_brand,
    parse_brand,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "brand.yml"

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The shipped brand.yml as Python objects (deep-copied per case)."""
    with open(SHIPPED, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _broken(raw: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    value = copy.deepcopy(raw)
    change(value)
    return value


def test_shipped_brand_parses() -> None:
    brand = load_brand(SHIPPED)
    assert isinstance(brand, Brand)
    assert brand.name == "Aurora Telecom"
    assert brand.handle == "@AuroraCare"
    assert brand.timezone == "Europe/Lisbon"
    assert brand.holiday_country == "PT"
    assert brand.holiday_subdivision is None
    assert brand.desk_hours["monday"] == ["09:00-18:00"]
    assert brand.desk_hours["saturday"] == ["10:00-14:00"]
    assert "sunday" not in brand.desk_hours
    assert brand.answer_in_hours is False
    assert brand.languages == ["en", "pt", "es", "it"]
    assert brand.default_language == "en"
    assert dict(brand.locales) == {"en": "en_GB", "pt": "pt_PT", "es": "es_ES", "it": "it_IT"}
    assert brand.contacts.phone == "+351 210 000 000"
    assert brand.contacts.email == "help@aurora.example"
    assert brand.contacts.phone_note == "24 h for faults"
    assert brand.account_number_pattern == r"\bAUR-?\d{8}\b"
    assert brand.phone_regions == ["PT", "ES", "IT", "GB", "BR"]
    assert "account_request" in brand.departments["billing"]
    assert "faq/roaming" in brand.departments["technical"]


def test_shipped_brand_calendar_is_the_demo_desk() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    calendar = load_brand(SHIPPED).calendar()
    lisbon = ZoneInfo("Europe/Lisbon")
    assert calendar.is_open(dt.datetime(2026, 11, 27, 17, 59, tzinfo=lisbon))
    assert not calendar.is_open(dt.datetime(2026, 11, 27, 18, 0, tzinfo=lisbon))
    assert not calendar.is_open(dt.datetime(2026, 11, 29, 12, 0, tzinfo=lisbon))  # Sunday
    assert not calendar.is_open(dt.datetime(2026, 12, 1, 12, 0, tzinfo=lisbon))  # holiday


def test_load_brand_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BRAND_ENV, str(SHIPPED))
    assert brand_path() == SHIPPED
    assert load_brand().name == "Aurora Telecom"


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        (lambda r: r.pop("name"), "`name`"),
        (lambda r: r.update(name=None), "`name`"),
        (lambda r: r.update(name=42), "`name`"),
        (lambda r: r.pop("handle"), "`handle`"),
        (lambda r: r.update(handle="AuroraCare"), "`handle`"),
        (lambda r: r.update(handle="@Aurora Care"), "`handle`"),
        (lambda r: r.update(handle="@" + "a" * 16), "`handle`"),
        (lambda r: r.pop("timezone"), "`timezone`"),
        (lambda r: r.update(timezone="Mars/Olympus_Mons"), "`timezone`"),
        (lambda r: r.pop("holidays"), "`holidays`"),
        (lambda r: r.update(holidays="PT"), "`holidays`"),
        (lambda r: r["holidays"].pop("country"), "`holidays.country`"),
        (lambda r: r["holidays"].update(country=351), "`holidays.country`"),
        (lambda r: r["holidays"].update(country="XX"), "holidays.country"),
        (lambda r: r["holidays"].update(subdivision="99"), "holidays.subdivision"),
        (lambda r: r.pop("desk_hours"), "`desk_hours`"),
        (lambda r: r["desk_hours"].update(friday=["25:00-18:00"]), "desk_hours.friday"),
        (lambda r: r["desk_hours"].update(friday=["18:00-09:00"]), "desk_hours.friday"),
        (lambda r: r["desk_hours"].update(friday=["09:00-09:00"]), "desk_hours.friday"),
        (lambda r: r["desk_hours"].update(friday=["9-18"]), "desk_hours.friday"),
        (lambda r: r["desk_hours"].update(friday=["09:61-18:00"]), "desk_hours.friday"),
        (lambda r: r["desk_hours"].update(friday="09:00-18:00"), "desk_hours.friday"),
        (lambda r: r["desk_hours"].update(saturday=[10]), "desk_hours.saturday"),
        (lambda r: r["desk_hours"].update(funday=["09:00-18:00"]), "desk_hours.funday"),
        (lambda r: r.update(desk_hours={}), "desk_hours"),
        (lambda r: r.pop("languages"), "`languages`"),
        (lambda r: r.update(languages=[]), "`languages`"),
        (lambda r: r.update(languages="en"), "`languages`"),
        (lambda r: r.update(languages=["en", "english"]), "`languages`"),
        (lambda r: r.update(languages=["EN"]), "`languages`"),
        (lambda r: r.update(locales=["en_GB"]), "`locales`"),
        (lambda r: r.pop("contacts"), "`contacts`"),
        (lambda r: r["contacts"].pop("phone"), "`contacts.phone`"),
        (lambda r: r["contacts"].update(phone=210000000), "`contacts.phone`"),
        (lambda r: r["contacts"].pop("email"), "`contacts.email`"),
        (lambda r: r["contacts"].pop("web_chat"), "`contacts.web_chat`"),
        (lambda r: r.update(account_number_pattern=r"\bAUR-?(\d{8}\b"), "`account_number_pattern`"),
        (lambda r: r.update(account_number_pattern="[unclosed"), "`account_number_pattern`"),
        (lambda r: r.update(account_number_pattern=8), "`account_number_pattern`"),
        (lambda r: r.update(answer_in_hours="sometimes"), "`answer_in_hours`"),
        (lambda r: r.update(answer_in_hours=1), "`answer_in_hours`"),
        (lambda r: r.update(departments=["billing", "technical"]), "`departments`"),
        (lambda r: r.update(departments={"billing": "account_request"}), "`departments`"),
        (lambda r: r.update(phone_regions="PT"), "`phone_regions`"),
        (lambda r: r.update(phone_regions=["XX"]), "`phone_regions`"),
        (lambda r: r.update(phone_regions=[]), "`phone_regions`"),
        (lambda r: r.update(phone_regions=["Portugal"]), "`phone_regions`"),
        (lambda r: r.update(phone_regions=["PT", "UK"]), "`phone_regions`"),  # GB is the code
        (lambda r: r.update(phone_regions=[351]), "`phone_regions`"),
        (lambda r: r.update(phone_regions=None), "`phone_regions`"),
        (lambda r: r.pop("phone_regions"), "`phone_regions`"),
    ],
)
def test_a_wrong_setting_is_named(
    raw: dict[str, Any], change: Callable[[dict[str, Any]], Any], setting: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_brand(_broken(raw, change))
    assert setting in str(caught.value)
    assert str(caught.value).startswith("brand.yml")


@pytest.mark.parametrize("document", [None, [], "just a string", 42])
def test_a_document_that_is_not_a_mapping_is_refused(document: Any) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        parse_brand(document)


def test_optional_settings_have_defaults(raw: dict[str, Any]) -> None:
    def strip(r: dict[str, Any]) -> None:
        for key in (
            "answer_in_hours",
            "locales",
            "account_number_pattern",
            "departments",
        ):
            r.pop(key)
        for key in ("status_page", "stores", "phone_note"):
            r["contacts"].pop(key)

    brand = parse_brand(_broken(raw, strip))
    assert brand.answer_in_hours is False
    assert dict(brand.locales) == {"en": "en", "pt": "pt", "es": "es", "it": "it"}
    assert brand.account_number_pattern is None
    assert dict(brand.departments) == {}
    assert brand.contacts.status_page is None


def test_a_day_with_no_periods_is_closed(raw: dict[str, Any]) -> None:
    brand = parse_brand(_broken(raw, lambda r: r["desk_hours"].update(saturday=[], sunday=[])))
    assert brand.desk_hours["saturday"] == []


def test_midnight_may_end_a_period(raw: dict[str, Any]) -> None:
    brand = parse_brand(_broken(raw, lambda r: r["desk_hours"].update(friday=["18:00-24:00"])))
    assert brand.desk_hours["friday"] == ["18:00-24:00"]


def test_answer_in_hours_true(raw: dict[str, Any]) -> None:
    assert parse_brand(_broken(raw, lambda r: r.update(answer_in_hours=True))).answer_in_hours


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "brand.yml"
    with pytest.raises(ConfigError, match="brand.yml not found") as caught:
        load_brand(missing)
    assert BRAND_ENV in str(caught.value)
    # Without an argument or the variable, ./brand.yml is looked for.
    monkeypatch.delenv(BRAND_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_brand()


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "brand.yml"
    path.write_text("name: Aurora\nhandle: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_brand(path)


def test_load_brand_reports_a_wrong_setting_in_a_file(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace('"+351 210 000 000"', "")
    path = tmp_path / "brand.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"`contacts\.phone` is missing"):
        load_brand(path)


def test_load_brand_rereads_a_changed_file(tmp_path: Path) -> None:
    import os

    path = tmp_path / "brand.yml"
    text = SHIPPED.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    assert load_brand(path).name == "Aurora Telecom"
    path.write_text(text.replace("name: Aurora Telecom", "name: Boreal Telecom"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert load_brand(path).name == "Boreal Telecom"


@pytest.mark.parametrize(
    ("language", "hint", "expected"),
    [
        ("pt", None, "pt_PT"),
        ("en", None, "en_GB"),
        ("es", None, "es_ES"),
        ("it", None, "it_IT"),
        ("pt", "pt_BR", "pt_BR"),  # a Brazilian customer keeps Brazilian dates
        ("en", "en_US", "en_US"),
        ("pt", "es_ES", "pt_PT"),  # a hint for another language is ignored
        ("pt", "", "pt_PT"),
        ("de", None, "de"),  # not configured: the bare language
    ],
)
def test_locale_for(language: str, hint: str | None, expected: str) -> None:
    assert load_brand(SHIPPED).locale_for(language, hint) == expected


def test_database_url_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.delenv(HOME_ENV, raising=False)
    folder = tmp_path / "state"
    url = database_url(folder)
    assert url == f"sqlite:///{(folder / 'queue.db').resolve()}"
    assert folder.is_dir()


def test_database_url_default_is_var_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.delenv(HOME_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert database_url() == f"sqlite:///{(tmp_path / 'var' / 'queue.db').resolve()}"
    assert (tmp_path / "var").is_dir()


def test_database_url_home_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    assert database_url() == f"sqlite:///{(tmp_path / 'home' / 'queue.db').resolve()}"


def test_database_url_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DB_ENV, "postgresql://desk@db.example/queue")
    monkeypatch.chdir(tmp_path)
    assert database_url() == "postgresql://desk@db.example/queue"
    assert database_url(tmp_path / "ignored") == "postgresql://desk@db.example/queue"
    assert not (tmp_path / "var").exists()
    assert not (tmp_path / "ignored").exists()


def test_a_locale_babel_does_not_know_is_named(raw: dict[str, Any]) -> None:
    broken = _broken(raw, lambda value: value["locales"].__setitem__("pt", "pt-XX"))
    with pytest.raises(ConfigError, match=r"locales\.pt"):
        parse_brand(broken)


def test_phone_regions_are_phonenumbers_regions(raw: dict[str, Any]) -> None:
    import phonenumbers

    brand = parse_brand(_broken(raw, lambda r: r.update(phone_regions=["pt", " es", "GB"])))
    assert brand.phone_regions == ["PT", "ES", "GB"]
    assert set(brand.phone_regions) <= phonenumbers.SUPPORTED_REGIONS


def test_an_unknown_region_is_refused_naming_it(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_brand(_broken(raw, lambda r: r.update(phone_regions=["PT", "XX"])))
    assert "`phone_regions`" in str(caught.value) and "'XX'" in str(caught.value)
    assert "\n" not in str(caught.value)


# -- the database, checked once before anything starts -------------------------------------

PASSWORD = "pw-never-shown-4417"


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def _check(url: str, setting: str = DB_ENV) -> str:
    from bot.settings import check_database

    with pytest.raises(ConfigError) as caught:
        check_database(url, setting)
    message = str(caught.value)
    assert message.startswith(f"{setting}: ") and "\n" not in message
    assert PASSWORD not in message
    return message


def test_a_closed_port_names_the_setting_host_and_port() -> None:
    port = _closed_port()
    message = _check(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/test")
    assert message == (
        f"{DB_ENV}: cannot connect to PostgreSQL at 127.0.0.1:{port} (connection refused)"
    )


def test_an_unknown_role_or_database_is_named_and_a_good_server_passes() -> None:
    from sqlalchemy.engine import make_url

    from bot.settings import check_database
    from tests.postgres import postgres_schema

    with postgres_schema("settings_check") as good:
        check_database(good)  # reachable: no error
        server = make_url(good)
        where = f"{server.host}:{server.port or 5432}"
        role = server.set(username="nobody_here", password=PASSWORD)
        message = _check(role.render_as_string(hide_password=False))
        assert message.endswith(f'at {where} (role "nobody_here" does not exist)')
        database = server.set(database="no_such_db_4417")
        message = _check(database.render_as_string(hide_password=False), "--db")
        assert message.endswith(f'at {where} (database "no_such_db_4417" does not exist)')


@pytest.mark.parametrize(
    "url, expected",
    [
        (f"mysql://root:{PASSWORD}@127.0.0.1/queue", "unsupported database 'mysql'"),
        (f"oracle://u:{PASSWORD}@h/db", "unsupported database 'oracle'"),
        (f"postgresql+asyncpg://u:{PASSWORD}@h/db", "asyncio driver"),
        (f"postgres ql://u:{PASSWORD}@h/db", "not a database URL"),
        ("sqlite:////no/such/folder/queue.db", "does not exist"),
    ],
)
def test_an_unusable_url_is_refused_in_one_line(url: str, expected: str) -> None:
    assert expected in _check(url)


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("not a database " * 100, encoding="utf-8")
    assert "is not a database" in _check(f"sqlite:///{other}")
    assert other.read_text(encoding="utf-8").startswith("not a database")


def test_usable_databases_pass_and_nothing_is_created(tmp_path: Path) -> None:
    from bot.settings import check_database

    check_database(f"sqlite:///{tmp_path / 'queue.db'}")
    assert not (tmp_path / "queue.db").exists()
    check_database("sqlite://")
