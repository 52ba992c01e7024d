"""The engine tags every record with ``signed`` from ``Perturbation.signed``; reports read that tag."""

from __future__ import annotations

import torch

from freqbench.config import RunConfig
from freqbench.engine.loop import run_model
from freqbench.engine.progress import QuietProgress
from freqbench.perturbations import PERTURBATIONS
from freqbench.report.render import to_csv
from freqbench.store.run import RunStore
from freqbench.suites.base import CLEAN, Suite, condition

CONDITIONS = (
    condition("low_pass_ideal", r=4),
    condition("band_pass_gaussian", r=[2, 6]),
    condition("gaussian_residual", sigma=2.0),
    condition("phase_scramble", width=90.0),
)


def test_records_carry_the_perturbations_signed_flag(model, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = RunStore(tmp_path / "run")
    cfg = RunConfig(suite="t", out=tmp_path / "run", batch_size=16)
    suite = Suite("t", 1, (CLEAN, *CONDITIONS))
    run_model(
        model, data, suite, config=cfg, store=store, device=torch.device("cpu"), progress=QuietProgress()
    )
    recs = store.records()
    signed = {c.key: PERTURBATIONS.get(c.transform)(**c.params).signed for c in CONDITIONS}
    assert [k for k, v in signed.items() if v] == ["band_pass_gaussian@r=2-6", "gaussian_residual@sigma=2"]
    for key, flag in {**signed, "clean": False}.items():
        assert {r.tags["signed"] for r in recs if r.condition == key} == {flag}, key
    header = to_csv(recs, {}).splitlines()[0].split(",")
    assert header[2:] == [
        "low_pass_ideal@r=4",
        "band_pass_gaussian@r=2-6 [signed]",
        "gaussian_residual@sigma=2 [signed]",
        "phase_scramble@width=90",
    ]
