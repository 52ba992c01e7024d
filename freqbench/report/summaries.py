"""Summary tables named by suites (``Suite.summaries``), computed from records and their tags.

- ``per_group``: one table per condition group (``low_pass_ideal`` ...) with its parameters as columns.
- ``mean_accuracy``: clean accuracy and the mean over all non-clean conditions (CIFAR-10-C's usual
  figure: mean over 15 corruptions x 5 severities, no AlexNet normalisation).
- ``per_corruption`` / ``per_severity``: means over severities / over corruptions.
- ``mce``: corruption error and relative corruption error against a baseline model that must be
  named explicitly (``--baseline``), never an implicit row (Hendrycks & Dietterich 2019):
  CE_c = sum_s E(s,c) / sum_s E_base(s,c); relative CE_c = sum_s (E(s,c) - E_clean) /
  sum_s (E_base(s,c) - E_base,clean); mCE = mean over corruptions. Every model must hold the clean
  accuracy and exactly the baseline's (corruption, severity) conditions: an incomplete model would be
  averaged over a different set, so :func:`corruption_errors` raises
  :class:`~freqbench.errors.MissingResultError` naming what is missing, and the report shows that
  message in place of the mCE table (the other tables still render).
- ``clamping``: per clamped condition (low-pass, phase scrambling) the share of pixels the final clamp
  to [0, 1] changed, the relative L2 change of the image and, for phase scrambling, of its amplitude
  spectrum (the diagnostics of :mod:`freqbench.perturbations.frequency`).
- ``robust_accuracy``: accuracy per attack condition with its Wilson 95% interval.
- ``accuracy_vs_eps``: accuracy against epsilon, one row per (model, attack).
- ``delta_spectrum``: fraction of perturbation energy in the low / mid / high radial bands.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from freqbench.errors import MissingResultError
from freqbench.registry import Registry
from freqbench.report.tables import (
    SIGNED_NOTE,
    Cell,
    ReportContext,
    Table,
    condition_table,
    is_signed,
    join_notes,
    metric_records,
    ordered,
    signed_label,
)
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
        signed = any(is_signed(r) for r in recs)
        tables.append(
            Table(
                title=signed_label(f"{grp}: accuracy", signed),
                columns=("clean", *cols),
                rows=tuple(rows),
                note=SIGNED_NOTE if signed else "",
            )
        )
    return tables


@SUMMARIES.register("mean_accuracy")
def mean_accuracy(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    acc = _acc(records)
    rows = []
    for m in ordered(r.model for r in acc):
        vals = [r.value for r in acc if r.model == m and r.condition != "clean"]
        rows.append((m, (_pct(_clean(records, m)), _pct(_mean(vals)), Cell(float(len(vals)), digits=0))))
    n_signed = len({r.condition for r in acc if is_signed(r)})
    note = "mean: unweighted mean of the accuracies of all non-clean conditions"
    if n_signed:
        note += f", {n_signed} of them signed; {SIGNED_NOTE}"
    return [
        Table(
            title="mean accuracy over conditions",
            columns=("clean", "mean", "conditions"),
            rows=tuple(rows),
            note=note,
        )
    ]


def _by_tag(records: Sequence[Record], tag: str, title: str) -> list[Table]:
    acc = [r for r in _acc(records) if tag in r.tags]
    if not acc:
        return []
    cols = ordered(str(r.tags[tag]) for r in acc)
    signed = {str(r.tags[tag]) for r in acc if is_signed(r)}
    rows = []
    for m in ordered(r.model for r in _acc(records)):
        vals: dict[str, list[float]] = defaultdict(list)
        for r in acc:
            if r.model == m:
                vals[str(r.tags[tag])].append(r.value)
        allv = [v for vs in vals.values() for v in vs]
        cells = [_pct(_clean(records, m)), *[_pct(_mean(vals[c])) for c in cols], _pct(_mean(allv))]
        rows.append((m, tuple(cells)))
    columns = ("clean", *(signed_label(c, c in signed) for c in cols), "mean")
    return [Table(title=title, columns=columns, rows=tuple(rows), note=SIGNED_NOTE if signed else "")]


@SUMMARIES.register("per_corruption")
def per_corruption(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    return _by_tag(records, "corruption", "accuracy per corruption (mean over severities)")


@SUMMARIES.register("per_severity")
def per_severity(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    return _by_tag(records, "severity", "accuracy per severity (mean over corruptions)")


@dataclass(frozen=True)
class CorruptionErrors:
    """mCE and relative mCE of one model against the baseline, as fractions (1.0 = the baseline)."""

    mce: float
    relative_mce: float


def _corruption_cells(records: Sequence[Record], model: str) -> dict[tuple[str, str], Record]:
    """The model's accuracy records of corruption conditions by (corruption, severity)."""
    return {
        (str(r.tags["corruption"]), str(r.tags.get("severity"))): r
        for r in _acc(records)
        if r.model == model and "corruption" in r.tags
    }


def corruption_errors(records: Sequence[Record], baseline: str) -> dict[str, CorruptionErrors]:
    """mCE and relative mCE per model against ``baseline`` (Hendrycks & Dietterich 2019).

    Errors are ``E = 1 - accuracy``. For each corruption c over its severities s:
    CE_c = sum_s E(s,c) / sum_s E_base(s,c) and relative CE_c = sum_s (E(s,c) - E_clean) /
    sum_s (E_base(s,c) - E_base,clean); mCE and relative mCE are their unweighted means over c.

    Raises:
        MissingResultError: the baseline has no corruption records, or a model (the baseline
            included) lacks its clean accuracy or holds a different set of (corruption, severity)
            conditions than the baseline; the message names each missing record.
    """
    models = ordered(r.model for r in _acc(records))
    cells = {m: _corruption_cells(records, m) for m in models}
    base = cells.get(baseline, {})
    if not base:
        raise MissingResultError(
            f"mCE against {baseline}: the baseline has no corruption accuracy records in this run; "
            f"evaluate {baseline} on the corruption suite (--model {baseline})"
        )
    problems = []
    for m in models:
        missing = ["clean"] if _clean(records, m) is None else []
        missing += [base[cs].condition for cs in base if cs not in cells[m]]
        extra = [r.condition for cs, r in cells[m].items() if cs not in base]
        if missing:
            problems.append(f"{m} lacks {', '.join(missing)}")
        if extra:
            problems.append(f"{baseline} (the baseline) lacks {', '.join(extra)} that {m} has")
    if problems:
        raise MissingResultError(
            f"mCE against {baseline} needs every model's clean accuracy and the same corruption "
            f"conditions as the baseline: {'; '.join(problems)}. Complete the run (rerunning "
            "`freqbench run` with the same --out evaluates only what is missing) or leave the model out"
        )
    corruptions = ordered(c for c, _ in base)
    base_clean = 1.0 - (_clean(records, baseline) or 0.0)
    out = {}
    for m in models:
        clean = 1.0 - (_clean(records, m) or 0.0)
        ce, rce = [], []
        for c in corruptions:
            sev = [s for cc, s in base if cc == c]
            err = [1.0 - cells[m][(c, s)].value for s in sev]
            err_base = [1.0 - base[(c, s)].value for s in sev]
            den, rden = sum(err_base), sum(e - base_clean for e in err_base)
            ce.append(sum(err) / den if den else float("nan"))
            rce.append(sum(e - clean for e in err) / rden if rden else float("nan"))
        out[m] = CorruptionErrors(sum(ce) / len(ce), sum(rce) / len(rce))
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
    try:
        errors = corruption_errors(records, baseline)
    except MissingResultError as err:
        # the message takes the table's place; the report's other tables still render
        return [Table(title=f"mCE against {baseline}", columns=(), rows=(), note=f"not computed: {err}")]
    rows = [(m, (_pct(e.mce), _pct(e.relative_mce))) for m, e in errors.items()]
    return [
        Table(
            title=f"mCE against {baseline}",
            columns=("mCE", "relative mCE"),
            rows=tuple(rows),
            note="CE normalised per corruption by the named baseline's errors (100 = baseline)",
        )
    ]


@SUMMARIES.register("clamping")
def clamping(records: Sequence[Record], ctx: ReportContext) -> list[Table]:
    """Per clamped condition: pixels changed by the clamp to [0, 1] and the amplitude error it made."""
    metrics = ("clamped_fraction", "clamp_error", "amplitude_error")
    recs = [r for r in records if r.metric in metrics]
    if not recs:
        return []
    by = {(r.model, r.condition, r.metric): r for r in recs}
    rows = []
    for m, c in ordered((r.model, r.condition) for r in recs):
        cells = []
        for metric in metrics:
            r = by.get((m, c, metric))
            cells.append(Cell(100 * r.value, 100 * r.ci_low, 100 * r.ci_high) if r else Cell(None))
        rows.append((f"{m} · {c}", tuple(cells)))
    return [
        Table(
            title="clamping of the perturbed images to [0, 1] (mean over samples, 95% interval)",
            columns=("clamped pixels", "image change", "amplitude error"),
            rows=tuple(rows),
            row_header="model · condition",
            show_ci=True,
            note="pre: the image before the clamp, out: after it; clamped pixels: share of values of pre "
            "outside [0, 1]; image change: ||out - pre||_2 / ||pre||_2; amplitude error: "
            "||(|F(out)| - |F(pre)|)||_2 / |||F(pre)|||_2, how far the clamp moved the amplitude spectrum "
            "that phase scrambling keeps only before it",
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
        Table(t.title, t.columns, t.rows, unit="%", note=join_notes(note, t.note), show_ci=True),
        Table(rate.title, rate.columns, rate.rows, unit="%", note=rate.note, show_ci=True),
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
    """Energy-weighted band fractions per condition, and the out-of-band energy of band attacks."""
    bands = ("low", "mid", "high")
    metrics = {f"delta_energy_{b}": b for b in bands}
    recs = [r for r in records if r.metric in metrics]
    if not recs:
        return []
    by = {(r.model, r.condition, metrics[r.metric]): r.value for r in recs}
    leak = {(r.model, r.condition): r.value for r in records if r.metric == "out_of_band_energy"}
    rows = []
    for m, c in ordered((r.model, r.condition) for r in recs):
        out = leak.get((m, c))
        outside = Cell(None if out is None else 100.0 * out, digits=4)
        cells = (*(_pct(by.get((m, c, b))) for b in bands), outside)
        rows.append((f"{m} · {c}", cells))
    return [
        Table(
            title="perturbation energy by radial band (delta = x' - x)",
            columns=("low", "mid", "high", "outside band"),
            rows=tuple(rows),
            row_header="model · condition",
            note=(
                "low / mid / high: energy-weighted over the dataset (each band's share of all the "
                "condition's perturbation energy, so larger perturbations weigh more; the mean of the "
                "per-sample fractions is in the records delta_energy_<band>_mean); bands by the exact "
                "radius: <= 1/3, 1/3-2/3, > 2/3 of the Nyquist radius (cycles per image). outside band: "
                "band-constrained attacks only, the mean over samples of the fraction of delta's energy "
                "outside the attack's own band (promised <= 0.01%)"
            ),
        )
    ]
