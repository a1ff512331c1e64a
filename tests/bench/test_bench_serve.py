"""`bench serve` without a Rasa server: the requests it sends, its timing loop, its table."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from afterhours.bench.serve import (
    LevelResult,
    busy_cpu_seconds,
    expected_mix,
    load_messages,
    payload,
    run_level,
    table,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

CASE = {
    "id": "en-001",
    "channel": "sms",
    "public": False,
    "sender": "+447700900873",
    "text": "can someone ring me back",
    "at": "2026-06-09T23:15:00+01:00",
    "expect": {"decision": "handoff"},
}


def test_each_message_is_a_new_conversation_with_connector_metadata() -> None:
    body = payload(CASE, "run1", 7)
    assert body == {
        "sender": "sms:bench-run1-7",
        "message": "can someone ring me back",
        "metadata": {
            "channel": "sms",
            "public": False,
            "sender": "bench-run1-7",
            "at": "2026-06-09T23:15:00+01:00",
        },
    }
    assert payload(CASE, "run1", 8)["sender"] != body["sender"]


def test_the_held_out_set_is_a_mix_in_four_languages() -> None:
    cases = load_messages()
    assert {c["expect"]["language"] for c in cases} == {"en", "pt", "es", "it"}
    mix = expected_mix(cases)
    assert "answer" in mix and "handoff" in mix
    assert expected_mix([CASE, CASE]) == "handoff 100%"


def test_table_and_rates() -> None:
    result = LevelResult(8, 10, 2, 2.0, (10.0, 20.0, 30.0))
    assert result.per_second == 4.0
    assert result.percentile(50) == 20.0
    assert result.cpu_ms_per_message is None
    assert table([result]).splitlines()[-1] == "| 8 | 10 | 2 | 20 | 30 | 4.0 | – | – |"
    measured = LevelResult(
        8, 10, 2, 2.0, (10.0, 20.0, 30.0), cpu_seconds=0.4, process_cpu_seconds=0.2
    )
    assert measured.cpu_ms_per_message == 50.0  # 0.4 s over the 8 messages answered
    assert measured.process_cpu_ms_per_message == 25.0
    assert table([measured]).splitlines()[-1] == "| 8 | 10 | 2 | 20 | 30 | 4.0 | 50.0 | 25.0 |"


def test_busy_cpu_is_every_state_but_idle_and_iowait(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    hz = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text(f"cpu  {hz} 0 {hz} {50 * hz} {7 * hz} 0 {hz} 0 0 0\ncpu0 ...\n")
    assert busy_cpu_seconds(stat) == 3.0
    assert busy_cpu_seconds(tmp_path / "missing") is None
    assert busy_cpu_seconds() is not None  # this machine's /proc/stat


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_level_sends_every_message_once_and_counts_errors() -> None:
    seen: list[dict[str, Any]] = []
    connections: set[Any] = set()
    in_flight = 0
    most = 0

    async def webhook(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        body = await request.json()
        seen.append(body)
        connections.add(request.transport.get_extra_info("peername") if request.transport else None)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        if body["message"] == "fail":
            return web.Response(status=500)
        return web.json_response([{"recipient_id": body["sender"], "text": "ok"}])

    async def scenario() -> LevelResult:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            cases = [CASE, {**CASE, "text": "fail"}]
            return await run_level(f"http://127.0.0.1:{port}", cases, 4, 12, "t")
        finally:
            await runner.cleanup()

    result = asyncio.run(scenario())
    assert len(seen) == 12 and len({b["sender"] for b in seen}) == 12
    assert result.errors == 6 and len(result.latencies_ms) == 6
    assert 1 < most <= 4  # concurrent, never more than the senders
    # A connection of its own per request, so a server's workers share the requests.
    assert len(connections) == 12


def test_the_scaled_environment_fills_every_variable_of_the_scaled_endpoints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    from afterhours.bench.serve import SCALED_ENDPOINTS, scaled_environment

    monkeypatch.setenv("AFTERHOURS_BENCH_REDIS_URL", "redis://10.0.0.9:6390")
    env = scaled_environment(
        "postgresql://bot:s3cret@10.0.0.8:5433/trackers", "http://127.0.0.1:5055/webhook"
    )
    wanted = set(re.findall(r"\$\{([A-Z_]+)\}", SCALED_ENDPOINTS.read_text(encoding="utf-8")))
    assert wanted == set(env)
    assert env["AFTERHOURS_PG_HOST"] == "10.0.0.8" and env["AFTERHOURS_PG_PORT"] == "5433"
    assert env["AFTERHOURS_PG_USER"] == "bot" and env["AFTERHOURS_PG_PASSWORD"] == "s3cret"
    assert env["AFTERHOURS_PG_DB"] == "trackers"
    assert env["AFTERHOURS_REDIS_HOST"] == "10.0.0.9" and env["AFTERHOURS_REDIS_PORT"] == "6390"
    # Rasa expands ${...} only in plain scalars: a quoted one would reach it as literal text.
    assert not re.search(r"[\"']\$\{", SCALED_ENDPOINTS.read_text(encoding="utf-8"))


def test_several_workers_need_the_scaled_set_up(capsys: pytest.CaptureFixture[str]) -> None:
    from afterhours.cli import main

    assert main(["bench", "serve", "--workers", "2", "--no-record"]) == 2
    assert "--workers above 1 needs --scaled" in capsys.readouterr().err


def test_stock_rasa_is_one_more_row_per_level_in_the_same_table() -> None:
    from afterhours.bench.serve import ModelRun, comparison_table

    shipped = ModelRun(
        "shipped",
        (LevelResult(1, 10, 0, 1.0, (10.0,), cpu_seconds=0.3),),
        ready=7.0,
        heldout=(("heldout", 97.0, 0.9),),
    )
    stock = ModelRun(
        "stock Rasa",
        (LevelResult(1, 10, 0, 2.0, (20.0,), cpu_seconds=0.5),),
        heldout=(("heldout", 80.5, 4.3),),
    )
    lines = comparison_table([shipped, stock]).splitlines()
    assert lines[0].endswith(
        "| CPU ms/message | process CPU ms/message | decision heldout | wrong answers heldout |"
    )
    assert lines[1] == "|---" * 11 + "|"
    assert lines[2] == "| shipped | 1 | 10 | 0 | 10 | 10 | 10.0 | 30.0 | – | 97.0% | 0.9% |"
    assert lines[3] == "| stock Rasa | 1 | 10 | 0 | 20 | 20 | 5.0 | 50.0 | – | 80.5% | 4.3% |"


def test_stock_rasa_needs_the_benchmark_to_start_the_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from afterhours.cli import main

    assert main(["bench", "serve", "--stock", "--url", "http://127.0.0.1:1", "--no-record"]) == 2
    assert "--stock starts stock Rasa's server itself" in capsys.readouterr().err


def test_stock_runs_both_models_under_the_same_levels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from afterhours.bench import serve, stock
    from afterhours.cli import main

    served: list[str | None] = []

    class Webhook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps([]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    @contextlib.contextmanager
    def fake_server(model: str | None, database_url: Any = None, workers: int = 1) -> Any:
        served.append(model)
        yield f"http://127.0.0.1:{server.server_address[1]}", 1.5

    monkeypatch.setattr(serve, "started_server", fake_server)
    monkeypatch.setattr(stock, "stock_model", lambda cache=None: tmp_path / "stock-abc.tar.gz")
    scores = {"shipped.tar.gz": 97.0, "stock-abc.tar.gz": 81.0}
    monkeypatch.setattr(
        serve, "heldout_scores", lambda model: (("heldout", scores[model.name], 1.0),)
    )
    results = tmp_path / "results.md"
    try:
        code = main(
            [
                "bench", "serve", "--stock", "--model", str(tmp_path / "shipped.tar.gz"),
                "--messages", "6", "--concurrency", "1", "2", "--warmup", "0",
                "--results", str(results),
            ]
        )  # fmt: skip
    finally:
        server.shutdown()
    assert code == 0
    assert served == [str(tmp_path / "shipped.tar.gz"), str(tmp_path / "stock-abc.tar.gz")]
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[:2] for row in rows[1:]] == [
        ["| shipped", "1"],
        ["| shipped", "2"],
        ["| stock Rasa", "1"],
        ["| stock Rasa", "2"],
    ]
    assert rows[1].endswith("| 97.0% | 1.0% |") and rows[3].endswith("| 81.0% | 1.0% |")
    recorded = results.read_text(encoding="utf-8")
    assert "stock Rasa 2 senders" in recorded and "stock Rasa heldout decision 81.0%" in recorded


def test_process_cpu_counts_this_process_and_what_it_started() -> None:
    import subprocess
    import sys
    import time

    from afterhours.bench.proc_cpu import tree_cpu_seconds

    before = tree_cpu_seconds()
    assert before is not None
    # A child that burns about 0.5 s of CPU, then sleeps (alive, so counted as a descendant).
    child = subprocess.Popen(
        [
            sys.executable, "-c",
            "import time\nend = time.process_time() + 0.5\n"
            "while time.process_time() < end: pass\ntime.sleep(30)",
        ]
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            spent = (tree_cpu_seconds() or 0.0) - before
            if spent >= 0.5:
                break
            time.sleep(0.1)
        assert spent >= 0.5
    finally:
        child.kill()
        child.wait()
    assert tree_cpu_seconds(root=2**22 + 1) is None  # no such process


def test_process_cpu_reads_a_proc_tree(tmp_path: Path) -> None:
    from afterhours.bench.proc_cpu import tree_cpu_seconds

    hz = os.sysconf("SC_CLK_TCK")

    def stat(pid: int, ppid: int, ticks: int) -> None:
        folder = tmp_path / str(pid)
        folder.mkdir()
        # pid (comm with ") (" inside) state ppid ... utime stime cutime cstime at 14-17
        rest = ["S", str(ppid)] + ["0"] * 9 + [str(ticks), "0", "0", "0"] + ["0"] * 30
        (folder / "stat").write_text(f"{pid} (odd ) (name) " + " ".join(rest) + "\n")

    stat(10, 1, hz)  # root
    stat(11, 10, 2 * hz)  # child
    stat(12, 11, 3 * hz)  # grandchild
    stat(20, 1, 100 * hz)  # not ours
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "stat").write_text("")
    assert tree_cpu_seconds(root=10, proc=tmp_path) == 6.0
    assert tree_cpu_seconds(root=11, proc=tmp_path) == 5.0
