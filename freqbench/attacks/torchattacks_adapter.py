"""Attacks from torchattacks 3.5.1 (Kim 2020, arXiv:2010.01950) behind the freqbench attack contract.

One adapter class and one table (:data:`TABLE`): each registered name maps to a torchattacks class,
its norm, its parameters with defaults (freqbench spelling) and how they are renamed for torchattacks.
Defaults are torchattacks' own except where the adversarial suite fixes them (REFERENCE.md section 7,
issue 4): PGD runs 10 steps of size ``alpha = eps / 4`` from one random start.

====================== ================= ====== ===========================================================
name                   torchattacks      norm   parameters (default)
====================== ================= ====== ===========================================================
fgsm                   FGSM              Linf   eps
pgd_linf               PGD               Linf   eps, steps (10), alpha (eps/4), restarts (1), random_start
pgd_l2                 PGDL2             L2     eps, steps (10), alpha (eps/4), restarts (1), random_start
cw_l2                  CW                L2     c (1), kappa (0), steps (50), lr (0.01); minimum-norm
deepfool               DeepFool          L2     steps (50), overshoot (0.02); minimum-norm
square                 Square            Linf   eps, n_queries (5000), n_restarts (1), p_init (0.8), norm
autoattack_torchattacks AutoAttack       Linf   eps, version (standard), norm; torchattacks' own, weaker
====================== ================= ====== ===========================================================

Minimum-norm attacks (CW, DeepFool) have no budget: their ``eps`` is ``math.inf``.

Randomness: torchattacks draws from torch's global RNG, which :class:`AttackBase` seeds from the
batch's :class:`~freqbench.ops.random.SampleGenerator` (:func:`~freqbench.attacks.base.batch_seed`)
inside a fork that restores the caller's RNG state. Square and AutoAttack take an explicit ``seed``,
which receives the same batch seed. These random draws therefore depend on the batch composition.

Restarts (PGD): restart 0 is exactly torchattacks called once after ``torch.manual_seed(batch_seed(g))``;
restart ``k`` reseeds with ``batch_seed(g, restart=k)``. Per sample the result is the first restart
whose example is misclassified, otherwise the one with the largest cross-entropy loss.

The model is never wrapped with torchattacks' ``set_normalization_used``: freqbench models normalise
inside, so torchattacks sees [0, 1] images, as it expects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from freqbench.attacks.base import ATTACKS, AttackBase, Norm, batch_seed
from freqbench.budget import as_eps
from freqbench.errors import ConfigError
from freqbench.ops.random import SampleGenerator


@dataclass(frozen=True)
class TorchattacksEntry:
    """How one registered name maps onto a torchattacks class.

    Attributes:
        cls: torchattacks class name.
        norm: threat-model norm (``None``: taken from the ``norm`` parameter).
        defaults: freqbench parameters and defaults (``eps`` excluded; ``alpha=None`` means eps/4).
        rename: freqbench parameter -> torchattacks keyword, where they differ.
        budgeted: whether the attack takes ``eps`` (False for minimum-norm attacks).
        random: whether it draws random numbers (then it needs a generator).
        seed_kwarg: whether the class takes an explicit ``seed`` keyword.
        num_classes: whether the class needs the number of classes (``n_classes``).
        restarts: whether freqbench repeats it with keep-worst restarts.
        note: appended to ``implementation``.
    """

    cls: str
    norm: Norm | None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    rename: Mapping[str, str] = field(default_factory=dict)
    budgeted: bool = True
    random: bool = False
    seed_kwarg: bool = False
    num_classes: bool = False
    restarts: bool = False
    note: str = ""


_PGD_DEFAULTS = {"steps": 10, "alpha": None, "restarts": 1, "random_start": True}

TABLE: dict[str, TorchattacksEntry] = {
    "fgsm": TorchattacksEntry("FGSM", Norm.LINF),
    "pgd_linf": TorchattacksEntry("PGD", Norm.LINF, _PGD_DEFAULTS, random=True, restarts=True),
    "pgd_l2": TorchattacksEntry("PGDL2", Norm.L2, _PGD_DEFAULTS, random=True, restarts=True),
    "cw_l2": TorchattacksEntry(
        "CW", Norm.L2, {"c": 1.0, "kappa": 0.0, "steps": 50, "lr": 0.01}, budgeted=False
    ),
    "deepfool": TorchattacksEntry("DeepFool", Norm.L2, {"steps": 50, "overshoot": 0.02}, budgeted=False),
    "square": TorchattacksEntry(
        "Square",
        None,
        {"norm": "Linf", "n_queries": 5000, "n_restarts": 1, "p_init": 0.8},
        random=True,
        seed_kwarg=True,
    ),
    "autoattack_torchattacks": TorchattacksEntry(
        "AutoAttack",
        None,
        {"norm": "Linf", "version": "standard"},
        random=True,
        seed_kwarg=True,
        num_classes=True,
        note="(torchattacks' own AutoAttack: 10 iterations per attack, weaker than the reference "
        "pyautoattack 'autoattack')",
    ),
}


class TorchattacksAttack(AttackBase):
    """One torchattacks attack, configured by a :class:`TorchattacksEntry`.

    Args:
        name: registry name (a key of :data:`TABLE`).
        eps: budget (number or exact fraction text), required for budgeted attacks.
        **params: the entry's parameters (see the module table).
    """

    uses_global_rng = True

    def __init__(self, name: str, *, eps: float | str | None = None, **params: Any) -> None:
        super().__init__()
        entry = TABLE[name]
        self.name = name  # type: ignore[misc]
        self.entry = entry
        unknown = set(params) - set(entry.defaults)
        if unknown:
            raise ConfigError(
                f"attack {name!r} takes {sorted(entry.defaults) + (['eps'] if entry.budgeted else [])}, "
                f"got unknown parameter(s) {sorted(unknown)}"
            )
        if entry.budgeted:
            if eps is None:
                raise ConfigError(f"attack {name!r} needs eps (e.g. eps='8/255')")
            self.eps = as_eps(eps)
        elif eps is not None:
            raise ConfigError(f"attack {name!r} is a minimum-norm attack and takes no eps")
        else:
            self.eps = math.inf
        values = {**entry.defaults, **params}
        if "alpha" in values:
            values["alpha"] = (
                self.eps / 4 if values["alpha"] is None else as_eps(values["alpha"], name="alpha")
            )
        if "restarts" in values and int(values["restarts"]) < 1:
            raise ConfigError(f"restarts must be >= 1, got {values['restarts']}")
        self.values = values
        self.norm = Norm(values["norm"]) if entry.norm is None else entry.norm
        if self.norm is Norm.NONE:
            raise ConfigError(f"attack {name!r} needs norm 'Linf' or 'L2'")
        # A deterministic PGD (random_start=False) needs no generator.
        self.random = entry.random and bool(values.get("random_start", True))  # type: ignore[misc]
        note = f" {entry.note}" if entry.note else ""
        self.implementation = f"torchattacks {torchattacks.__version__} {entry.cls}{note}"

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"eps": self.eps} if self.entry.budgeted else {}
        out.update(self.values)
        return out

    def build(self, model: nn.Module, *, seed: int | None = None, num_classes: int | None = None) -> Any:
        """The configured torchattacks object for ``model`` (what ``__call__`` runs)."""
        kwargs = {self.entry.rename.get(k, k): v for k, v in self.values.items() if k != "restarts"}
        if self.entry.budgeted:
            kwargs["eps"] = self.eps
        if self.entry.seed_kwarg:
            kwargs["seed"] = seed
        if self.entry.num_classes:
            kwargs["n_classes"] = num_classes
        return getattr(torchattacks, self.entry.cls)(model, **kwargs)

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: SampleGenerator | None
    ) -> torch.Tensor:
        seed = None if generator is None else batch_seed(generator)
        num_classes = None
        if self.entry.num_classes:
            with torch.no_grad():
                num_classes = int(model(x[:1]).shape[1])
        attack = self.build(model, seed=seed, num_classes=num_classes)
        best = attack(x, y)
        restarts = int(self.values.get("restarts", 1))
        if restarts == 1:
            return best
        best_loss, best_hit = _loss_and_success(model, best, y)
        for k in range(1, restarts):
            if bool(best_hit.all()):
                break
            assert generator is not None  # restarts only exist for random attacks
            torch.manual_seed(batch_seed(generator, restart=k))
            adv = attack(x, y)
            loss, hit = _loss_and_success(model, adv, y)
            take = ~best_hit & (hit | (loss > best_loss))
            best = torch.where(take[:, None, None, None], adv, best)
            best_loss = torch.where(take, loss, best_loss)
            best_hit = best_hit | hit
        return best


def _loss_and_success(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        logits = model(x)
    return F.cross_entropy(logits, y, reduction="none"), logits.argmax(1) != y


def _factory(name: str) -> Any:
    def make(**params: Any) -> TorchattacksAttack:
        return TorchattacksAttack(name, **params)

    make.__name__ = name
    make.__doc__ = f"Build the {name!r} attack (torchattacks {TABLE[name].cls}); see the module table."
    return make


for _name in TABLE:
    ATTACKS.register(_name, _factory(_name))
