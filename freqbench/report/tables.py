"""Tables built from stored records only (no torch): rows are models, columns conditions or summaries.

A :class:`Table` is plain data; ``freqbench.report.render`` turns it into rich console output, GitHub
markdown, CSV, JSON or LaTeX. Accuracies are stored as fractions and shown in percent.

Signed conditions (records tagged ``signed``: high-pass, band-pass, residual) fed the model values
outside [0, 1]; every table that shows one marks its label with :data:`SIGNED_MARK` and says why in
its note (:data:`SIGNED_NOTE`), so the mark reaches every format.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from freqbench.store.run import Record

H = TypeVar("H")
#: fractions stored in [0, 1], shown in percent
PERCENT_METRICS = frozenset({"accuracy", "success_rate"})
#: appended to the label of a signed condition (or group) in every table
SIGNED_MARK = " [signed]"
SIGNED_NOTE = (
    "[signed]: the condition fed the model signed values outside [0, 1] (high-pass, band-pass and "
    "residual outputs are not clamped), outside the models' input contract"
)


@dataclass(frozen=True)
class Cell:
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    digits: int | None = None  # overrides the table's default (e.g. 0 for counts)

    def text(self, *, digits: int = 2, ci: bool = False) -> str:
        if self.value is None or self.value != self.value:
            return "–"
        digits = self.digits if self.digits is not None else digits
        out = f"{self.value:.{digits}f}"
        if ci and self.ci_low is not None and self.ci_high is not None:
            out += f" ({self.ci_low:.{digits}f}–{self.ci_high:.{digits}f})"
        return out


@dataclass(frozen=True)
class Table:
    """A titled grid: ``rows`` are (label, cells) with one cell per column."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]
    unit: str = "%"
    note: str = ""
    show_ci: bool = False
    row_header: str = "model"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "note": self.note,
            "columns": list(self.columns),
            "rows": [
                {
                    "label": label,
                    "cells": [{"value": c.value, "ci_low": c.ci_low, "ci_high": c.ci_high} for c in cells],
                }
                for label, cells in self.rows
            ],
        }


@dataclass(frozen=True)
class ReportContext:
    """What summaries may read besides the records: the run manifest and the header lines."""

    manifest: Mapping[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> Mapping[str, Any]:
        return dict(self.manifest.get("config", {}).get("options", {}))

    def header(self, records: Sequence[Record]) -> dict[str, str]:
        cfg = self.manifest.get("config", {})
        datasets = sorted({r.dataset for r in records})
        suites = self.manifest.get("suites", {})
        ns = sorted({r.n for r in records if r.metric == "accuracy"}) or sorted(
            {r.n for r in records if r.tags.get("kind") == "probe"}
        )
        limit = cfg.get("limit")
        data = self.manifest.get("data")
        available = data.get("available") if isinstance(data, Mapping) else None
        if limit and available is None and ns:  # manifests before "data": n = min(limit, size)
            available = max(ns) if max(ns) < limit else None
        if limit and available is not None and limit > available:
            subset = f"all samples: --limit {limit} exceeds the dataset's {available}"
        else:
            subset = f"fixed {limit}-sample subset" if limit else "all samples"
        return {
            "dataset": ", ".join(datasets) + f" ({cfg.get('split', 'test')})",
            "subset": subset + f" (n = {', '.join(map(str, ns))})",
            "suite": ", ".join(f"{k} v{v}" for k, v in suites.items())
            or ", ".join(sorted({r.suite for r in records})),
            "freqbench": str(self.manifest.get("freqbench_version", "?")),
            "seed": str(cfg.get("seed", "?")),
            "device": str(self.manifest.get("device", "?")),
            **self._engine_lines(str(cfg.get("precision", "fp32"))),
        }

    def _engine_lines(self, precision: str) -> dict[str, str]:
        """``precision`` (with the measured agreement with fp32 below fp32) and, where the manifest
        records it (``models.<name>.engine``, :mod:`freqbench.engine.fast`), the ``engine`` path."""
        models = self.manifest.get("models", {})
        engines = {
            name: m["engine"]
            for name, m in (models.items() if isinstance(models, Mapping) else ())
            if isinstance(m, Mapping) and isinstance(m.get("engine"), Mapping)
        }
        line = precision
        if precision != "fp32":
            line += " autocast (attacks: fp32)"
            agree = [
                f"{name} {100 * float(e['agreement']):.2f}% of {e.get('probe_images', '?')}"
                for name, e in engines.items()
                if isinstance(e.get("agreement"), int | float)
            ]
            if agree:
                line += "; predictions agreeing with fp32 on the probe images: " + ", ".join(agree)
        out = {"precision": line}
        paths = {name: _engine_path(e) for name, e in engines.items()}
        if paths:
            same = len(set(paths.values())) == 1
            out["engine"] = (
                next(iter(paths.values())) if same else "; ".join(f"{k}: {v}" for k, v in paths.items())
            )
        return out


def _engine_path(engine: Mapping[str, Any]) -> str:
    """``BN folded (19 layers), channels-last`` or ``eager``, and ``compile failed`` where it did."""
    steps = []
    if engine.get("bn_folded"):
        steps.append(f"BN folded ({engine.get('folded_layers', '?')} layers)")
    if engine.get("channels_last"):
        steps.append("channels-last")
    if engine.get("compiled"):
        steps.append("torch.compile")
    text = ", ".join(steps) or "eager"
    if engine.get("compile_error"):
        text += " (torch.compile failed: eager)"
    return text


def ordered(values: Iterable[H]) -> list[H]:
    """Unique values in order of first appearance."""
    return list(dict.fromkeys(values))


def metric_records(records: Iterable[Record], metric: str) -> list[Record]:
    return [r for r in records if r.metric == metric]


def is_signed(record: Record) -> bool:
    """Whether the record's condition fed the model values outside [0, 1] (its ``signed`` tag)."""
    return record.tags.get("signed") is True


def signed_label(label: str, signed: bool) -> str:
    """``label`` with :data:`SIGNED_MARK` when ``signed``."""
    return label + SIGNED_MARK if signed else label


def join_notes(*notes: str) -> str:
    """The non-empty notes, joined into one."""
    return "; ".join(n for n in notes if n)


def _significant(value: float, figures: int = 4) -> int:
    """Decimals that show ``value`` with ``figures`` significant figures (at least ``figures``)."""
    if not math.isfinite(value) or value == 0:
        return figures
    return max(figures, figures - 1 - math.floor(math.log10(abs(value))))


def probe_table(records: Sequence[Record], probe: str) -> Table:
    """The records of probe ``probe`` (suite ``probe:NAME``): one row per (model, condition), one
    column per metric, values with their 95% intervals (4 significant figures; units are each
    metric's own)."""
    recs = [r for r in records if r.suite == f"probe:{probe}"]
    metrics = list(dict.fromkeys(r.metric for r in recs))
    rows: dict[str, dict[str, Record]] = {}
    for r in recs:
        label = f"{r.model} · {r.condition}" if r.model else r.condition
        rows.setdefault(label, {})[r.metric] = r
    body = tuple(
        (
            label,
            tuple(
                Cell(cells[m].value, cells[m].ci_low, cells[m].ci_high, digits=_significant(cells[m].value))
                if m in cells
                else Cell(None)
                for m in metrics
            ),
        )
        for label, cells in rows.items()
    )
    return Table(
        title=f"probe {probe}",
        columns=tuple(metrics),
        rows=body,
        unit="",
        show_ci=True,
        row_header="model · condition",
        note="" if recs else f"no stored {probe} results",
    )


def condition_table(
    records: Sequence[Record], *, metric: str = "accuracy", title: str | None = None
) -> Table:
    """Rows = models, columns = conditions in stored (suite) order; signed conditions marked."""
    recs = metric_records(records, metric)
    models = ordered(r.model for r in recs)
    conds = ordered(r.condition for r in recs)
    signed = {r.condition for r in recs if is_signed(r)}
    by = {(r.model, r.condition): r for r in recs}
    scale = 100.0 if metric in PERCENT_METRICS else 1.0
    rows = []
    for m in models:
        cells = []
        for c in conds:
            r = by.get((m, c))
            cells.append(Cell(r.value * scale, r.ci_low * scale, r.ci_high * scale) if r else Cell(None))
        rows.append((m, tuple(cells)))
    return Table(
        title=title or f"{metric} per condition",
        columns=tuple(signed_label(c, c in signed) for c in conds),
        rows=tuple(rows),
        unit="%" if metric in PERCENT_METRICS else "",
        note=SIGNED_NOTE if signed else "",
    )
