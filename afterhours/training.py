"""Training the shipped model with Rasa's own trainer."""

from __future__ import annotations

import logging
import time
from pathlib import Path

# What `rasa train` reads; data/demo holds replay files, not training data.
TRAINING_PATHS = ("data/nlu", "data/responses", "data/rules", "data/stories")


def train_model(
    out: Path = Path("models"),
    fixed_name: str | None = None,
    force: bool = False,
    config: str = "config.yml",
    domain: str = "domain.yml",
) -> Path:
    """Trains NLU and dialogue into `out` and returns the model file.

    Raises:
        RuntimeError: Rasa reported a failed training.
    """
    from rasa.model_training import train
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)

    started = time.perf_counter()
    paths = [p for p in TRAINING_PATHS if Path(p).exists()]
    result = train(
        domain=domain,
        config=config,
        training_files=paths,
        output=str(out),
        force_training=force,
        fixed_model_name=fixed_name,
    )
    if result.code != 0 or not result.model:
        raise RuntimeError(f"training failed (Rasa exit code {result.code})")
    print(f"trained in {time.perf_counter() - started:.1f} s")
    return Path(result.model)
