"""CPU time of this process and everything it started (Linux /proc), for `bench serve`.

The machine's busy time (`serve.busy_cpu_seconds`) counts every process on the machine: on a
shared machine other people's jobs land in it. This counts only the benchmark's own processes —
the client, the action server and `rasa run` (with SQLite inside them in the embedded set-up) —
so the CPU per message stays comparable whatever else runs. It misses PostgreSQL and Redis in the
scaled set-up, which run outside the tree.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat(path: Path) -> tuple[int, int] | None:
    """(parent pid, CPU ticks of the process and its reaped children) from /proc/<pid>/stat."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None  # gone meanwhile, or not ours to read
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    # fields[1] is ppid; fields[11:15] are utime, stime, cutime, cstime.
    return int(fields[1]), sum(int(v) for v in fields[11:15])


def tree_cpu_seconds(root: int | None = None, proc: Path = Path("/proc")) -> float | None:
    """CPU seconds used so far by `root` (default: this process) and all its live descendants.

    Reaped children count through their parent's cutime/cstime. None without /proc.
    """
    if not (proc / "self" / "stat").exists() and root is None:
        return None
    top = os.getpid() if root is None else root
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        found = _stat(entry / "stat")
        if found is not None:
            parents[int(entry.name)], ticks[int(entry.name)] = found
    if top not in ticks:
        return None
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0, [top]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")
