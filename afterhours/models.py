"""The trained models the commands run with: ``models/*.tar.gz``, the newest by default.

``afterhours run``, ``replay``, ``demo`` and the benchmarks take ``--model``; without it they use
:func:`newest_model`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["NoModelError", "newest_model"]


class NoModelError(RuntimeError):
    """There is no trained model to run with."""


def newest_model(models_dir: str | Path = "models") -> Path:
    """The newest ``*.tar.gz`` in ``models_dir``.

    Args:
        models_dir: Where ``afterhours train`` writes models.

    Returns:
        The path of the most recently written model.

    Raises:
        NoModelError: with the command that trains one.
    """
    folder = Path(models_dir)
    candidates = (
        sorted(folder.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    )
    if not candidates:
        raise NoModelError(
            f"No trained model in {folder.resolve()}/. Train one first: afterhours train"
        )
    return candidates[-1]
