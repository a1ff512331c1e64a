"""The layout's rules, checked on the source: imports point one way, rooms stay small.

Every import is read from the syntax tree, the ones inside functions included (a lazy import is
still an arrow between rooms).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("afterhours", "desk", "bot", "actions", "handoff")
# What each top-level package may import of the others: the layers, top to bottom.
ALLOWED = {
    "afterhours": {"afterhours", "desk", "bot", "actions", "handoff"},
    "desk": {"desk", "bot", "handoff"},
    "actions": {"actions", "bot", "handoff"},
    "bot": {"bot", "handoff"},
    "handoff": {"handoff"},
}
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100


def _sources(packages: tuple[str, ...] = SHIPPED) -> Iterator[Path]:
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _imported_roots(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def test_imports_point_one_way() -> None:
    """afterhours -> desk -> bot -> handoff; actions -> bot, handoff; nothing imports tests."""
    wrong = []
    ours = set(ALLOWED) | {"tests"}
    for path in _sources():
        package = path.relative_to(REPO).parts[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, root in _imported_roots(tree):
            if root in ours and root not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {root}")
    assert not wrong, "\n".join(wrong)


def test_no_source_file_over_600_lines() -> None:
    """A file that long holds more than one idea."""
    long = [
        f"{path.relative_to(REPO)}: {count} lines"
        for path in _sources((*SHIPPED, "tests"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    ]
    assert not long, "\n".join(long)


def test_no_function_over_100_lines() -> None:
    """Shipped functions fit on a screen or two."""
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {size}")
    assert not long, "\n".join(long)


@pytest.mark.parametrize("package", SHIPPED)
def test_every_folder_says_what_it_is_for(package: str) -> None:
    """Each package's __init__ (or its folder's first module) carries its one-line purpose."""
    for folder in [REPO / package, *sorted(p for p in (REPO / package).rglob("*") if p.is_dir())]:
        if folder.name in {"__pycache__", "migrations", "versions", "lexicons"} or any(
            part in {"migrations", "templates", "static", "__pycache__"}
            for part in folder.relative_to(REPO).parts
        ):
            continue
        init = folder / "__init__.py"
        if not init.exists():
            continue
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), (
            f"{init.relative_to(REPO)} has no docstring saying what the folder is for"
        )
