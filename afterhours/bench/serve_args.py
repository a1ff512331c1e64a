"""Arguments of `afterhours bench serve` (light: no Rasa, no TensorFlow)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the `bench serve` options to its subparser."""
    parser.add_argument(
        "--url",
        default=None,
        help="a running Rasa server (e.g. http://127.0.0.1:5005); without it the benchmark "
        "starts the action server and the Rasa server itself, on free ports and a scratch queue",
    )
    parser.add_argument(
        "--model", default=None, help="model to serve when starting the server (default: newest)"
    )
    parser.add_argument(
        "--scaled",
        action="store_true",
        help="serve with deploy/endpoints.scaled.yml: trackers and queue in a scratch PostgreSQL "
        "database (AFTERHOURS_BENCH_POSTGRES_URL), Redis lock store (AFTERHOURS_BENCH_REDIS_URL)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Sanic workers of the Rasa server (SANIC_WORKERS; more than 1 needs --scaled)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 8, 32],
        metavar="N",
        help="numbers of concurrent senders (default 1 8 32)",
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=234,
        help="messages sent at each concurrency (the held-out texts, cycled; default 234 = all)",
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="messages sent before timing (default 5)"
    )
    parser.add_argument(
        "--stock",
        action="store_true",
        help="also serve stock Rasa (the `rasa init` config, DIET and TED, trained on the same "
        "domain and data, cached by their hash) under the same load, and score both on the "
        "held-out set: one more row per level in the same table",
    )
    parser.add_argument(
        "--stock-cache",
        default=None,
        metavar="DIR",
        help="where stock models are kept between runs (default: afterhours-stock-rasa in the "
        "system's temporary folder)",
    )
    parser.add_argument("--note", default="", help="a word on the run, written with its row")
    parser.add_argument(
        "--no-record", action="store_true", help="do not append the row to benchmarks/results.md"
    )
    parser.add_argument("--results", default=None, help="the results file to append to")
