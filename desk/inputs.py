"""What the desk accepts from a request before any handler runs: ids, static files, no NUL.

Bad input is the client's error and gets a 4xx, never a 500: an id the database cannot hold
(SQLite stops at 64 bits, the columns at 32), a NUL character (PostgreSQL refuses it in text),
a file name the file system chokes on. Checking here, once for every route, keeps new routes
safe without each handler remembering.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

__all__ = ["ID", "MAX_ID", "install", "row_id"]

#: The route parameter type of a row id: ``/cases/<ticket_id:id>``.
ID = "id"
#: The largest id an ``Integer`` column holds on every database the desk runs on.
MAX_ID = 2**31 - 1
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def row_id(value: Any) -> int:
    """A row id from a path segment, a form field or a JSON value.

    Args:
        value: ASCII digits (a string) or an integer; nothing else, booleans included.

    Returns:
        The id, 1..:data:`MAX_ID`.

    Raises:
        ValueError: Anything else: too large, zero, negative, not a number, Unicode digits.
    """
    refused = ValueError(f"not an id: ids are whole numbers from 1 to {MAX_ID}")
    if isinstance(value, bool):
        raise refused
    if isinstance(value, str):
        # isdigit() alone accepts "²" and "１", which int() then refuses or reads differently.
        if not (value.isascii() and value.isdigit() and len(value) <= 10):
            raise refused
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise refused
    return value


def afterhours_row_id(value: str) -> int:
    """:func:`row_id` for the router (which keeps casts by name in its own namespace)."""
    return row_id(value)


def _has_nul(request: Request) -> bool:
    if "\x00" in unquote(request.path) or "\x00" in unquote(request.query_string):
        return True
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if request.method != "POST" or content_type not in _FORM_TYPES:
        return False
    form = request.form
    if not form:
        return False
    return any("\x00" in name or "\x00" in str(v) for name in form for v in form.getlist(name))


def install(app: Sanic, static: Path) -> None:
    """Set the app up to refuse bad input; call before adding routes.

    - the ``id`` route parameter type: a path whose id is not a valid row id matches no route
      (404), so no handler ever sees one;
    - the static files are the files of `static`, each its own route: no part of a request's
      path reaches the file system (``..``, NUL, encoded slashes, over-long names: 404);
    - a request with a NUL character in its path, query or form is refused (400).

    Args:
        app: The desk's app, before its routes are added.
        static: The folder of static files, served under ``/static/``.
    """
    app.router.register_pattern(ID, afterhours_row_id, r"^[0-9]{1,10}$")
    for file in sorted(static.iterdir()):
        if file.is_file() and not file.name.startswith("."):
            name = "static_" + re.sub(r"\W", "_", file.name)
            app.static(f"/static/{file.name}", str(file), name=name)

    @app.middleware("request")
    async def refuse_nul(request: Request) -> HTTPResponse | None:
        if _has_nul(request):
            return response.text("A NUL character is not accepted here.", status=400)
        return None
