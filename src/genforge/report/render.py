"""Render tables and figures to reports/index.html (self-contained) and reports/report.md.

The HTML embeds every image as a base64 data URI and its CSS inline, and makes no
network request: it opens from disk, from an MLflow artifact or a Prefect artifact
alike. The markdown references the same images as files under figures/.
"""

from __future__ import annotations

import base64
import html
import math
from typing import Any

from genforge.report.figures import Figure
from genforge.report.load import NA
from genforge.report.tables import Noted, Table

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#1d2330;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:1px solid #d8dce5;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
th,td{border:1px solid #d8dce5;padding:.25rem .55rem;text-align:right;vertical-align:top}
th{background:#f1f3f8}td:first-child,th:first-child{text-align:left}
td.text{text-align:left}td.na{color:#98a0b3}
p.caption{color:#4a5263;max-width:60rem}p.na{color:#a0522d}
figure{display:inline-block;margin:.6rem 1.2rem .6rem 0;vertical-align:top}
figure img{image-rendering:pixelated;border:1px solid #d8dce5;max-width:100%}
figcaption{font-size:.85rem;color:#4a5263;max-width:26rem}
nav a{margin-right:.8rem}ol.notes{font-size:.85rem;color:#6b7385}
"""


MIN_WIDTH = 240  # px; narrower images are drawn at twice their size


def fmt(value: Any) -> str:
    """A cell as text: 4 significant digits for floats, thousands separators for ints."""
    if isinstance(value, Noted):
        return fmt(value.value)
    if isinstance(value, NA):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def note_number(cell: Any, notes: list[str]) -> int | None:
    """The number of the table note an NA or Noted cell points to (Table.notes())."""
    if isinstance(cell, NA):
        return notes.index(cell.reason) + 1
    if isinstance(cell, Noted):
        return notes.index(cell.note) + 1
    return None


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _html_figure(fig: Figure) -> str:
    if isinstance(fig.png, NA):
        return (
            f'<figure id="fig-{fig.key}" class="na"><figcaption><b>{html.escape(fig.title)}</b>: '
            f"{html.escape(str(fig.png))}</figcaption></figure>"
        )
    # Small pixel grids (8x8 or 16x16 images) are shown enlarged, pixelated by the CSS.
    width = int.from_bytes(fig.png[16:20], "big")  # PNG IHDR: width, then height
    size = f' width="{width * 2}"' if width < MIN_WIDTH else ""
    return (
        f'<figure id="fig-{fig.key}"><img alt="{html.escape(fig.title)}"{size} src="{data_uri(fig.png)}">'
        f"<figcaption><b>{html.escape(fig.title)}</b>. {html.escape(fig.caption)}</figcaption></figure>"
    )


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    notes = t.notes()
    for row in t.rows:
        cells = []
        for cell in row:
            shown = cell.value if isinstance(cell, Noted) else cell
            cls = "na" if isinstance(cell, NA) else ("text" if isinstance(shown, str) else "")
            text = html.escape(fmt(cell))
            if (number := note_number(cell, notes)) is not None:
                text += f"<sup>{number}</sup>"
            cells.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if notes:
        out += '<ol class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ol>"
    return out


def render_html(
    title: str, intro: str, sections: list[tuple[Table, list[Figure]]], extra: list[Figure]
) -> str:
    """The whole report as one self-contained HTML document."""
    nav = " ".join(
        f'<a href="#table-{t.number}">{t.number}. {html.escape(t.title)}</a>' for t, _ in sections
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No request may leave the page: not even a favicon lookup.
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p><nav>{nav} "
        '<a href="#analyses">Analyses</a></nav>',
    ]
    for t, figs in sections:
        parts.append(
            f'<section id="table-{t.number}"><h2>Table {t.number}: {html.escape(t.title)}</h2>'
        )
        parts.append(f'<p class="caption">{html.escape(t.caption)}</p>')
        if t.unavailable:
            parts.append(f'<p class="na">Not available: {html.escape(t.unavailable)}</p>')
        else:
            parts.append(_html_table(t))
        if t.note:
            parts.append(f'<p class="caption"><b>Note:</b> {html.escape(t.note)}</p>')
        parts.extend(_html_figure(f) for f in figs)
        parts.append("</section>")
    parts.append('<section id="analyses"><h2>Analyses</h2>')
    parts.extend(_html_figure(f) for f in extra)
    parts.append("</section></body></html>")
    return "\n".join(parts) + "\n"


def _md_cell(value: Any, notes: list[str]) -> str:
    text = fmt(value).replace("|", "\\|").replace("\n", " ")
    if (number := note_number(value, notes)) is not None:
        text += f" [{number}]"
    return text


def _md_table(t: Table) -> str:
    notes = t.notes()
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "|".join("---" for _ in t.columns) + "|"]
    lines += ["| " + " | ".join(_md_cell(c, notes) for c in row) + " |" for row in t.rows]
    lines += [""] + [f"[{i}] {n}  " for i, n in enumerate(notes, 1)] if notes else []
    return "\n".join(lines)


def _md_figure(fig: Figure) -> str:
    if isinstance(fig.png, NA):
        return f"*{fig.title}*: {fig.png}"
    return f"![{fig.title}](figures/{fig.key}.png)\n\n*{fig.title}.* {fig.caption}"


def render_markdown(
    title: str, intro: str, sections: list[tuple[Table, list[Figure]]], extra: list[Figure]
) -> str:
    """The report as markdown; images are files in figures/ next to it."""
    parts = [f"# {title}", "", intro, ""]
    for t, figs in sections:
        parts += [f"## Table {t.number}: {t.title}", "", t.caption, ""]
        parts += [f"Not available: {t.unavailable}" if t.unavailable else _md_table(t), ""]
        parts += [f"Note: {t.note}", ""] if t.note else []
        for f in figs:
            parts += [_md_figure(f), ""]
    parts += ["## Analyses", ""]
    for f in extra:
        parts += [_md_figure(f), ""]
    return "\n".join(parts)
