"""Rendering of tables: rich console, GitHub markdown, CSV, JSON, LaTeX (booktabs), HTML.

:func:`build_tables` assembles a run's report from its records and manifest alone: the summaries the
suite named (stored in the manifest) first, then the full per-condition accuracy table.
:func:`render_run` renders a stored run with its plots (:mod:`freqbench.report.plots`): markdown links
the PNGs under ``RUN_DIR/plots`` that were written (their index, :mod:`freqbench.report.plot_index`;
paths relative to the run directory, where report.md lives), HTML embeds every plot, drawn afresh
from the stored records and arrays (:mod:`freqbench.report.html`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from freqbench.errors import ConfigError
from freqbench.report.plot_index import PlotEntry, written_plots
from freqbench.report.summaries import SUMMARIES
from freqbench.report.tables import ReportContext, Table, condition_table, probe_table
from freqbench.store.run import Record, RunStore

if TYPE_CHECKING:
    from freqbench.report.plots import Plot


class Format(StrEnum):
    CONSOLE = "console"
    MD = "md"
    CSV = "csv"
    JSON = "json"
    LATEX = "latex"
    HTML = "html"


def build_tables(records: Sequence[Record], manifest: Mapping[str, Any]) -> tuple[list[Table], list[Table]]:
    """(summary tables, detail tables) for a run."""
    ctx = ReportContext(manifest)
    summaries: list[Table] = []
    for name in manifest.get("summaries", []):
        summaries.extend(SUMMARIES.get(name)(records, ctx))
    probes = [str(p) for p in manifest.get("probes", [])]
    if probes:  # a probe run: its measures are the report; it has no accuracy per condition
        return [*summaries, *(probe_table(records, p) for p in probes)], []
    return summaries, [condition_table(records, title="accuracy per condition")]


def _header_lines(records: Sequence[Record], manifest: Mapping[str, Any]) -> dict[str, str]:
    return ReportContext(manifest).header(records)


def to_markdown(
    records: Sequence[Record], manifest: Mapping[str, Any], *, plots: Sequence[Plot | PlotEntry] = ()
) -> str:
    """Markdown; ``plots`` are linked as ``plots/<name>.png`` between the summaries and the details."""
    summaries, details = build_tables(records, manifest)
    out = ["# freqbench report", ""]
    out += [f"- **{k}**: {v}" for k, v in _header_lines(records, manifest).items()]
    out.append("")
    for t in summaries:
        out += markdown_table(t)
    if plots:
        out += ["## plots", ""]
        for p in plots:
            out += [f"![{p.title}](plots/{p.name}.png)", ""]
            if p.caption:
                out += [f"_{p.caption}_", ""]
    for t in details:
        out += markdown_table(t)
    return "\n".join(out).rstrip() + "\n"


def to_html(records: Sequence[Record], manifest: Mapping[str, Any], *, plots: Sequence[Plot] = ()) -> str:
    """One self-contained HTML page: header, summary tables, ``plots`` embedded as SVG, details."""
    from freqbench.report.html import Picture, document

    pictures = []
    if plots:
        from freqbench.report.plots import render  # matplotlib loads only when there is a plot

        pictures = [Picture(p.name, p.title, p.caption, render(p, "svg")) for p in plots]
    summaries, details = build_tables(records, manifest)
    return document(_header_lines(records, manifest), summaries, details, pictures)


def markdown_table(t: Table) -> list[str]:
    unit = f" ({t.unit})" if t.unit else ""
    lines = [f"## {t.title}{unit}", ""]
    if t.columns:
        lines.append("| " + " | ".join([t.row_header, *t.columns]) + " |")
        lines.append("|" + "---|" + "---:|" * len(t.columns))
        for label, cells in t.rows:
            lines.append("| " + " | ".join([f"`{label}`", *(c.text(ci=t.show_ci) for c in cells)]) + " |")
        lines.append("")
    if t.note:
        lines += [f"_{t.note}_", ""]
    return lines


def to_csv(records: Sequence[Record], manifest: Mapping[str, Any]) -> str:
    """The per-condition table in wide form (rows models, columns conditions), accuracy in percent."""
    t = condition_table(records)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", *t.columns])
    for label, cells in t.rows:
        w.writerow([label, *("" if c.value is None else f"{c.value:.4f}" for c in cells)])
    return buf.getvalue()


def to_json(records: Sequence[Record], manifest: Mapping[str, Any]) -> str:
    summaries, details = build_tables(records, manifest)
    payload = {
        "header": _header_lines(records, manifest),
        "tables": [t.to_dict() for t in [*summaries, *details]],
        "records": [json.loads(r.to_json()) for r in records],
    }
    return json.dumps(payload, indent=2)


def print_console(
    records: Sequence[Record],
    manifest: Mapping[str, Any],
    *,
    console: Console | None = None,
    details: bool = False,
) -> None:
    """Summaries (or the per-condition table when the suite names none) on the terminal."""
    console = console or Console()
    header = _header_lines(records, manifest)
    console.print(" · ".join(f"[bold]{k}[/]: {escape(v)}" for k, v in header.items()))
    summaries, detail = build_tables(records, manifest)
    for t in summaries + (detail if details or not summaries else []):
        if t.columns:
            console.print(_rich_table(t, transpose=_too_wide(t, console.width)))
            if t.note:
                console.print(f"[dim]{escape(t.note)}[/]")
        elif t.note:  # a table that could not be computed: its title and why
            console.print(f"[bold]{escape(t.title)}[/]: {escape(t.note)}")


def _too_wide(t: Table, width: int) -> bool:
    """Whether the table is wider than the terminal but would fit turned by 90 degrees."""
    need = max((len(r[0]) for r in t.rows), default=5) + sum(max(len(c), 6) + 3 for c in t.columns)
    return need > width and len(t.rows) < len(t.columns)


def _rich_table(t: Table, *, transpose: bool) -> RichTable:
    # labels are plain text, not rich markup: "[signed]" must be shown, not read as a style
    title = escape(f"{t.title}" + (f" ({t.unit})" if t.unit else ""))
    # wide enough for its title on one line (rich wraps a title to the table's width)
    rt = RichTable(title=title, title_justify="left", min_width=len(title))
    if transpose:  # conditions as rows, models as columns
        rt.add_column("", style="bold")
        for label, _ in t.rows:
            rt.add_column(escape(label), justify="right")
        for i, col in enumerate(t.columns):
            rt.add_row(escape(col), *(cells[i].text() for _, cells in t.rows))
        return rt
    rt.add_column(escape(t.row_header), style="bold")
    for c in t.columns:
        rt.add_column(escape(c), justify="right")
    for label, cells in t.rows:
        rt.add_row(escape(label), *(c.text() for c in cells))  # intervals go to markdown/CSV/JSON
    return rt


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$"}


def _tex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(records: Sequence[Record], manifest: Mapping[str, Any]) -> str:
    """Every table as a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); the header, each
    table's note and the message of a table that could not be computed as comments."""
    summaries, details = build_tables(records, manifest)
    out = [f"% freqbench report: {k} = {v}" for k, v in _header_lines(records, manifest).items()]
    for t in [*summaries, *details]:
        if not t.columns:
            if t.note:
                out += ["", f"% {_tex(t.title)}: {t.note}"]
            continue
        unit = f" ({_tex(t.unit)})" if t.unit else ""
        out += [
            "",
            f"% {_tex(t.title)}{unit}",
            r"\begin{tabular}{l" + "r" * len(t.columns) + "}",
            r"\toprule",
        ]
        out.append(" & ".join(_tex(c) for c in [t.row_header, *t.columns]) + r" \\")
        out.append(r"\midrule")
        for label, cells in t.rows:
            out.append(" & ".join([_tex(label), *(c.text() for c in cells)]) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        if t.note:
            out.append(f"% {t.note}")
    return "\n".join(out) + "\n"


RENDERERS = {
    Format.MD: to_markdown,
    Format.CSV: to_csv,
    Format.JSON: to_json,
    Format.LATEX: to_latex,
    Format.HTML: to_html,
}


def render_run(run_dir: RunStore | Path | str, fmt: Format | str) -> str:
    """A stored run in ``fmt`` (not console), with its plots where the format shows them.

    Markdown links the plots whose PNG is in ``RUN_DIR/plots`` (written by ``freqbench run`` and
    ``freqbench report --plots``); HTML draws and embeds every plot from the stored records and arrays.

    Raises:
        ConfigError: ``fmt`` is console or not a format.
        StoreError: not a run directory, or a damaged one.
    """
    fmt = Format(fmt)
    if fmt is Format.CONSOLE:
        raise ConfigError("render_run writes text formats; print console tables with print_console")
    store = run_dir if isinstance(run_dir, RunStore) else RunStore(run_dir)
    records, manifest = store.records(), store.read_manifest()
    if fmt is Format.MD:
        return to_markdown(records, manifest, plots=written_plots(store.root))
    if fmt is Format.HTML:
        from freqbench.report.plots import build_plots  # matplotlib is slow to import

        return to_html(records, manifest, plots=build_plots(store))
    return RENDERERS[fmt](records, manifest)
