"""``rasa`` as the product starts it: Rasa's own command line, library notices silenced first.

``python -m bot.rasa_server run --model ...`` is exactly ``python -m rasa run --model ...``, minus
the deprecation notices of the libraries Rasa pins (see :mod:`bot.library_warnings`), plus the
Prometheus metrics of ``run`` on 127.0.0.1:``$AFTERHOURS_RASA_METRICS_PORT`` (default 9105; ``0``
turns them off; see :mod:`bot.metrics`).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Silences the libraries' deprecation notices, then runs Rasa's command line."""
    from bot.library_warnings import silence_library_warnings

    silence_library_warnings()
    if sys.argv[1:2] == ["run"]:
        from bot import metrics

        metrics.instrument_rasa()
        metrics.serve(
            metrics.RASA_METRICS_PORT_ENV,
            metrics.DEFAULT_RASA_METRICS_PORT,
            workers=metrics.sanic_workers("SANIC_WORKERS"),
        )
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
