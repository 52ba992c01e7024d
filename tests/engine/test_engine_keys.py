"""Content keys cover what decides a result, and nothing else; results computed from other inputs are
never reused or mixed; non-finite logits and unusable devices are typed errors."""

from __future__ import annotations

import copy
import dataclasses
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.config import RunConfig
from freqbench.data.base import ArrayDataset
from freqbench.engine.loop import ModelUnderTest, condition_key, run_model
from freqbench.engine.progress import QuietProgress
from freqbench.engine.steps import StepContext, build_step
from freqbench.errors import ConfigError, IncompatibleError, NonFiniteError, StoreError
from freqbench.models import WeightSource
from freqbench.ops.device import select_device
from freqbench.store.run import RunStore
from freqbench.suites.base import CLEAN, Kind, Suite, condition

CPU = torch.device("cpu")
LOW = condition("low_pass_ideal", r=4)
AA = condition("autoattack", kind=Kind.ATTACK, eps="8/255", attacks="apgd-ce")


def _key(model: ModelUnderTest, data, tmp_path, cond=LOW) -> str:  # type: ignore[no-untyped-def]
    step = build_step(cond, StepContext(CPU, None, tmp_path / "state"))  # type: ignore[arg-type]
    return condition_key(model, data, Suite("t", 1, (CLEAN, cond)), cond, step, RunConfig(suite="t"))


def _with_cfg(model: ModelUnderTest, **changes: object) -> ModelUnderTest:
    return dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, **changes))


def test_key_ignores_provenance_text_and_follows_what_decides_outputs(model, data, tmp_path) -> None:
    base = _key(model, data, tmp_path)
    for changes in ({"license": "MIT"}, {"notes": "retrained, see the paper"}, {"paper": "arXiv:0000.0000"}):
        assert _key(_with_cfg(model, **changes), data, tmp_path) == base, changes
    for changes in (
        {"mean": (0.4, 0.5, 0.5)},
        {"std": (0.5, 0.5, 0.6)},
        {"weights": WeightSource(sha256="ab" * 32, filename="w.pt")},
        {"extra": {"depth": 20}},
    ):
        assert _key(_with_cfg(model, **changes), data, tmp_path) != base, changes
    assert _key(dataclasses.replace(model, weights_sha256="other"), data, tmp_path) != base


def _run(model, data, suite, store, **config):  # type: ignore[no-untyped-def]
    cfg = RunConfig(suite=suite.name, out=store.root, batch_size=64, **config)
    return run_model(model, data, suite, config=cfg, store=store, device=CPU, progress=QuietProgress())


def _other_weights(model: ModelUnderTest) -> ModelUnderTest:
    """The same name and config, other weights (as when the file behind a name was replaced)."""
    net = copy.deepcopy(model.module)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return dataclasses.replace(model, module=net.eval(), weights_sha256="sha-of-other-weights")


def _first(data: ArrayDataset, n: int) -> ArrayDataset:
    return ArrayDataset(data.info, data.images[:n], data.labels[:n])


def test_results_of_other_weights_are_refused_not_mixed(model, data, tmp_path) -> None:
    suite = Suite("t", 1, (CLEAN, LOW))
    store = RunStore(tmp_path / "run")
    assert _run(model, data, suite, store) == 2
    before = store.records()
    with pytest.raises(
        StoreError, match=r"already holds tiny / tiny / clean, low_pass_ideal@r=4 computed from"
    ):
        _run(_other_weights(model), data, suite, store)
    assert store.records() == before


def test_autoattack_state_is_keyed_by_the_condition_key(model, data, tmp_path) -> None:
    """A run directory holding reference-AutoAttack state but no records of the model (as after a kill
    between the attack's last batch and the condition's records): new weights behind the same name
    must not reuse the old weights' adversarial images."""
    data = _first(data, 12)
    suite = Suite("aa", 1, (CLEAN, AA))
    first = RunStore(tmp_path / "first")
    assert _run(model, data, suite, first) == 2
    aa_key = next(r.key for r in first.records() if r.condition == AA.key)
    assert sorted(p.name for p in (tmp_path / "first" / "state").iterdir()) == [aa_key]
    assert [p.suffix for p in sorted((tmp_path / "first" / "state" / aa_key).iterdir())] == [".json", ".pt"]
    shutil.copytree(tmp_path / "first" / "state", tmp_path / "run" / "state")

    other = _other_weights(model)
    store = RunStore(tmp_path / "run")
    assert _run(other, data, suite, store) == 2
    new_key = next(r.key for r in store.records() if r.condition == AA.key)
    assert new_key != aa_key
    assert sorted(p.name for p in (tmp_path / "run" / "state").iterdir()) == sorted([aa_key, new_key])
    fresh = RunStore(tmp_path / "fresh")
    _run(other, data, suite, fresh)
    got, want = store.arrays(new_key), fresh.arrays(new_key)
    np.testing.assert_array_equal(got["correct"], want["correct"])
    np.testing.assert_array_equal(got["pred"], want["pred"])
    # ...and reusing the old weights' images would have given another answer (the test can fail)
    (old_batch,) = (tmp_path / "first" / "state" / aa_key).glob("*.pt")
    x_old = torch.load(old_batch, weights_only=True)["x_adv"]
    with torch.no_grad():
        reused = other.module(x_old).argmax(1).numpy() == data.labels
    assert not np.array_equal(reused, want["correct"])


class _NaNAt(nn.Module):
    """Logits of ``net`` with row ``row`` of each batch set to NaN (as broken weights would)."""

    def __init__(self, net: nn.Module, row: int | None) -> None:
        super().__init__()
        self.net, self.row = net, row

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.row is None:
            return out * float("nan")
        out = out.clone()
        out[self.row % len(out)] = float("inf")
        return out


def test_non_finite_logits_are_refused(model, data, tmp_path) -> None:
    broken = dataclasses.replace(model, module=copy.deepcopy(model.module))
    with torch.no_grad():
        next(broken.module.parameters()).fill_(float("nan"))
    store = RunStore(tmp_path / "run")
    with pytest.raises(
        NonFiniteError, match=r"tiny returned non-finite logits .* under condition clean"
    ) as err:
        _run(broken, data, Suite("t", 1, (CLEAN, LOW)), store)
    assert "\n" not in str(err.value)
    assert store.records() == []


def test_non_finite_logits_name_the_samples(model, data, tmp_path) -> None:
    # check_compatible's one-image probe must pass: only the batch's row 3 is broken
    model = dataclasses.replace(model, module=_NaNAt(model.module, row=3))
    store = RunStore(tmp_path / "run")
    with pytest.raises(NonFiniteError, match=r"for 1 of 40 images of the batch \(sample indices 3\)"):
        _run(model, data, Suite("t", 1, (CLEAN,)), store)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("nonsense", ConfigError, "'nonsense' is not a device name; expected auto, cpu, cuda"),
        ("meta", ConfigError, "cannot evaluate on 'meta' devices"),
        ("cuda:-1", ConfigError, "is not a device name"),
        ("cpu:3", IncompatibleError, "the CPU has no device index"),
        ("cuda:99", IncompatibleError, "is not available"),
    ],
)
def test_unusable_devices_are_typed_errors(spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as err:
        select_device(spec)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an MPS device")
def test_mps_without_mps_is_a_typed_error() -> None:
    with pytest.raises(IncompatibleError, match="no Apple MPS device"):
        select_device("mps")


def test_usable_devices() -> None:
    assert select_device("cpu") == CPU
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cli_device_error_is_one_line(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", "run", "--suite", "frequency", "--device", "meta",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env={"FREQBENCH_HOME": str(tmp_path / "home"), "PATH": ""},
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot evaluate on 'meta' devices" in errors[0], out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run" / "records.jsonl").exists()
