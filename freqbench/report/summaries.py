"""Summary tables named by suites (``Suite.summaries``), computed from records and their tags.

- ``per_group``: one table per condition group (``low_pass_ideal`` ...) with its parameters as columns.
- ``mean_accuracy``: clean accuracy and the mean over all non-clean conditions (CIFAR-10-C's usual
  figure: mean over 15 corruptions x 5 severities, no AlexNet normalisation).
- ``per_corruption`` / ``per_severity``: means over severities / over corruptions.
- ``mce``: corruption error and relative corruption error against a baseline model that must be
  named explicitly (``--baseline``), never an implicit row (Hendrycks & Dietterich 2019):
  CE_c = sum_s E(s,c) / sum_s E_base(s,c); relative CE_c = sum_s (E(s,c) - E_clean) /
  sum_s (E_base(s,c) - E_base,clean); mCE = mean over corruptions.
- ``robust_accuracy``: accuracy per attack condition with its Wilson 95% interval.
- ``accuracy_vs_eps``: accuracy against epsilon, one row per (model, attack).
- ``delta_spectrum``: fraction of perturbation energy in the low / mid / high radial bands.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from freqbench.registry import Registry
from freqbench.report.tables import Cell, ReportContext, Table, condition_table, metric_records, ordered
from freqbench.store.run import Record

Summary = Callable[[Sequence[Record], ReportContext], list[Table]]
SUMMARIES: Registry[Summary] = Registry("summary")


def _acc(records: Sequence[Record]) -> list[Record]:
    return metric_records(records, "accuracy")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pct(v: float | None) -> Cell:
    return Cell(None if v is None else 100.0 * v)


def _clean(records: Sequence[Record], model: str) -> float | None:
    return next((r.value for r in _acc(records) if r.model == model and r.condition == "clean"), None)


@SUMMARIES.register("per_group")
def per_group(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    acc = _acc(records)
    groups = ordered(
        str(r.tags.get("group", r.condition.split("@")[0])) for r in acc if r.condition != "clean"
    )
    tables = []
    for grp in groups:
        recs = [r for r in acc if str(r.tags.get("group", r.condition.split("@")[0])) == grp]
        cols = ordered(r.condition.partition("@")[2] or r.condition for r in recs)
        models = ordered(r.model for r in acc)
        by = {(r.model, r.condition.partition("@")[2] or r.condition): r for r in recs}
        rows = []
        for m in models:
            clean = _clean(records, m)
            cells = [_pct(clean)] + [_pct(by[(m, c)].value if (m, c) in by else None) for c in cols]
            rows.append((m, tuple(cells)))
        tables.append(Table(title=f"{grp}: accuracy", columns=("clean", *cols), rows=tuple(rows)))
    return tables


@SUMMARIES.register("mean_accuracy")
def mean_accuracy(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    acc = _acc(records)
    rows = []
    for m in ordered(r.model for r in acc):
        vals = [r.value for r in acc if r.model == m and r.condition != "clean"]
        rows.append((m, (_pct(_clean(records, m)), _pct(_mean(vals)), Cell(float(len(vals)), digits=0))))
    return [
        Table(
            title="mean accuracy over conditions",
            columns=("clean", "mean", "conditions"),
            rows=tuple(rows),
            note="mean: unweighted mean of the accuracies of all non-clean conditions",
        )
    ]


def _by_tag(records: Sequence[Record], tag: str, title: str) -> list[Table]:
    acc = [r for r in _acc(records) if tag in r.tags]
    if not acc:
        return []
    cols = ordered(str(r.tags[tag]) for r in acc)
    rows = []
    for m in ordered(r.model for r in _acc(records)):
        vals: dict[str, list[float]] = defaultdict(list)
        for r in acc:
            if r.model == m:
                vals[str(r.tags[tag])].append(r.value)
        allv = [v for vs in vals.values() for v in vs]
        cells = [_pct(_clean(records, m)), *[_pct(_mean(vals[c])) for c in cols], _pct(_mean(allv))]
        rows.append((m, tuple(cells)))
    return [Table(title=title, columns=("clean", *cols, "mean"), rows=tuple(rows))]


@SUMMARIES.register("per_corruption")
def per_corruption(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    return _by_tag(records, "corruption", "accuracy per corruption (mean over severities)")


@SUMMARIES.register("per_severity")
def per_severity(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    return _by_tag(records, "severity", "accuracy per severity (mean over corruptions)")


def _errors(records: Sequence[Record], model: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for r in _acc(records):
        if r.model == model and "corruption" in r.tags:
            out[str(r.tags["corruption"])][str(r.tags.get("severity"))] = 1.0 - r.value
    return out


@SUMMARIES.register("mce")
def mce(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    baseline = ctx.options.get("baseline")
    models = ordered(r.model for r in _acc(records))
    if not baseline:
        return []
    if baseline not in models:
        return [
            Table(
                title="mCE",
                columns=(),
                rows=(),
                note=f"baseline {baseline!r} is not among the models of this run ({', '.join(models)}): "
                "add it with --model so mCE can be computed",
            )
        ]
    base = _errors(records, baseline)
    base_clean = 1.0 - (_clean(records, baseline) or 0.0)
    corruptions = list(base)
    rows = []
    for m in models:
        err = _errors(records, m)
        clean = 1.0 - (_clean(records, m) or 0.0)
        ce, rce = [], []
        for c in corruptions:
            sev = [s for s in base[c] if s in err.get(c, {})]
            if not sev:
                continue
            den = sum(base[c][s] for s in sev)
            rden = sum(base[c][s] - base_clean for s in sev)
            ce.append(sum(err[c][s] for s in sev) / den if den else float("nan"))
            rce.append(sum(err[c][s] - clean for s in sev) / rden if rden else float("nan"))
        rows.append((m, (_pct(_mean(ce)), _pct(_mean(rce)))))
    return [
        Table(
            title=f"mCE against {baseline}",
            columns=("mCE", "relative mCE"),
            rows=tuple(rows),
            note="CE normalised per corruption by the named baseline's errors (100 = baseline)",
        )
    ]


@SUMMARIES.register("robust_accuracy")
def robust_accuracy(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    t = condition_table(records, title="robust accuracy (Wilson 95% interval)")
    impl = ordered(
        f"{r.condition}: {r.info['implementation']}" for r in _acc(records) if r.info.get("implementation")
    )
    note = "implementations: " + "; ".join(impl) if impl else ""
    rate = condition_table(
        [r for r in records if r.condition != "clean"],
        metric="success_rate",
        title="attack success rate on initially correct samples (Wilson 95% interval)",
    )
    return [
        Table(t.title, t.columns, t.rows, unit="%", note=note, show_ci=True),
        Table(rate.title, rate.columns, rate.rows, unit="%", show_ci=True),
    ]


@SUMMARIES.register("accuracy_vs_eps")
def accuracy_vs_eps(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    acc = [r for r in _acc(records) if "eps" in r.tags and r.tags.get("band", "full") == "full"]
    if not acc:
        return []
    attacks = ordered(str(r.tags.get("attack", r.condition.split("@")[0])) for r in acc)
    tables = []
    for attack in attacks:
        recs = [r for r in acc if str(r.tags.get("attack", r.condition.split("@")[0])) == attack]
        cols = ordered(str(r.tags["eps"]) for r in recs)
        by = {(r.model, str(r.tags["eps"])): r for r in recs}
        rows = []
        for m in ordered(r.model for r in _acc(records)):
            cells = [_pct(_clean(records, m))] + [
                _pct(by[(m, c)].value if (m, c) in by else None) for c in cols
            ]
            rows.append((m, tuple(cells)))
        tables.append(Table(title=f"{attack}: accuracy vs eps", columns=("0", *cols), rows=tuple(rows)))
    return tables


@SUMMARIES.register("delta_spectrum")
def delta_spectrum(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    bands = ("low", "mid", "high")
    recs = [r for r in records if r.metric.startswith("delta_energy_")]
    if not recs:
        return []
    by = {(r.model, r.condition, r.metric.removeprefix("delta_energy_")): r.value for r in recs}
    rows = []
    for m, c in ordered((r.model, r.condition) for r in recs):
        rows.append((f"{m} · {c}", tuple(_pct(by.get((m, c, b))) for b in bands)))
    return [
        Table(
            title="perturbation energy by radial band (delta = x' - x)",
            columns=("low", "mid", "high"),
            rows=tuple(rows),
            row_header="model · condition",
            note="bands: radius <= 1/3, 1/3-2/3, > 2/3 of the Nyquist radius (cycles per image)",
        )
    ]
