"""Cross-model links (freqbench.report.links): Spearman rho, p and the bootstrap interval against
scipy and an independent numpy loop; the fewer-than-four rule; disagreeing runs; joins across run
directories written through the store's own writer (no engine, no torch).

Records have the shapes the probes and suites write (freqbench.api.probe_runner and the probes'
measures(), and real
``freqbench run`` records: corruption conditions tagged ``corruption``, attacks ``kind: attack``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from freqbench.config import RunConfig
from freqbench.errors import ConfigError, MissingResultError
from freqbench.report.frame import StoredRun, read_run
from freqbench.report.links import Link, Links, links
from freqbench.report.tables import Table
from freqbench.store.run import Record, RunStore

FILTER = "first-layer filter statistic"
HEATMAP = "heat-map high-frequency error"
MASK = "dataset-mask energy above r"
MODELS = [f"m{i}" for i in range(8)]
# ties on both sides (0.012, 0.88 twice), moderate negative association
FILT = [0.010, 0.012, 0.012, 0.015, 0.011, 0.020, 0.013, 0.009]
CLEAN = [0.91, 0.88, 0.88, 0.86, 0.80, 0.70, 0.89, 0.84]


def rec(
    model: str,
    condition: str,
    metric: str,
    value: float,
    *,
    suite: str,
    key: str,
    dataset: str = "d",
    **tags: object,
) -> Record:
    return Record(
        model=model,
        dataset=dataset,
        suite=suite,
        condition=condition,
        metric=metric,
        value=value,
        n=100,
        ci_low=value,
        ci_high=value,
        key=key,
        tags=dict(tags),
    )


def probe_rec(
    model: str, probe: str, condition: str, metric: str, value: float, *, dataset: str, **tags: object
) -> Record:
    """A probe record: one content key per (model, dataset, probe) unit, the contract's tags."""
    key = f"{probe}-{model}-{dataset}"
    return rec(model, condition, metric, value, suite=f"probe:{probe}", key=key, dataset=dataset,
               kind="probe", probe=probe, **tags)  # fmt: skip


def filter_records(model: str, first: float, *, dataset: str = "d") -> list[Record]:
    """A filter_spectrum unit: the first layer and a later one (which links must not take)."""
    return [
        probe_rec(
            model,
            "filter_spectrum",
            "layer=conv1",
            "filter_statistic",
            first,
            dataset=dataset,
            layer="conv1",
            order=0,
            first_layer=True,
        ),  # fmt: skip
        probe_rec(
            model,
            "filter_spectrum",
            "layer=layer1.conv",
            "filter_statistic",
            1.0 - first,
            dataset=dataset,
            layer="layer1.conv",
            order=1,
            first_layer=False,
        ),  # fmt: skip
    ]


def heatmap_records(model: str, high: float, *, dataset: str = "d") -> list[Record]:
    values = (("clean_error", 0.1), ("mean_error", high / 2), ("high_frequency_error", high))
    return [
        probe_rec(model, "fourier_heatmap", "map", m, v, dataset=dataset, high_radius=8.0) for m, v in values
    ]


def mask_records(model: str, energy: float, *, dataset: str = "d") -> list[Record]:
    values = (
        ("dataset_mask", "clean_accuracy", 0.9),
        ("dataset_mask", "mask_energy_above", energy),
        ("single_masks", "mask_energy_above", 1 - energy),
    )
    return [
        probe_rec(model, "fourier_mask", c, m, v, dataset=dataset, energy_radius=8.0) for c, m, v in values
    ]


def clean_records(model: str, acc: float, *, suite: str = "corruptions", dataset: str = "d") -> list[Record]:
    tags = {"group": "clean", "kind": "perturbation", "signed": False, "transform": "clean"}
    key = f"{suite}-clean-{model}-{dataset}"
    return [
        rec(model, "clean", "accuracy", acc, suite=suite, key=key, dataset=dataset, **tags),
        rec(model, "clean", "loss", 1 - acc, suite=suite, key=key, dataset=dataset, **tags),
    ]


def corruption_records(
    model: str, accs: dict[str, float], *, suite: str = "corruptions", dataset: str = "d"
) -> list[Record]:
    out = []
    for cond, acc in accs.items():
        name, sev = cond.split("@")
        tags = {"corruption": name, "kind": "perturbation", "severity": int(sev), "transform": name}
        key = f"{suite}-{cond}-{model}-{dataset}"
        out += [
            rec(model, cond, "accuracy", acc, suite=suite, key=key, dataset=dataset, **tags),
            rec(model, cond, "loss", 2.0, suite=suite, key=key, dataset=dataset, **tags),
        ]
    return out


def attack_records(model: str, accs: dict[str, float], *, dataset: str = "d") -> list[Record]:
    out = []
    for cond, acc in accs.items():
        attack, eps = cond.split("@eps=")
        tags = {"attack": attack, "band": "full", "eps": eps, "kind": "attack", "norm": "Linf"}
        key = f"adv-{cond}-{model}-{dataset}"
        out += [
            rec(model, cond, "accuracy", acc, suite="adversarial", key=key, dataset=dataset, **tags),
            rec(model, cond, "success_rate", 1 - acc, suite="adversarial", key=key, dataset=dataset, **tags),
        ]
    return out


def run(name: str, records: Sequence[Record]) -> StoredRun:
    return StoredRun(root=Path(f"/runs/{name}"), manifest={}, records=tuple(records))


def row(result: Links, statistic: str, metric: str) -> Link:
    (hit,) = [r for r in result.rows if r.statistic == statistic and r.metric == metric]
    return hit


def basic_runs() -> list[StoredRun]:
    probes = [r for m, f in zip(MODELS, FILT, strict=True) for r in filter_records(m, f)]
    suite = [r for m, c in zip(MODELS, CLEAN, strict=True) for r in clean_records(m, c)]
    return [run("probe", probes), run("suite", suite)]


def test_rho_and_p_match_scipy_with_ties() -> None:
    result = links(basic_runs(), resamples=50)
    got = row(result, FILTER, "clean accuracy (corruptions)")
    want = spearmanr(FILT, CLEAN)
    assert got.n_models == len(MODELS) and got.models == tuple((m, "d") for m in MODELS)
    assert got.rho == pytest.approx(want.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert (
        got.note == "" and got.rho is not None and -1 < got.rho < 0
    )  # the later layer (1 - first) would flip the sign


def test_perfect_correlation_has_p_zero_like_scipy() -> None:
    probes = [r for i, m in enumerate(MODELS[:5]) for r in heatmap_records(m, 0.1 * i)]
    suite = [r for i, m in enumerate(MODELS[:5]) for r in clean_records(m, 0.9 - 0.1 * i)]
    got = row(
        links([run("p", probes), run("s", suite)], resamples=20), HEATMAP, "clean accuracy (corruptions)"
    )
    want = spearmanr(np.arange(5), -np.arange(5))
    assert got.rho == pytest.approx(want.statistic) == -1.0 and got.p_value == pytest.approx(
        want.pvalue, abs=1e-12
    )


def reference_interval(
    x: Sequence[float], y: Sequence[float], resamples: int, seed: int
) -> tuple[float, float, int]:
    """Percentile bootstrap of Spearman's rho written out with a loop and scipy (the documented draws)."""
    x_arr, y_arr = np.asarray(x), np.asarray(y)
    n = len(x_arr)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    rhos = []
    for idx in draws:
        xs, ys = x_arr[idx], y_arr[idx]
        if len(set(xs.tolist())) == 1 or len(set(ys.tolist())) == 1:
            continue
        rhos.append(spearmanr(xs, ys).statistic)
    lo, hi = np.percentile(rhos, [2.5, 97.5])
    return float(lo), float(hi), len(rhos)


@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_interval_equals_an_independent_loop(seed: int) -> None:
    result = links(basic_runs(), resamples=400, seed=seed)
    got = row(result, FILTER, "clean accuracy (corruptions)")
    lo, hi, used = reference_interval(FILT, CLEAN, 400, seed)
    assert got.ci_low == pytest.approx(lo, abs=1e-12) and got.ci_high == pytest.approx(hi, abs=1e-12)
    assert got.resamples_used == used and 300 < used <= 400
    assert got.rho is not None and got.ci_low is not None and got.ci_high is not None
    assert got.ci_low <= got.rho <= got.ci_high and got.ci_low < got.ci_high


def test_small_samples_skip_constant_resamples() -> None:
    # n = 4 with two tied values: constant resamples are frequent, so skipping them matters
    x, y = [0.1, 0.2, 0.2, 0.4], [0.5, 0.5, 0.7, 0.9]
    probes = [r for m, v in zip(MODELS, x, strict=False) for r in mask_records(m, v)]
    suite = [r for m, v in zip(MODELS, y, strict=False) for r in clean_records(m, v)]
    got = row(
        links([run("p", probes), run("s", suite)], resamples=500, seed=3),
        MASK,
        "clean accuracy (corruptions)",
    )
    lo, hi, used = reference_interval(x, y, 500, 3)
    assert used < 450  # some were skipped
    assert (got.ci_low, got.ci_high, got.resamples_used) == (pytest.approx(lo), pytest.approx(hi), used)
    assert got.rho == pytest.approx(spearmanr(x, y).statistic)


def test_fewer_than_four_models_gives_no_number() -> None:
    # three models hold both values; m3 only the statistic, m4 only the metric
    probes = [r for m, v in zip(MODELS[:4], FILT, strict=False) for r in filter_records(m, v)]
    suite = [r for m in (*MODELS[:3], MODELS[4]) for r in clean_records(m, 0.5 + 0.1 * int(m[1]))]
    result = links([run("p", probes), run("s", suite)])
    got = row(result, FILTER, "clean accuracy (corruptions)")
    assert got.n_models == 3 and got.note == "fewer than four models (n=3): no correlation"
    assert got.rho is got.ci_low is got.ci_high is got.p_value is None
    table = result.table
    assert isinstance(table, Table) and table.columns == ("models", "rho", "95% low", "95% high", "p")
    label, cells = table.rows[0]
    assert label == f"{FILTER} vs clean accuracy (corruptions)"
    assert [c.text() for c in cells] == ["3", "–", "–", "–", "–"]
    assert "fewer than four models (n=3): no correlation (every row)" in table.note


def test_two_runs_that_disagree_are_an_error_and_runs_that_agree_count_once() -> None:
    base = [r for m, v in zip(MODELS[:5], FILT, strict=False) for r in heatmap_records(m, v)]
    suite = run("s", [r for m, v in zip(MODELS[:5], CLEAN, strict=False) for r in clean_records(m, v)])
    again = run("p2", heatmap_records("m2", FILT[2]))
    agreed = row(
        links([run("p1", base), again, suite], resamples=10), HEATMAP, "clean accuracy (corruptions)"
    )
    assert agreed.n_models == 5
    other = run("p2", heatmap_records("m2", FILT[2] + 0.001))
    with pytest.raises(
        ConfigError, match=r"m2 on d: heat-map high-frequency error .*/runs/p1.*/runs/p2.*disagree"
    ):
        links([run("p1", base), other, suite])


def test_clean_accuracy_of_two_runs_of_one_suite_must_agree() -> None:
    probes = run("p", [r for m, v in zip(MODELS[:4], FILT, strict=False) for r in filter_records(m, v)])
    a = run("a", [r for m in MODELS[:4] for r in clean_records(m, 0.8)])
    b = run("b", clean_records("m1", 0.7))
    with pytest.raises(ConfigError, match=r"m1 on d: accuracy under clean \(corruptions\) is 0.8 in /runs/a"):
        links([probes, a, b])
    # another suite measured on other samples is its own metric, not a disagreement
    c = run(
        "c", [r for m in MODELS[:4] for r in clean_records(m, 0.5 + 0.1 * int(m[1]), suite="adversarial")]
    )
    metrics = [r.metric for r in links([probes, a, c], resamples=10).rows]
    assert metrics == ["clean accuracy (corruptions)", "clean accuracy (adversarial)"]


def test_mean_corruption_and_robust_accuracy_rows() -> None:
    rng = np.random.default_rng(1)
    conds = ["contrast@1", "fog@1", "fog@3"]
    acc = rng.uniform(0.2, 0.9, size=(6, len(conds)))
    robust = rng.uniform(0.0, 0.5, size=(6, 2))
    probes, suite = [], []
    for i, m in enumerate(MODELS[:6]):
        probes += filter_records(m, FILT[i]) + heatmap_records(m, CLEAN[i])
        suite += clean_records(m, CLEAN[i]) + corruption_records(m, dict(zip(conds, acc[i], strict=True)))
        suite += attack_records(m, {"pgd_linf@eps=8/255": robust[i, 0], "fgsm@eps=8/255": robust[i, 1]})
    # m6 lacks fog@3: left out of the mean, named in the note
    suite += clean_records("m6", 0.5) + corruption_records("m6", {"contrast@1": 0.4, "fog@1": 0.3})
    probes += filter_records("m6", 0.5)
    result = links([run("p", probes), run("s", suite)], resamples=20)
    metrics = [
        "clean accuracy (corruptions)",
        "mean corruption accuracy (corruptions)",
        "robust accuracy pgd_linf@eps=8/255 (adversarial)",
        "robust accuracy fgsm@eps=8/255 (adversarial)",
    ]
    assert [(r.statistic, r.metric) for r in result.rows] == [
        (s, m) for s in (FILTER, HEATMAP) for m in metrics
    ]
    mean = row(result, FILTER, "mean corruption accuracy (corruptions)")
    assert mean.n_models == 6 and ("m6", "d") not in mean.models
    assert "left out of the mean corruption accuracy: m6 (d)" in mean.note
    assert mean.rho == pytest.approx(spearmanr(FILT[:6], acc.mean(axis=1)).statistic)
    pgd = row(result, HEATMAP, "robust accuracy pgd_linf@eps=8/255 (adversarial)")
    assert pgd.rho == pytest.approx(spearmanr(CLEAN[:6], robust[:, 0]).statistic)
    assert pgd.p_value == pytest.approx(spearmanr(CLEAN[:6], robust[:, 0]).pvalue)


def test_mean_corruption_without_a_majority_set_is_not_computed() -> None:
    probes = [r for m, v in zip(MODELS[:4], FILT, strict=False) for r in filter_records(m, v)]
    suite = []
    for i, m in enumerate(MODELS[:4]):
        suite += corruption_records(m, {"contrast@1": 0.5, ("fog@1" if i < 2 else "fog@2"): 0.1 * i})
    got = row(links([run("p", probes), run("s", suite)]), FILTER, "mean corruption accuracy (corruptions)")
    assert got.rho is None and got.n_models == 0
    assert (
        "no set is held by more models than another" in got.note
        and "fewer than four models (n=0)" in got.note
    )


def test_constant_side_and_non_finite_values() -> None:
    probes = [
        r for i, m in enumerate(MODELS[:6]) for r in filter_records(m, float("nan") if i == 0 else FILT[i])
    ]
    suite = [r for m in MODELS[:6] for r in clean_records(m, 0.8)]
    got = row(links([run("p", probes), run("s", suite)]), FILTER, "clean accuracy (corruptions)")
    assert got.rho is None and got.n_models == 5
    assert "left out (value not finite): m0 (d)" in got.note
    assert "clean accuracy (corruptions) is the same for all 5 models: no correlation" in got.note


def test_missing_sides_and_bad_options() -> None:
    probes = run("p", [r for m, v in zip(MODELS, FILT, strict=True) for r in filter_records(m, v)])
    suite = run("s", [r for m, v in zip(MODELS, CLEAN, strict=True) for r in clean_records(m, v)])
    with pytest.raises(MissingResultError, match="hold no probe statistic"):
        links([suite])
    with pytest.raises(MissingResultError, match="hold no suite accuracy"):
        links([probes])
    with pytest.raises(ConfigError, match="at least one run"):
        links([])
    with pytest.raises(ConfigError, match="resamples must be >= 1, got 0"):
        links([probes, suite], resamples=0)


def write_run(root: Path, suite: str, records: Sequence[Record]) -> Path:
    store = RunStore(root)
    with store.writing():
        store.recover()
        store.write_manifest({"config": RunConfig(suite=suite).to_dict(), "models": {}})
        by_key: dict[str, list[Record]] = {}
        for r in records:
            by_key.setdefault(r.key, []).append(r)
        for key, recs in by_key.items():
            store.write_condition(key, recs)
    return root


def test_joins_models_across_run_directories_on_name_and_dataset(tmp_path: Path) -> None:
    """Two probe runs split the models, one suite run holds them all; a model name on another dataset
    is another model (its values must not join the first's)."""
    energy = [0.3, 0.1, 0.4, 0.2, 0.5, 0.25]
    clean = [0.7, 0.9, 0.6, 0.85, 0.65, 0.8]
    models = MODELS[:6]
    p1 = [r for m, v in zip(models[:3], energy[:3], strict=True) for r in mask_records(m, v)]
    p2 = [r for m, v in zip(models[3:], energy[3:], strict=True) for r in mask_records(m, v)]
    p2 += mask_records("m0", 0.99, dataset="other")  # same name, other dataset: no clean accuracy there
    s = [r for m, v in zip(models, clean, strict=True) for r in clean_records(m, v)]
    s += clean_records("m1", 0.1, dataset="other")  # other dataset, no probe value: joins nothing
    dirs = [
        write_run(tmp_path / "probe-a", "probe:fourier_mask", p1),
        write_run(tmp_path / "probe-b", "probe:fourier_mask", p2),
        write_run(tmp_path / "suite", "corruptions", s),
    ]
    result = links([read_run(d) for d in dirs], resamples=200)
    got = row(result, MASK, "clean accuracy (corruptions)")
    assert got.models == tuple((m, "d") for m in models)
    assert got.rho == pytest.approx(spearmanr(energy, clean).statistic)
    assert got.p_value == pytest.approx(spearmanr(energy, clean).pvalue)
    assert (got.ci_low, got.ci_high) == tuple(
        pytest.approx(v) for v in reference_interval(energy, clean, 200, 0)[:2]
    )
    assert result.runs == tuple(dirs) and len(result.rows) == 1


def test_links_imports_no_torch() -> None:
    code = "import sys, freqbench.report.links; assert 'torch' not in sys.modules, 'torch imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
