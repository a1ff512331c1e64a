"""`afterhours run` starts only the channels whose secrets are set (the credentials part)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.settings import ConfigError

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")
ROOT = Path(__file__).resolve().parents[2]


def test_a_partly_configured_channel_stops_run_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from afterhours.runner import run_all

    shutil.copy(ROOT / "credentials.yml", tmp_path / "credentials.yml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFTERHOURS_BRAND", str(ROOT / "brand.yml"))
    monkeypatch.setenv("AFTERHOURS_DB_URL", f"sqlite:///{tmp_path / 'queue.db'}")
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        run_all()
    assert not (tmp_path / "queue.db").exists()  # nothing started
    assert not (tmp_path / "var" / "credentials.runtime.yml").exists()
