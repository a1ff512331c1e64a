"""`python -m desk.server`: the desk as its own process (``afterhours run`` starts it).

Also :func:`serve_in_thread`, which serves an app from a background thread (tests, benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_PORT", "PORT_ENV", "ThreadedServer", "main", "serve_in_thread"]

#: The desk's port unless told otherwise.
DEFAULT_PORT = 5080
PORT_ENV = "AFTERHOURS_DESK_PORT"


@dataclass
class ThreadedServer:
    """A desk served from a background thread; :meth:`stop` ends it."""

    url: str
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    server: Any

    def stop(self) -> None:
        """Stop serving and wait for the thread."""

        async def shutdown() -> None:
            await self.server.before_stop()
            self.server.close()
            await self.server.wait_closed()
            await self.server.after_stop()

        future = asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        try:
            future.result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> ThreadedServer:
    """Serve a Sanic app from a daemon thread with its own event loop.

    Args:
        app: The Sanic app.
        host: The interface.
        port: The port; 0 picks a free one.

    Returns:
        The running server with its URL.
    """
    from sanic import Sanic

    # Several apps in one process (tests, benchmarks): without test mode Sanic's start-up
    # "touch-up" rewrites shared classes for the first app and breaks the next one.
    Sanic.test_mode = True
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(
                app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
            )
            loop.run_until_complete(server.startup())
            loop.run_until_complete(server.before_start())
            loop.run_until_complete(server.start_serving())
            loop.run_until_complete(server.after_start())
            holder["server"] = server
        except BaseException as error:  # reported to the caller below
            holder["error"] = error
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="desk-server", daemon=True)
    thread.start()
    ready.wait(timeout=30)
    if "server" not in holder:
        raise RuntimeError(f"the desk did not start: {holder.get('error')!r}")
    bound = sock.getsockname()[1]
    return ThreadedServer(f"http://{host}:{bound}", loop, thread, holder["server"])


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the desk until stopped (SIGINT / SIGTERM)."""
    from bot.library_warnings import silence_library_warnings

    silence_library_warnings()  # before the desk's imports (Sanic, SQLAlchemy) load
    parser = argparse.ArgumentParser(prog="python -m desk.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get(PORT_ENV) or DEFAULT_PORT))
    parser.add_argument("--db", default=None, help="queue database URL (default: the product's)")
    args = parser.parse_args(argv)

    from desk.app import Desk, create_app

    desk = Desk.from_env(args.db)
    app = create_app(desk, name="afterhours_desk")
    app.run(host=args.host, port=args.port, access_log=False, workers=1, motd=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
