"""The `afterhours` command: help without TensorFlow, exit codes and its error messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AFTERHOURS = BIN / "afterhours"


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs a command with the test's environment plus `env`, never the developer's queue."""
    environment = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "AFTERHOURS_BRAND": str(REPO / "brand.yml"),
        "AFTERHOURS_DB_URL": f"sqlite:///{cwd / 'queue.db'}",
        **env,
    }
    return subprocess.run(
        args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def help_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """`afterhours --help` through the installed console script, imports timed."""
    cwd = tmp_path_factory.mktemp("help")
    return run([sys.executable, "-X", "importtime", str(AFTERHOURS), "--help"], cwd)


def test_console_script_is_installed() -> None:
    assert AFTERHOURS.is_file(), "run `make setup` (pip install -e .) to install the script"


def test_help(help_run: subprocess.CompletedProcess[str]) -> None:
    assert help_run.returncode == 0, help_run.stderr[-2000:]
    assert help_run.stdout.startswith("usage: afterhours")
    for command in ("train", "run", "replay", "demo", "queue"):
        assert command in help_run.stdout


def test_help_does_not_import_tensorflow(help_run: subprocess.CompletedProcess[str]) -> None:
    imported = [line for line in help_run.stderr.splitlines() if line.startswith("import time:")]
    assert imported, "no -X importtime output"
    assert not [line for line in imported if "tensorflow" in line]
    assert not [line for line in imported if " rasa.core" in line or " rasa.engine" in line]


def test_replay_help(tmp_path: Path) -> None:
    done = run([str(AFTERHOURS), "replay", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: afterhours replay" in done.stdout
    assert "--out" in done.stdout and "--db" in done.stdout and "--model" in done.stdout
    # The contract asks the help to say what happens without a model.
    assert "exits with code 2" in " ".join(done.stdout.split())


def test_building_the_parser_and_help_do_not_import_tensorflow(tmp_path: Path) -> None:
    code = (
        "import sys, contextlib, io, afterhours.cli\n"
        "afterhours.cli.build_parser()\n"
        "print('tensorflow' in sys.modules)\n"
        "for argv in (['--help'], ['replay', '--help'], ['queue', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            afterhours.cli.main(argv)\n"
        "        except SystemExit as exit:\n"
        "            assert exit.code == 0, (argv, exit.code)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = run([sys.executable, "-c", code], REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]


def test_plain_modules_do_not_import_tensorflow() -> None:
    """What the desk, the queue, the actions and replay's bookkeeping import, in a fresh process."""
    code = (
        "import sys\n"
        "import bot.settings, bot.inbound\n"
        "import afterhours.replay, afterhours.queue_cli, afterhours.scheduler\n"
        "import actions.handoff, actions.responses\n"
        "import rasa.shared.core.events as events\n"
        "from rasa.shared.nlu.training_data.loading import load_data\n"
        "bot.settings.load_brand('brand.yml').calendar()\n"
        "load_data('data/responses')\n"
        "turn = [events.UserUttered('hi'), events.SlotSet('triage', {})]\n"
        "afterhours.replay.triage_of_turn(turn)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    done = run([sys.executable, "-c", code], REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_replay_without_a_model(tmp_path: Path) -> None:
    (tmp_path / "night.jsonl").write_text(
        '{"id": "1", "channel": "sms", "public": false, "sender": "+351912345678", '
        '"text": "hi", "at": "2026-11-27T23:00:00+00:00"}\n',
        encoding="utf-8",
    )
    done = run([str(AFTERHOURS), "replay", "night.jsonl", "--out", "out.jsonl"], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "afterhours train" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.jsonl").exists()
    assert not (tmp_path / "models").exists()  # it never trains by itself


def test_replay_needs_an_output(tmp_path: Path) -> None:
    done = run([str(AFTERHOURS), "replay", "night.jsonl"], tmp_path)
    assert done.returncode == 2
    assert "--out" in done.stderr


def test_queue_on_an_empty_database(tmp_path: Path) -> None:
    done = run([str(AFTERHOURS), "queue"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "No waiting tickets." in done.stdout
    assert (tmp_path / "queue.db").is_file()


def test_queue_show_of_an_unknown_ticket(tmp_path: Path) -> None:
    done = run([str(AFTERHOURS), "queue", "show", "7"], tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "No ticket 7." in done.stdout


@pytest.mark.parametrize(
    ("old", "new", "setting"),
    [
        # Every setting's message is checked in test_settings; here, that the CLI reports it.
        ("timezone: Europe/Lisbon", "", "`timezone`"),
        ('friday: ["09:00-18:00"]', 'friday: ["18:00-09:00"]', "desk_hours.friday"),
    ],
)
def test_queue_with_a_wrong_setting(tmp_path: Path, old: str, new: str, setting: str) -> None:
    text = (REPO / "brand.yml").read_text(encoding="utf-8")
    assert old in text
    brand = tmp_path / "brand.yml"
    brand.write_text(text.replace(old, new), encoding="utf-8")
    done = run([str(AFTERHOURS), "queue"], tmp_path, AFTERHOURS_BRAND=str(brand))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "configuration error" in done.stderr
    assert setting in done.stderr
    assert "Traceback" not in done.stderr


def test_queue_without_a_brand_file(tmp_path: Path) -> None:
    done = run([str(AFTERHOURS), "queue"], tmp_path, AFTERHOURS_BRAND=str(tmp_path / "missing.yml"))
    assert done.returncode == 2
    assert "configuration error" in done.stderr
    assert "brand.yml not found" in done.stderr


def test_runtime_endpoints_put_the_action_port_and_a_scratch_tracker_file(tmp_path: Path) -> None:
    import yaml

    from afterhours.runner import runtime_endpoints

    source = Path(__file__).resolve().parents[1] / "endpoints.yml"
    written = runtime_endpoints(5999, source, tmp_path, tracker_db=tmp_path / "t.db")
    endpoints = yaml.safe_load(written.read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["url"] == "http://127.0.0.1:5999/webhook"
    assert endpoints["tracker_store"]["db"] == str(tmp_path / "t.db")
    assert endpoints["lock_store"] == {"type": "in_memory"}
    # Without a scratch file the shipped one stays.
    plain = yaml.safe_load(runtime_endpoints(5999, source, tmp_path / "p").read_text("utf-8"))
    assert plain["tracker_store"]["db"] == "var/trackers.db"


def test_a_rasa_server_alone_refuses_to_start_without_the_shared_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from afterhours.cli import main

    monkeypatch.delenv("AFTERHOURS_RASA_TOKEN", raising=False)
    assert main(["rasa-server", "--endpoints", "deploy/endpoints.scaled.yml"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("configuration error: AFTERHOURS_RASA_TOKEN")
