"""Reference AutoAttack (pyautoattack): robust <= clean accuracy, budget, state files, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pyautoattack
import pytest
import torch
from torch import nn

from freqbench.attacks import ATTACKS
from freqbench.errors import ConfigError, StoreError
from freqbench.ops.random import SampleGenerator

EPS = 8 / 255


@pytest.fixture(scope="module")
def data() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)
    ).eval()
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[0] = (y[0] + 1) % 10  # one sample misclassified from the start
    return model, x, y


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_custom_list_state_and_resume(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, x, y = data
    attack = ATTACKS.get("autoattack")(eps="8/255", attacks="apgd-ce")
    assert attack.implementation == "pyautoattack 0.2.0 custom [apgd-ce; standard settings]"
    attack.state_dir = tmp_path / "aa"
    g = SampleGenerator.from_seed(0, torch.arange(40, 46), stream="autoattack@eps=8/255")
    x_adv = attack(model, x, y, generator=g)
    assert accuracy(model, x_adv, y) <= accuracy(model, x, y) - 1 / 6  # breaks at least one sample
    assert float((x_adv - x).abs().max()) <= EPS + 1e-6
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    states = sorted(p.name for p in attack.state_dir.iterdir())
    first = int(g.keys[0]) & 0xFFFFFFFFFFFFFFFF
    assert states == [f"batch-{first:016x}-n6.json", f"batch-{first:016x}-n6.pt"]
    saved = json.loads((attack.state_dir / states[0]).read_text())
    assert saved["_run_attacks"] == ["apgd-ce"]  # pyautoattack's own state file, finished
    # the rerun returns the stored batch without calling the model
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        again = attack(model, x, y, generator=g)
    finally:
        hook.remove()
    assert torch.equal(again, x_adv) and not calls
    with pytest.raises(StoreError, match="other images"):
        attack(model, x.flip(0), y.flip(0), generator=g)


def test_same_as_pyautoattack_called_directly(data) -> None:  # type: ignore[no-untyped-def]
    model, x, y = data
    from freqbench.attacks.base import batch_seed

    g = SampleGenerator.from_seed(4, len(x))
    ours = ATTACKS.get("autoattack")(eps=EPS, attacks=["apgd-ce"])(model, x, y, generator=g)
    aa = pyautoattack.AutoAttack(model, eps=EPS, norm="Linf", seed=batch_seed(g), version="standard")
    aa.attacks_to_run = ["apgd-ce"]
    direct, _ = aa.run_standard_evaluation(x, y, batch_size=len(x))
    assert torch.equal(ours, direct)


def test_standard_version_and_errors() -> None:
    a = ATTACKS.get("autoattack")(eps="8/255")
    assert a.implementation == "pyautoattack 0.2.0 standard"
    assert a.spec()["attacks"] is None and a.norm == "Linf"
    assert a.build(nn.Linear(2, 2), seed=0, device=torch.device("cpu")).attacks_to_run == [
        "apgd-ce",
        "apgd-t",
        "fab-t",
        "square",
    ]
    with pytest.raises(ConfigError, match="joined by"):
        ATTACKS.get("autoattack")(eps=EPS, attacks="apgd-ce,apgd-t")


def test_interrupted_batch_restarts(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, x, y = data
    attack = ATTACKS.get("autoattack")(eps=EPS, attacks="apgd-ce")
    attack.state_dir = tmp_path
    g = SampleGenerator.from_seed(0, len(x))
    state, done = attack.state_paths(g)  # type: ignore[misc]
    # a state left by a killed run: pyautoattack would resume it and return clean images for its
    # non-robust points, so the batch is run again from the start
    state.write_text(
        json.dumps(
            {
                "_attacks_to_run": ["apgd-ce"],
                "path": str(state),
                "_run_attacks": ["apgd-ce"],
                "_robust_flags": [False] * len(x),
                "_last_saved": "2020-01-01T00:00:00",
            }
        )
    )
    with pytest.warns(UserWarning, match="restarting the interrupted"):
        x_adv = attack(model, x, y, generator=g)
    assert done.exists() and accuracy(model, x_adv, y) < accuracy(model, x, y)
