"""Keeps other packages' deprecation notices off the product's terminal.

Rasa 3.6 pins old SQLAlchemy, TensorFlow, Sanic, matplotlib and pyparsing, and each of them tells
the user about APIs that are going away: 15 lines before ``afterhours demo`` shows anything. Those
notices are for the libraries' maintainers, not for whoever runs the product. The entry points
(``afterhours``, ``python -m bot.action_server``, ``python -m desk.server``) call
:func:`silence_library_warnings` first.

Only deprecation categories are silenced (plus Rasa's one unconditional "slot auto-fill" notice),
and only when the warning is attributed to code outside the project: a warning raised by ``bot``,
``actions``, ``handoff`` or ``desk`` is always shown.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, TextIO

#: The project's own packages: their warnings are never silenced.
PROJECT_PACKAGES = ("bot", "actions", "handoff", "desk")

#: A module name that is not one of the project's packages (or below one), for ``warnings``
#: filters, which match it against the module the warning is attributed to (after stacklevel).
THIRD_PARTY_MODULE = r"(?!(?:" + "|".join(PROJECT_PACKAGES) + r")(?:\.|$))"

#: What the libraries announce as going away (SQLAlchemy's MovedIn20Warning, pyparsing's and
#: jax's warnings are DeprecationWarnings).
DEPRECATION_CATEGORIES: tuple[type[Warning], ...] = (
    DeprecationWarning,
    PendingDeprecationWarning,
    FutureWarning,
)

#: Rasa raises this UserWarning every time it validates a domain, whatever the domain says
#: (``rasa.shared.core.slot_mappings.validate_slot_mappings``): a notice about Rasa 2 -> 3.
RASA_SLOT_NOTICE = "Slot auto-fill has been removed in 3.0"

_PROJECT_ROOTS = tuple(Path(__file__).resolve().parents[1] / name for name in PROJECT_PACKAGES)


def is_project_file(filename: str) -> bool:
    """Whether a warning's file is part of the project (``bot/``, ``actions/``, ...)."""
    if filename.startswith("<"):  # "<frozen importlib._bootstrap>", "<string>"
        return False
    path = Path(filename).resolve()
    return any(path.is_relative_to(root) for root in _PROJECT_ROOTS)


def is_library_notice(message: Warning | str, category: type[Warning], filename: str) -> bool:
    """Whether a warning is a third-party deprecation notice the product's user need not see."""
    if is_project_file(filename):
        return False
    if issubclass(category, DEPRECATION_CATEGORIES):
        return True
    return issubclass(category, UserWarning) and str(message).startswith(RASA_SLOT_NOTICE)


def silence_library_warnings() -> None:
    """Hides third-party deprecation warnings in this process; the project's own stay visible.

    Two layers, because filters alone do not hold: Sanic's ``app.py`` and Rasa's logging set-up
    put ``"once"`` filters for whole categories in front of any filter installed earlier. So
    filters by module catch what is raised before those imports, and a guard on
    ``warnings.showwarning`` drops, by the file the warning is attributed to, what still gets
    through. ``PYTHONWARNINGS`` cannot express "any module but ours" (``-W`` matches a module
    literally), so every entry point calls this itself.
    """
    for category in DEPRECATION_CATEGORIES:
        warnings.filterwarnings("ignore", category=category, module=THIRD_PARTY_MODULE)
    warnings.filterwarnings(
        "ignore", message=RASA_SLOT_NOTICE, category=UserWarning, module=r"rasa\."
    )
    shown = warnings.showwarning
    if getattr(shown, "_afterhours_guard", False):
        return  # installed already (main() called twice in one process, as in tests)

    def guarded(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not is_library_notice(message, category, filename):
            shown(message, category, filename, lineno, file, line)

    guard: Any = guarded
    guard._afterhours_guard = True
    warnings.showwarning = guard
