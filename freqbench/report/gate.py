"""The regression gate behind ``freqbench check``: a run's records against committed baseline records.

Records are matched by (model, dataset, condition, metric) and compared only when everything else that
decides them agrees: the suite, ``n`` and the record's ``scope`` (split, limit, subset fingerprint, seed,
suite version, weights; see :func:`freqbench.engine.loop.record_scope`). Any disagreement, a baseline
dataset the run does not hold, or records without a scope (written before freqbench stored it) is a
:class:`~freqbench.errors.StoreError` naming the differing fields: such a comparison would only look
like a result. Comparable records are flagged when their value moved by more than the tolerance in
*either* direction (a weaker corruption is as much a bug as a weaker model), or when one side is not
finite; baseline records absent from the run are flagged as missing.

The tolerance is in the unit tables show: percentage points for fractions shown in percent
(:data:`~freqbench.report.tables.PERCENT_METRICS`: accuracy, success_rate), the metric's own unit
otherwise; differences within 1e-9 of it count as equal (floating-point noise at the boundary).

Torch-free: a baseline is checked anywhere the records are.
"""

from __future__ import annotations

import json
import math
import numbers
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqbench.errors import ConfigError, MissingDataError, StoreError
from freqbench.report.tables import PERCENT_METRICS
from freqbench.store.run import Record, RunStore

DEFAULT_METRICS = ("accuracy",)
#: fields of a record, besides its scope, that must agree for it to be compared
COMPARED_FIELDS = ("suite", "n")
_SLACK = 1e-9

Key = tuple[str, str, str, str]  # model, dataset, condition, metric


def _scale(metric: str) -> float:
    return 100.0 if metric in PERCENT_METRICS else 1.0


def _unit(metric: str) -> str:
    return "points" if metric in PERCENT_METRICS else "units"


def _show(metric: str, value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{100 * value:.2f}%" if metric in PERCENT_METRICS else f"{value:.6g}"


@dataclass(frozen=True)
class Finding:
    """One baseline record the run fails: ``missing``, ``dropped``, ``rose`` or ``changed`` (not finite)."""

    kind: str
    model: str
    dataset: str
    condition: str
    metric: str
    baseline: float
    value: float | None = None

    def line(self, tolerance: float) -> str:
        where = f"{self.model} / {self.dataset} / {self.condition} {self.metric}"
        base = _show(self.metric, self.baseline)
        if self.value is None:
            return f"missing: {where} (baseline {base})"
        now = _show(self.metric, self.value)
        if self.kind == "changed":
            return f"changed: {where}: {now} vs baseline {base} (not comparable: not finite)"
        diff = _scale(self.metric) * (self.value - self.baseline)
        sign = "<" if diff < 0 else ">"
        return (
            f"{self.kind}: {where}: {now} {sign} baseline {base} "
            f"({diff:+.2f} {_unit(self.metric)}, tolerance {tolerance:g})"
        )


@dataclass(frozen=True)
class GateResult:
    """What the gate found.

    Attributes:
        findings: the failures, in baseline order; empty when the run passed.
        checked: baseline records compared.
        metrics: the metrics compared.
        tolerance: the allowed change (points for percent metrics, units otherwise).
        unchecked: run records of these metrics that the baseline does not hold (not a failure).
    """

    findings: tuple[Finding, ...]
    checked: int
    metrics: tuple[str, ...]
    tolerance: float
    unchecked: int = 0

    @property
    def passed(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        return [f.line(self.tolerance) for f in self.findings]


# reading ------------------------------------------------------------------------------------------
def _check_record(rec: Record, where: str) -> Record:
    value_ok = isinstance(rec.value, numbers.Real) and not isinstance(rec.value, bool)
    n_ok = isinstance(rec.n, int) and not isinstance(rec.n, bool)
    names_ok = all(isinstance(v, str) for v in (rec.model, rec.dataset, rec.suite, rec.condition, rec.metric))
    if not (value_ok and n_ok and names_ok and isinstance(rec.scope, Mapping)):
        raise StoreError(
            f"{where} is not a valid record (value {rec.value!r}, n {rec.n!r}): values must be numbers, "
            "n an integer, names strings; regenerate the file from a run (`cp RUN_DIR/records.jsonl ...`)"
        )
    return rec


def read_baseline(path: Path | str) -> list[Record]:
    """Every record of a baseline JSONL file, strictly: a committed file has no partial lines.

    Raises:
        MissingDataError: no such file.
        StoreError: a directory, binary data, or a line that is not a complete record.
    """
    path = Path(path)
    hint = f"create one from a run with `cp RUN_DIR/records.jsonl {path}`"
    if path.is_dir():
        raise StoreError(f"baseline {path} is a directory, expected a records file (JSONL); {hint}")
    if not path.is_file():
        raise MissingDataError(f"baseline file {path} not found; {hint}")
    data = path.read_bytes()
    binary = f"baseline {path} holds binary data, not JSONL records"
    nul = data.find(b"\0")
    if nul >= 0:
        raise StoreError(f"{binary} (a NUL byte at offset {nul}); {hint}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StoreError(f"{binary} (no UTF-8 at offset {e.start}); {hint}") from e
    out: list[Record] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"baseline {path}:{lineno}"
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise TypeError(f"a JSON {type(obj).__name__}, not an object")
            rec = Record.from_dict(obj)
        except (json.JSONDecodeError, TypeError) as e:
            raise StoreError(f"{where} is not a valid record ({e}); {hint}") from e
        out.append(_check_record(rec, where))
    return out


def read_run(run_dir: Path | str) -> list[Record]:
    """The records of a run directory.

    Raises:
        StoreError: the directory does not exist or is not a run directory (no manifest).
    """
    root = Path(run_dir)
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise StoreError(f"run directory {root} {what}; pass the --out directory of a `freqbench run`")
    store = RunStore(root)
    store.read_manifest()  # raises "not a freqbench run directory"
    return [_check_record(r, f"{store.records_path} record") for r in store.records()]


# comparing ----------------------------------------------------------------------------------------
def check_tolerance(tolerance: float) -> float:
    """The tolerance, if finite and >= 0."""
    if not (isinstance(tolerance, numbers.Real) and math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError(
            f"--tolerance must be a finite number >= 0 (percentage points for accuracy), got {tolerance!r}"
        )
    return float(tolerance)


def _identity(rec: Record) -> dict[str, Any]:
    return {**{f: getattr(rec, f) for f in COMPARED_FIELDS}, **rec.scope}


def _index(records: Iterable[Record], metrics: Sequence[str], label: str) -> dict[Key, Record]:
    """Records by key; exact duplicates collapse, differing ones are a mixed directory or file."""
    out: dict[Key, Record] = {}
    for rec in records:
        if rec.metric not in metrics:
            continue
        key = (rec.model, rec.dataset, rec.condition, rec.metric)
        old = out.setdefault(key, rec)
        if not (_same_value(old.value, rec.value) and _identity(old) == _identity(rec)):
            raise StoreError(
                f"{label} holds two different {rec.metric} records for {rec.model} / {rec.dataset} / "
                f"{rec.condition} (values {old.value!r} and {rec.value!r}): it mixes runs; gate a run "
                "directory of one configuration (rerun into a fresh --out)"
            )
    return out


def _same_value(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _differences(run: Record, base: Record) -> list[tuple[str, str, str]]:
    """(field, run value, baseline value) for each field that decides the records and differs."""
    if not run.scope or not base.scope:
        return [("scope", "recorded" if run.scope else "absent", "recorded" if base.scope else "absent")]
    a, b = _identity(run), _identity(base)
    return [(k, repr(a.get(k)), repr(b.get(k))) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _mismatch(
    run_label: str, base_label: str, diffs: Counter[tuple[str, str, str]], example: str
) -> StoreError:
    shown = [f"{f} {a} (run) vs {b} (baseline) in {n} record(s)" for (f, a, b), n in diffs.most_common(4)]
    more = len(diffs) - len(shown)
    note = (
        " (records without a scope were written before freqbench stored what decides them)"
        if any(f == "scope" for f, _, _ in diffs)
        else ""
    )
    return StoreError(
        f"{run_label} cannot be compared with {base_label}: "
        + "; ".join(shown)
        + (f"; and {more} more difference(s)" if more > 0 else "")
        + f"{note}, e.g. {example}. Rerun with the baseline's settings, or regenerate the baseline "
        "by the command that made it"
    )


def compare(
    run: Sequence[Record],
    baseline: Sequence[Record],
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    tolerance: float = 0.0,
    run_label: str = "the run",
    baseline_label: str = "the baseline",
) -> GateResult:
    """Compare ``run`` with ``baseline`` records (see the module docstring).

    Raises:
        ConfigError: a bad tolerance, no metric, or a metric the baseline does not hold.
        StoreError: the records are not comparable (with the differing fields), or one side mixes runs.
    """
    tol = check_tolerance(tolerance)
    wanted = tuple(dict.fromkeys(metrics))
    if not wanted:
        raise ConfigError("--metric needs at least one metric name, e.g. --metric accuracy")
    held = sorted({r.metric for r in baseline})
    absent = [m for m in wanted if m not in held]
    if absent:
        raise ConfigError(
            f"{baseline_label} holds no {', '.join(absent)} records; it holds {', '.join(held) or 'none'}"
        )
    base = _index(baseline, wanted, baseline_label)
    now = _index(run, wanted, run_label)
    run_datasets = sorted({k[1] for k in now})
    for ds in sorted({k[1] for k in base}):
        if ds not in run_datasets:
            raise StoreError(
                f"{run_label} cannot be compared with {baseline_label}: the baseline is on dataset {ds!r}, "
                f"the run on {', '.join(map(repr, run_datasets)) or 'nothing (it holds no such records)'}. "
                "Rerun with the baseline's --dataset, or regenerate the baseline"
            )
    diffs: Counter[tuple[str, str, str]] = Counter()
    example = ""
    findings: list[Finding] = []
    for key, b in base.items():
        r = now.get(key)
        if r is None:
            findings.append(Finding("missing", *key, baseline=b.value))
            continue
        d = _differences(r, b)
        if d:
            diffs.update(d)
            example = example or " / ".join(key)
            continue
        if _same_value(r.value, b.value):
            continue
        if not (math.isfinite(r.value) and math.isfinite(b.value)):
            findings.append(Finding("changed", *key, baseline=b.value, value=r.value))
            continue
        diff = _scale(b.metric) * (r.value - b.value)
        if abs(diff) > tol + _SLACK:
            findings.append(Finding("dropped" if diff < 0 else "rose", *key, baseline=b.value, value=r.value))
    if diffs:
        raise _mismatch(run_label, baseline_label, diffs, example)
    unchecked = sum(1 for k in now if k not in base)
    return GateResult(tuple(findings), checked=len(base), metrics=wanted, tolerance=tol, unchecked=unchecked)


def check_run(
    run_dir: Path | str,
    baseline: Path | str,
    *,
    tolerance: float = 0.0,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> GateResult:
    """``freqbench check``: the records of ``run_dir`` against the baseline file."""
    tol = check_tolerance(tolerance)  # before any file is read
    run = read_run(run_dir)
    base = read_baseline(baseline)
    return compare(
        run,
        base,
        metrics=metrics,
        tolerance=tol,
        run_label=f"run {run_dir}",
        baseline_label=f"baseline {baseline}",
    )


__all__ = [
    "DEFAULT_METRICS",
    "Finding",
    "GateResult",
    "check_run",
    "check_tolerance",
    "compare",
    "read_baseline",
]
