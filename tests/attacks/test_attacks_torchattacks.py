"""torchattacks adapters: invariants on a tiny CNN, exact agreement with torchattacks called directly."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from freqbench.attacks import ATTACKS
from freqbench.errors import ConfigError, IncompatibleError
from freqbench.ops.random import SampleGenerator

EPS = 8 / 255


class TinyNet(nn.Module):
    """A small CNN with BatchNorm and Dropout, so a wrong model mode changes the outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.bn(self.conv(x))), 4)
        return self.fc(self.drop(h.flatten(1)))


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(0)
    model = TinyNet()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.1, 0.1)
        model.bn.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def batch(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 16, 16, generator=gen)
    with torch.no_grad():
        y = net(x).argmax(1)  # clean accuracy 100%: every success is the attack's
    return x, y


def reference_seed(g: SampleGenerator) -> int:
    """The documented seed rule, written out independently of freqbench.ops.random.stable_hash."""
    text = "\x1f".join(["freqbench.attacks", str(g.counter), *(str(int(k)) for k in g.keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & ((1 << 63) - 1)


CHEAP = {
    "fgsm": {"eps": EPS},
    "pgd_linf": {"eps": EPS},
    "pgd_l2": {"eps": 0.5},
    "cw_l2": {"steps": 10},
    "deepfool": {"steps": 5},
    "square": {"eps": EPS, "n_queries": 20},
    "autoattack_torchattacks": {"eps": EPS},
}


def per_sample_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_invariants(name: str, net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    x0, y0 = x.clone(), y.clone()
    attack = ATTACKS.get(name)(**CHEAP[name])
    g = SampleGenerator.from_seed(3, len(x), stream=name)
    net.train()
    net.drop.eval()  # a submodule left in eval on purpose must stay so
    x_adv = attack(net, x, y, generator=g)
    assert net.training and net.conv.training and not net.drop.training
    net.eval()
    assert torch.equal(x, x0) and torch.equal(y, y0)  # inputs and labels untouched
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    delta = (x_adv - x).flatten(1)
    if attack.norm == "Linf":
        assert float(delta.abs().max()) <= attack.eps + 1e-6
    elif math.isfinite(attack.eps):
        assert float(delta.norm(dim=1).max()) <= attack.eps * (1 + 1e-5)
    assert float(per_sample_loss(net, x_adv, y).mean()) > float(per_sample_loss(net, x, y).mean())
    again = ATTACKS.get(name)(**CHEAP[name])(
        net, x, y, generator=SampleGenerator.from_seed(3, len(x), stream=name)
    )
    assert torch.equal(x_adv, again)  # deterministic under the same seed
    spec = attack.spec()
    assert spec["name"] == name and attack.implementation.startswith("torchattacks 3.5.1")


@pytest.mark.parametrize(("name", "cls", "kw"), [("pgd_linf", "PGD", {}), ("pgd_l2", "PGDL2", {})])
def test_pgd_equals_torchattacks_called_directly(
    name: str, cls: str, kw: dict, net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = batch
    eps = EPS if name == "pgd_linf" else 0.5
    g = SampleGenerator.from_seed(11, torch.arange(100, 100 + len(x)), stream=f"{name}@eps")
    ours = ATTACKS.get(name)(eps=eps)(net, x, y, generator=g)
    torch.manual_seed(reference_seed(g))
    direct = getattr(torchattacks, cls)(net, eps=eps, alpha=eps / 4, steps=10, random_start=True)(x, y)
    assert torch.equal(ours, direct)


def test_global_rng_state_restored(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ATTACKS.get("pgd_linf")(eps=EPS)(net, x, y, generator=SampleGenerator.from_seed(0, len(x)))
    assert torch.equal(torch.rand(3), expected)


def test_restarts_keep_worst(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    eps = 0.5 / 255  # small enough that one start leaves some samples unbroken
    g = SampleGenerator.from_seed(5, len(x))
    one = ATTACKS.get("pgd_linf")(eps=eps, steps=3)(net, x, y, generator=g)
    four = ATTACKS.get("pgd_linf")(eps=eps, steps=3, restarts=4)(net, x, y, generator=g)
    assert float((four - x).abs().max()) <= eps + 1e-6
    with torch.no_grad():
        hit1 = net(one).argmax(1) != y
        hit4 = net(four).argmax(1) != y
    loss1, loss4 = per_sample_loss(net, one, y), per_sample_loss(net, four, y)
    assert bool((hit4 | ~hit1).all())  # a sample broken by the first start stays broken
    # an unbroken sample keeps the largest loss over the starts, at least the first start's
    assert bool(((loss4 >= loss1 - 1e-6) | hit4).all())


def test_run_under_no_grad_and_inference_mode(
    net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = batch
    attack = ATTACKS.get("fgsm")(eps="2/255")
    with torch.no_grad():
        a = attack(net, x, y)
    with torch.inference_mode():
        b = attack(net, x.clone(), y.clone())
    assert torch.equal(a, b) and float((a - x).abs().max()) > 0


def test_errors(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    with pytest.raises(ConfigError, match="unknown parameter"):
        ATTACKS.get("pgd_linf")(eps=EPS, stepz=3)
    with pytest.raises(ConfigError, match="needs eps"):
        ATTACKS.get("fgsm")()
    with pytest.raises(ConfigError, match="fraction"):
        ATTACKS.get("fgsm")(eps="8//255")
    with pytest.raises(ConfigError, match="generator"):
        ATTACKS.get("pgd_linf")(eps=EPS)(net, x, y)
    with pytest.raises(IncompatibleError, match=r"\[0, 1\]"):
        ATTACKS.get("fgsm")(eps=EPS)(net, (x - 0.5) / 0.25, y)
    assert ATTACKS.get("fgsm")(eps="8/255").eps == 8 / 255
