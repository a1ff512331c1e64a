"""Every setting is checked before anything starts: one line naming it, exit code 2.

Through ``afterhours.cli.main`` (and once through a real process): a brand.yml ``phone_regions``
phonenumbers does not know, a live channel's wrong value, and an ``AFTERHOURS_DB_URL`` (or
``--db``) that cannot be used — a closed port, an unknown role, an unsupported dialect — for
``run``, ``replay --db``, ``queue`` and ``desk``. The database's password is never printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from afterhours.cli import main

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "pw-never-shown-8812"

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the shipped brand and credentials, and no channel secrets set."""
    shutil.copy(REPO / "brand.yml", tmp_path / "brand.yml")
    shutil.copy(REPO / "credentials.yml", tmp_path / "credentials.yml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFTERHOURS_BRAND", str(tmp_path / "brand.yml"))
    monkeypatch.setenv("AFTERHOURS_DB_URL", f"sqlite:///{tmp_path / 'queue.db'}")
    for name in os.environ:
        if name.startswith(("TELEGRAM_", "TWILIO_", "X_")):
            monkeypatch.delenv(name)
    return tmp_path


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Runs the command; it must exit 2 and say one line; returns that line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("configuration error: ")
    assert PASSWORD not in captured.out + captured.err
    return lines[0]


# -- brand.yml: phone_regions ---------------------------------------------------------------------


@pytest.mark.parametrize("regions", [["XX"], [], ["Portugal"]])
@pytest.mark.parametrize("argv", [["run"], ["queue", "list"]])
def test_unknown_phone_regions_stop_the_command(
    workdir: Path, capsys: pytest.CaptureFixture[str], regions: list[str], argv: list[str]
) -> None:
    brand = yaml.safe_load((workdir / "brand.yml").read_text(encoding="utf-8"))
    brand["phone_regions"] = regions
    (workdir / "brand.yml").write_text(yaml.safe_dump(brand), encoding="utf-8")
    line = one_line_error(capsys, argv)
    assert "`phone_regions`" in line
    if argv == ["run"]:
        assert not (workdir / "var" / "credentials.runtime.yml").exists()


# -- channel values ---------------------------------------------------------------------

TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "twilio-auth-token-value",
    "TWILIO_FROM_NUMBER": "+351210000001",
}


@pytest.mark.parametrize(
    "environ, variable",
    [
        ({"TELEGRAM_BOT_TOKEN": "12345:too-short"}, "TELEGRAM_BOT_TOKEN"),
        ({**TWILIO, "TWILIO_FROM_NUMBER": "210000001"}, "TWILIO_FROM_NUMBER"),
        ({**TWILIO, "TWILIO_ACCOUNT_SID": "my-account"}, "TWILIO_ACCOUNT_SID"),
        (
            {
                "X_BEARER_TOKEN": "bearer-value",
                "X_CONSUMER_KEY": "key-value",
                "X_CONSUMER_SECRET": "secret-value",
                "X_ACCESS_TOKEN": "1-access-value",
                "X_ACCESS_TOKEN_SECRET": "access-secret-value",
                "X_USER_ID": "AuroraCare",
            },
            "X_USER_ID",
        ),
    ],
)
def test_a_bad_channel_value_stops_run_before_any_server_starts(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    variable: str,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    line = one_line_error(capsys, ["run"])
    assert variable in line and environ[variable] not in line
    # Checked before the queue, the action server and the desk: nothing was created.
    assert not (workdir / "queue.db").exists()
    assert not (workdir / "var" / "credentials.runtime.yml").exists()


# -- the database ---------------------------------------------------------------------


def refused_url() -> tuple[str, str]:
    port = closed_port()
    expected = f"cannot connect to PostgreSQL at 127.0.0.1:{port} (connection refused)"
    return f"postgresql://afterhours:{PASSWORD}@127.0.0.1:{port}/queue", expected


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["queue", "list"],
        ["queue", "show", "1"],
        ["queue", "show", "1", "--reveal"],
        ["desk", "unlock", "ana"],
        ["desk", "add-agent", "ana", "--password-stdin"],
        ["export-training", "out"],
    ],
)
def test_a_closed_database_port_is_one_line_naming_the_setting(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    url, expected = refused_url()
    monkeypatch.setenv("AFTERHOURS_DB_URL", url)
    assert one_line_error(capsys, argv) == f"configuration error: AFTERHOURS_DB_URL: {expected}"
    assert not (workdir / "var").exists()  # checked before anything else


@pytest.mark.parametrize("command", ["replay", "queue", "desk"])
def test_a_bad_db_option_is_named_as_the_option(
    workdir: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    url, expected = refused_url()
    argv = {
        "replay": ["replay", "in.jsonl", "--out", "out.jsonl", "--db", url],
        "queue": ["queue", "--db", url, "list"],
        "desk": ["desk", "unlock", "ana", "--db", url],
    }[command]
    assert one_line_error(capsys, argv) == f"configuration error: --db: {expected}"


@pytest.mark.parametrize(
    "url, words",
    [
        (f"mysql://root:{PASSWORD}@127.0.0.1:3306/queue", "unsupported database 'mysql'"),
        (f"mssql+pyodbc://sa:{PASSWORD}@127.0.0.1/queue", "unsupported database 'mssql'"),
        (f"postgresql://afterhours:{PASSWORD}@", "cannot connect to PostgreSQL at localhost:5432"),
        (f"//afterhours:{PASSWORD}@127.0.0.1/queue", "not a database URL"),
    ],
)
def test_an_unusable_database_url_is_one_line(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    words: str,
) -> None:
    monkeypatch.setenv("AFTERHOURS_DB_URL", url)
    line = one_line_error(capsys, ["queue", "list"])
    assert line.startswith("configuration error: AFTERHOURS_DB_URL: ") and words in line


def test_an_unknown_role_is_named(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.engine import make_url

    from tests.postgres import postgres_schema

    with postgres_schema("config_errors") as good:
        server = make_url(good)
        bad = server.set(username="no_such_role_8812", password=PASSWORD)
        monkeypatch.setenv("AFTERHOURS_DB_URL", bad.render_as_string(hide_password=False))
        line = one_line_error(capsys, ["run"])
    assert line == (
        "configuration error: AFTERHOURS_DB_URL: cannot connect to PostgreSQL at "
        f'{server.host}:{server.port or 5432} (role "no_such_role_8812" does not exist)'
    )


def test_the_console_script_says_one_line_and_exits_2(workdir: Path) -> None:
    url, expected = refused_url()
    environ = dict(os.environ, AFTERHOURS_DB_URL=url, RASA_TELEMETRY_ENABLED="false")
    done = subprocess.run(
        [sys.executable, "-m", "afterhours.cli", "queue", "list"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == f"configuration error: AFTERHOURS_DB_URL: {expected}"
    assert PASSWORD not in done.stderr
