"""The action server: rasa_sdk's, listening on loopback unless configured otherwise.

rasa_sdk listens on every interface unless ``SANIC_HOST`` says otherwise; whoever reaches it can
run the custom actions (open tickets, read transcripts), so it listens on
``$AFTERHOURS_ACTION_HOST`` (default 127.0.0.1). Run as ``python -m bot.action_server`` with
rasa_sdk's own arguments (``--actions actions --port 5055``).
"""

from __future__ import annotations

import os

ACTION_HOST_ENV = "AFTERHOURS_ACTION_HOST"


def main() -> None:
    """Starts rasa_sdk's server on the configured host."""
    from bot.library_warnings import silence_library_warnings

    silence_library_warnings()  # before rasa_sdk (and Sanic, the actions' imports) load
    os.environ["SANIC_HOST"] = os.environ.get(ACTION_HOST_ENV) or "127.0.0.1"
    from rasa_sdk.__main__ import main as rasa_sdk_main

    rasa_sdk_main()


if __name__ == "__main__":
    main()
