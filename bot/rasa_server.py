"""``rasa`` as the product starts it: Rasa's own command line, library notices silenced first.

``python -m bot.rasa_server run --model ...`` is exactly ``python -m rasa run --model ...``, minus
the deprecation notices of the libraries Rasa pins (see :mod:`bot.library_warnings`).
"""

from __future__ import annotations


def main() -> None:
    """Silences the libraries' deprecation notices, then runs Rasa's command line."""
    from bot.library_warnings import silence_library_warnings

    silence_library_warnings()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
