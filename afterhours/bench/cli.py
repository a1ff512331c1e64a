"""The `afterhours bench` command: each benchmark is a module with `add_arguments` and `run`."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from typing import Any

# name -> (module, help). Modules are imported only when their benchmark runs, so that
# `afterhours --help` stays fast and free of TensorFlow.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "nlu": ("afterhours.bench.nlu", "the NLU pipeline on a public intent benchmark"),
    "serve": ("afterhours.bench.serve", "the running server through its REST channel"),
    "channels": ("afterhours.bench.channels", "each channel connector end to end on loopback"),
    "faults": (
        "afterhours.bench.faults",
        "kill -9 the servers mid-burst: what was lost or sent twice",
    ),
    "desk": (
        "afterhours.bench.desk",
        "the desk's queue page with 10,000 tickets; claims by 20 agents",
    ),
    "incident": (
        "afterhours.bench.incident",
        "an outage night: one incident, every customer told once",
    ),
}


def add_bench_commands(commands: Any) -> None:
    """Adds `bench <name>` for every benchmark whose module is installed."""
    bench = commands.add_parser("bench", help="benchmarks that print numbers")
    names = bench.add_subparsers(dest="bench_name", required=True)
    for name, (module_name, help_text) in BENCHMARKS.items():
        if importlib.util.find_spec(module_name) is None:
            continue
        parser = names.add_parser(name, help=help_text)
        parser.set_defaults(func=_runner(module_name), bench_module=module_name)
        _arguments(module_name)(parser)


def _arguments(module_name: str) -> Any:
    # Argument definitions live in a light sibling module (`<name>_args`) when the benchmark
    # module itself is heavy; otherwise in the module.
    light = importlib.util.find_spec(f"{module_name}_args")
    return importlib.import_module(f"{module_name}_args" if light else module_name).add_arguments


def _runner(module_name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module_name).run(args))

    return run
