"""The action server: rasa_sdk's, listening on loopback unless configured otherwise.

rasa_sdk listens on every interface unless ``SANIC_HOST`` says otherwise; whoever reaches it can
run the custom actions (open tickets, read transcripts), so it listens on
``$AFTERHOURS_ACTION_HOST`` (default 127.0.0.1). Run as ``python -m bot.action_server`` with
rasa_sdk's own arguments (``--actions actions --port 5055``).

Its Prometheus metrics (action latency, handoffs opened, waiting and overdue tickets) are served
on 127.0.0.1:``$AFTERHOURS_ACTION_METRICS_PORT`` (default 9106; ``0`` turns them off; see
:mod:`bot.metrics`).
"""

from __future__ import annotations

import os

ACTION_HOST_ENV = "AFTERHOURS_ACTION_HOST"


def start_metrics() -> int | None:
    """Counts the actions (a rasa_sdk plugin), the queue's tickets, and serves ``/metrics``."""
    from rasa_sdk.constants import ENV_SANIC_WORKERS
    from rasa_sdk.plugin import plugin_manager

    from bot import metrics

    plugin_manager().register(metrics.action_server_plugin())
    metrics.register_once(metrics.QueueGauges(metrics.queue_summary()))
    return metrics.serve(
        metrics.ACTION_METRICS_PORT_ENV,
        metrics.DEFAULT_ACTION_METRICS_PORT,
        workers=metrics.sanic_workers(ENV_SANIC_WORKERS),
    )


def main() -> None:
    """Starts rasa_sdk's server on the configured host."""
    from bot.library_warnings import silence_library_warnings

    silence_library_warnings()  # before rasa_sdk (and Sanic, the actions' imports) load
    os.environ["SANIC_HOST"] = os.environ.get(ACTION_HOST_ENV) or "127.0.0.1"
    start_metrics()
    from rasa_sdk.__main__ import main as rasa_sdk_main

    rasa_sdk_main()


if __name__ == "__main__":
    main()
