"""What `afterhours evaluate` prints and writes: tables, confusion-matrix pictures, an HTML page.

The pictures are PNG files drawn with matplotlib's Agg backend (no display needed); the page links
them and lists the tables and the lines that changed. Held-out text is shown escaped: a held-out
set is written by people, and a page must not run what it shows.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afterhours.bench.evaluation import Breakdown, Change, Comparison, Tally, percent, report


@dataclass
class SetReport:
    """Everything shown about one held-out set for one model (and the changes against another)."""

    name: str
    model: str
    tallies: Mapping[str, Tally]
    breakdown: Breakdown
    changes: list[Change] | None = None
    against: str | None = None
    pictures: dict[str, str] = field(default_factory=dict)
    # Per kind of message, for sets whose lines carry a `kind` label (kinds_report's table).
    kinds: str | None = None


def topic_table(result: Breakdown) -> str:
    """Accuracy per expected topic (lines expected to be answered)."""
    lines = ["| expected topic | lines | answered with it |", "|---|---|---|"]
    for topic, (total, right) in sorted(result.topics.items()):
        lines.append(f"| {topic} | {total} | {percent(right, total)} |")
    return "\n".join(lines)


def decision_table(result: Breakdown) -> str:
    """Accuracy per expected decision/reason."""
    lines = [
        "| expected decision/reason | lines | decision right | decision and reason right |",
        "|---|---|---|---|",
    ]
    for label, (total, decision, both) in sorted(result.decisions.items()):
        lines.append(f"| {label} | {total} | {percent(decision, total)} | {percent(both, total)} |")
    return "\n".join(lines)


def changes_table(found: Sequence[Change], before: str, after: str) -> str:
    """The lines whose outcome changed between two models."""
    if not found:
        return f"no held-out line changed its outcome between {before} and {after}"
    lines = [
        f"| id | verdict | expected | {before} | {after} | text |",
        "|---|---|---|---|---|---|",
    ]
    for c in found:
        text = c.text.replace("|", "/").replace("\n", " ")[:80]
        lines.append(f"| {c.id} | {c.verdict} | {c.expected} | {c.before} | {c.after} | {text} |")
    counts = Counter(c.verdict for c in found)
    decisions = sum(c.decision_changed for c in found)
    lines.append(
        f"\n{len(found)} lines changed ({decisions} of them their decision): "
        + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    )
    return "\n".join(lines)


def text_report(result: SetReport) -> str:
    """The terminal report of one set."""
    parts = [
        f"## {result.name}: {result.model}",
        report(result.tallies),
        "",
        decision_table(result.breakdown),
        "",
        topic_table(result.breakdown),
    ]
    if result.kinds:
        parts += ["", "By kind of message (ids of the lines not right):", "", result.kinds]
    if result.changes is not None and result.against:
        parts += ["", f"### changed since {result.against}"]
        parts.append(changes_table(result.changes, result.against, result.model))
    return "\n".join(parts)


def confusion_picture(confusion: Mapping[tuple[str, str], int], title: str, path: Path) -> Path:
    """Draws a confusion matrix (rows expected, columns got; colour = share of the row) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted({expected for expected, _ in confusion})
    cols = sorted({got for _, got in confusion} | set(rows), key=lambda c: (c not in rows, c))
    grid = [[confusion.get((r, c), 0) for c in cols] for r in rows]
    shares = [[v / (sum(row) or 1) for v in row] for row in grid]
    size = max(4.0, 0.42 * len(cols) + 2.5), max(3.0, 0.36 * len(rows) + 2.0)
    figure, axes = plt.subplots(figsize=size)
    axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(cols)))
    axes.set_xticklabels(cols, rotation=60, ha="right", fontsize=7)
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels(rows, fontsize=7)
    axes.set_xlabel("got")
    axes.set_ylabel("expected")
    axes.set_title(title, fontsize=9)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if value:
                dark = shares[i][j] > 0.6
                axes.text(
                    j, i, str(value), ha="center", va="center", fontsize=6,
                    color="white" if dark else "black",
                )  # fmt: skip
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def draw_pictures(result: SetReport, folder: Path, prefix: str) -> None:
    """The set's three confusion matrices as PNG files in `folder` (recorded in `pictures`)."""
    for key, confusion, what in (
        ("decision", result.breakdown.decision_confusion, "decision/reason"),
        ("topic", result.breakdown.topic_confusion, "topic (expected answers)"),
        ("language", result.breakdown.language_confusion, "language"),
    ):
        if not confusion:
            continue
        name = f"{prefix}-{result.name}-{key}.png"
        confusion_picture(confusion, f"{result.name}, {what}: {result.model}", folder / name)
        result.pictures[key] = name


def _html_table(markdown: str) -> str:
    # The tables above are Markdown; the page shows the same rows as an HTML table.
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    if not rows:
        return f"<p>{html.escape(markdown)}</p>"
    out = ["<table>"]
    for index, line in enumerate(rows):
        if index == 1 and set(line) <= {"|", "-"}:
            continue
        cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
        tag = "th" if index == 0 else "td"
        out.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
    out.append("</table>")
    tail = [line for line in markdown.splitlines() if line.strip() and not line.startswith("|")]
    out += [f"<p>{html.escape(line)}</p>" for line in tail]
    return "\n".join(out)


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.bad{color:#b00020}.ok{color:#1b5e20}img{max-width:100%;border:1px solid #eee}"""


def html_page(sets: Sequence[SetReport], comparison: Comparison | None, title: str) -> str:
    """The evaluation as one HTML page linking the pictures (in the same folder)."""
    e = html.escape
    body = [f"<h1>{e(title)}</h1>"]
    if comparison is not None:
        verdict = "worse beyond the tolerance" if comparison.regressions else "not worse"
        css = "bad" if comparison.regressions else "ok"
        body.append(f'<p class="{css}"><b>{e(verdict)}</b></p><ul>')
        body += [f'<li class="bad">{e(r)}</li>' for r in comparison.regressions]
        body += [f"<li>{e(n)}</li>" for n in comparison.notes]
        body.append("</ul>")
    for result in sets:
        body.append(f"<h2>{e(result.name)}: {e(result.model)}</h2>")
        body.append(_html_table(report(result.tallies)))
        body.append("<h3>per expected decision/reason</h3>")
        body.append(_html_table(decision_table(result.breakdown)))
        body.append("<h3>per expected topic</h3>")
        body.append(_html_table(topic_table(result.breakdown)))
        if result.kinds:
            body.append("<h3>per kind of message</h3>")
            body.append(_html_table(result.kinds))
        for key, name in result.pictures.items():
            body.append(f'<h3>confusion: {e(key)}</h3><a href="{e(name)}">')
            body.append(f'<img src="{e(name)}" alt="{e(key)} confusion matrix"></a>')
        if result.changes is not None and result.against:
            body.append(f"<h3>changed since {e(result.against)}</h3>")
            body.append(_html_table(changes_table(result.changes, result.against, result.model)))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_html(
    folder: Path, sets: Sequence[SetReport], comparison: Comparison | None, title: str
) -> Path:
    """Draws every set's pictures into `folder` and writes `index.html` linking them."""
    folder.mkdir(parents=True, exist_ok=True)
    for result in sets:
        draw_pictures(result, folder, "confusion")
    page = folder / "index.html"
    page.write_text(html_page(sets, comparison, title), encoding="utf-8")
    return page


def summary_line(figures: Any) -> str:
    """One line of a set's overall figures (for the comparison)."""
    t = figures.overall
    return (
        f"decision {percent(t.decision, t.total).strip()}, "
        f"wrong answers {t.wrong_answers}, leaks {t.leaks}, over-long {t.over_long}"
    )
