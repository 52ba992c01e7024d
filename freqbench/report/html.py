"""One self-contained HTML page of a run: header, tables and plots, viewable offline, no JavaScript.

:func:`document` lays out what :func:`freqbench.report.render.to_html` gives it: the header lines,
the summary and detail tables (:class:`~freqbench.report.tables.Table`) and the plots as SVG bytes
(:class:`Picture`). Each plot is embedded as an ``<img>`` whose source is a ``data:image/svg+xml``
URI, so the page needs no other file and no network, and the plots' SVG ids cannot collide with each
other. The page carries no date, so the same records give the same bytes.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from freqbench.report.tables import Table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 75em;
       padding: 0 1em; color: #1b1b1b; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; } h3 { font-size: 1.05em; }
dl.header { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.header dt { font-weight: 600; } dl.header dd { margin: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.85em; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2em 0.6em; white-space: nowrap; }
thead th { border-bottom: 2px solid #888; } td.num { text-align: right; } th.row { text-align: left; }
p.note { font-size: 0.8em; color: #555; max-width: 60em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #555; max-width: 60em; }
""".strip()


@dataclass(frozen=True)
class Picture:
    """A plot to embed: ``name`` (its file stem), a title, how to read it, and its SVG."""

    name: str
    title: str
    caption: str
    svg: bytes


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def anchor(text: str) -> str:
    """An id for a heading: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def table_html(t: Table) -> str:
    """A table (or, for one that could not be computed, its title and why) as HTML."""
    unit = f" ({t.unit})" if t.unit else ""
    note = f'<p class="note">{_e(t.note)}</p>' if t.note else ""
    if not t.columns:
        return f"<h3>{_e(t.title)}</h3>{note}"
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in [t.row_header, *t.columns])
    body = "\n".join(
        f'<tr><th scope="row" class="row">{_e(label)}</th>'
        + "".join(f'<td class="num">{_e(c.text(ci=t.show_ci))}</td>' for c in cells)
        + "</tr>"
        for label, cells in t.rows
    )
    return (
        f'<div class="scroll"><table>\n<caption>{_e(t.title + unit)}</caption>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>{note}"
    )


def picture_html(p: Picture) -> str:
    """A plot as a ``<figure>`` with its SVG in a data URI."""
    src = "data:image/svg+xml;base64," + base64.b64encode(p.svg).decode("ascii")
    caption = f": {_e(p.caption)}" if p.caption else ""
    return (
        f'<figure id="plot-{anchor(p.name)}"><img src="{src}" alt="{_e(p.title)}">'
        f"<figcaption><strong>{_e(p.title)}</strong>{caption}</figcaption></figure>"
    )


def document(
    header: Mapping[str, str],
    summaries: Sequence[Table],
    details: Sequence[Table],
    pictures: Sequence[Picture] = (),
    *,
    title: str = "freqbench report",
) -> str:
    """The whole page: header, summary tables, plots, then the detail tables."""
    sections: list[tuple[str, list[str]]] = []
    if summaries:
        sections.append(("summaries", [table_html(t) for t in summaries]))
    if pictures:
        sections.append(("plots", [picture_html(p) for p in pictures]))
    if details:
        sections.append(("details", [table_html(t) for t in details]))
    toc = "".join(f'<li><a href="#{anchor(name)}">{_e(name)}</a></li>' for name, _ in sections)
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in header.items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{STYLE}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        f'<dl class="header">{dl}</dl>',
        f"<nav><ul>{toc}</ul></nav>" if toc else "",
    ]
    for name, blocks in sections:
        parts.append(f'<section id="{anchor(name)}"><h2>{_e(name)}</h2>')
        parts += blocks
        parts.append("</section>")
    parts += ["</body>", "</html>"]
    return "\n".join(p for p in parts if p) + "\n"


__all__ = ["Picture", "anchor", "document", "picture_html", "table_html"]
