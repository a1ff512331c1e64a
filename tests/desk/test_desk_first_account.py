"""`afterhours desk first-account` (run by `make up`): the first supervisor, never a default one."""

from __future__ import annotations

from pathlib import Path

import pytest

from afterhours.cli import main
from desk.cli import _store


def test_on_a_terminal_it_creates_the_first_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'q.db'}"
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt: "Marta")
    monkeypatch.setattr("getpass.getpass", lambda _prompt: "a long enough secret")
    assert main(["desk", "first-account", "--db", db]) == 0
    assert "created supervisor marta" in capsys.readouterr().out
    # Once there is an account it asks nothing.
    monkeypatch.setattr("builtins.input", lambda _prompt: pytest.fail("asked again"))
    assert main(["desk", "first-account", "--db", db]) == 0
    store = _store(db)
    assert [(a.username, a.role) for a in store.agents()] == [("marta", "supervisor")]
    store.engine.dispose()


def test_elsewhere_it_says_how_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'q.db'}"
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["desk", "first-account", "--db", db]) == 0
    assert "afterhours desk add-agent NAME --role supervisor" in capsys.readouterr().out
    store = _store(db)
    assert store.agents() == []
    store.engine.dispose()
