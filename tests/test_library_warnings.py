"""Third-party deprecation notices stay off the product's terminal; the project's own do not.

See bot/library_warnings.py: the entry points (``afterhours``, the action server, the desk server)
silence deprecation warnings attributed to other packages, even after Sanic and Rasa put their own
``"once"`` filters in front.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.library_warnings import is_library_notice, is_project_file

REPO = Path(__file__).resolve().parents[1]
AFTERHOURS = Path(sys.executable).parent / "afterhours"
NOTICES = ("DeprecationWarning", "FutureWarning")

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


def _environ(tmp_path: Path) -> dict[str, str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AFTERHOURS_", "PYTHONWARNINGS"))
    }
    environ.update(
        AFTERHOURS_BRAND=str(REPO / "brand.yml"),
        AFTERHOURS_HOME=str(tmp_path / "var"),
        RASA_TELEMETRY_ENABLED="false",
    )
    return environ


@pytest.mark.parametrize("argv", [["--help"], ["queue", "list"]])
def test_the_command_prints_no_library_deprecation_warnings(
    tmp_path: Path, argv: list[str]
) -> None:
    done = subprocess.run(
        [str(AFTERHOURS), *argv],
        cwd=tmp_path,
        env=_environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if any(n in line for n in NOTICES)]


# Sanic's app.py installs filterwarnings("once", DeprecationWarning) when imported, in front of
# any filter set before; sanic_cors then warns about distutils' LooseVersion. After that, a
# deprecation warning raised from the project's own code must still be shown.
SCRIPT = """
import warnings
from bot.library_warnings import silence_library_warnings
silence_library_warnings()
import sanic_cors  # DeprecationWarning from sanic_cors/extension.py, after Sanic's "once"
warnings.warn_explicit(
    "ours is going away", DeprecationWarning, {ours!r}, 1, module="afterhours.cli"
)
warnings.warn_explicit(
    "theirs is going away", FutureWarning, {theirs!r}, 1, module="pandas.core"
)
warnings.warn("a user warning of the project's", UserWarning)
"""


def test_library_notices_are_hidden_and_the_projects_own_are_shown(tmp_path: Path) -> None:
    script = SCRIPT.format(
        ours=str(REPO / "bot" / "cli.py"), theirs=str(tmp_path / "site-packages" / "pandas.py")
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=_environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "distutils Version classes are deprecated" not in done.stderr
    assert "theirs is going away" not in done.stderr
    assert "DeprecationWarning: ours is going away" in done.stderr
    assert "UserWarning: a user warning of the project's" in done.stderr


@pytest.mark.parametrize(
    ("message", "category", "filename", "hidden"),
    [
        ("old", DeprecationWarning, "/venv/site-packages/sqlalchemy/orm/x.py", True),
        ("old", PendingDeprecationWarning, "/venv/site-packages/tensorflow/x.py", True),
        ("old", FutureWarning, "/venv/site-packages/transformers/x.py", True),
        ("old", DeprecationWarning, "<frozen importlib._bootstrap>", True),
        ("Slot auto-fill has been removed in 3.0 and ...", UserWarning, "/v/rasa/x.py", True),
        ("something else", UserWarning, "/venv/site-packages/rasa/x.py", False),
        ("bad data", RuntimeWarning, "/venv/site-packages/numpy/x.py", False),
        ("old", DeprecationWarning, str(REPO / "bot" / "cli.py"), False),
        ("old", FutureWarning, str(REPO / "desk" / "server.py"), False),
        ("old", DeprecationWarning, str(REPO / "actions" / "handoff.py"), False),
        ("old", DeprecationWarning, str(REPO / "handoff" / "queue.py"), False),
    ],
)
def test_what_counts_as_a_library_notice(
    message: str, category: type[Warning], filename: str, hidden: bool
) -> None:
    assert is_library_notice(message, category, filename) is hidden


def test_project_files_are_recognised() -> None:
    assert is_project_file(str(REPO / "bot" / "library_warnings.py"))
    assert not is_project_file(str(REPO / "tests" / "conftest.py"))
    assert not is_project_file("<string>")
