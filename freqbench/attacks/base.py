"""The attack contract, its registry, and the base class that implements the contract once.

An attack needs the model and the labels: ``attack(model, x, y, *, generator=None) -> x_adv`` on float
images in [0, 1] (the model normalises internally, so attacks never normalise). Each attack declares
its ``norm`` and ``eps`` and a JSON-stable ``spec()`` that enters the result key, and ``implementation``
names the code that ran (``torchattacks 3.5.1``, ``pyautoattack 0.2.0``...). :class:`Attack` is that
contract as a protocol; ``ATTACKS`` maps a name to a factory ``(**params) -> Attack``, so the condition
``pgd_linf@eps=8/255`` resolves to ``ATTACKS.get("pgd_linf")(eps="8/255")``.

:class:`AttackBase` implements the contract, so each concrete attack only writes
:meth:`AttackBase._run`. A call

1. checks the inputs (float images in [0, 1], (B, C, H, W); integer labels (B,));
2. clones ``x`` and ``y`` so neither the caller's images nor its labels can be modified;
3. switches the model to eval mode and afterwards restores every submodule's own ``training`` flag
   (torchattacks only calls ``model.train()`` on the root, which would flip submodules that were
   deliberately left in eval mode);
4. enables autograd even when the caller runs under ``torch.no_grad()`` or ``torch.inference_mode()``;
5. for attacks that draw random numbers through torch's *global* RNG (torchattacks, pyautoattack),
   seeds it from the :class:`~freqbench.ops.random.SampleGenerator` with :func:`batch_seed` inside
   ``torch.random.fork_rng``, so the caller's global RNG state is left exactly as it was.

Seed rule (:func:`batch_seed`): ``stable_hash("freqbench.attacks", counter, key_0, ..., key_{B-1})``,
that is :func:`freqbench.ops.random.stable_hash` (sha256 of the decimal strings joined by U+001F, 63
bits) of the generator's counter and all its per-sample keys. The keys derive from (run seed, condition
key, sample index), so the seed is reproducible across processes and machines, but it depends on
*which samples share the batch*: attacks driven by torch's global RNG give batch-size dependent random
starts. freqbench's own attacks (:mod:`freqbench.attacks.band_pgd`) draw from the per-sample streams
instead and are batch-size invariant.

Budgets may be given as numbers or as exact fractions written as text (``"8/255"``), read by
:func:`freqbench.budget.as_eps`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from freqbench.errors import ConfigError, IncompatibleError
from freqbench.ops.random import SampleGenerator, stable_hash
from freqbench.registry import Registry


class Norm(StrEnum):
    """The threat model's norm (``none`` for attacks without a budget)."""

    LINF = "Linf"
    L2 = "L2"
    NONE = "none"


@runtime_checkable
class Attack(Protocol):
    """The attack contract; :class:`AttackBase` implements it once for every freqbench attack."""

    norm: Norm
    eps: float
    implementation: str
    #: True when the attack keeps resumable state under ``state_dir``
    resumable: ClassVar[bool]
    #: a folder inside the run directory named by the condition's content key (so per model weights,
    #: data and condition), set by the engine before calling; only resumable attacks use it
    state_dir: Path | None

    def spec(self) -> dict[str, Any]: ...

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, generator: SampleGenerator | None = None
    ) -> torch.Tensor: ...

    def diagnostics(self, x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample measurements ``{name: (B,)}`` of a returned batch (see ``AttackBase``)."""
        ...


AttackFactory = Callable[..., Attack]
ATTACKS: Registry[AttackFactory] = Registry("attack")


def batch_seed(generator: SampleGenerator, *, restart: int = 0) -> int:
    """The global-RNG seed for one batch: a 63-bit hash of the generator's counter and keys.

    It depends on every key in the batch, hence on the batch composition (see the module docstring).
    Restart ``k > 0`` of a multi-start attack hashes ``("restart", k)`` in as well.
    """
    extra: tuple[object, ...] = () if restart == 0 else ("restart", restart)
    return stable_hash("freqbench.attacks", generator.counter, *extra, *generator.keys.tolist())


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (CPU and ``device``) inside a fork that restores the caller's state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode and restore each submodule's own ``training`` flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


def check_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    """Raise unless ``x`` is a float (B, C, H, W) batch in [0, 1] and ``y`` integer labels (B,)."""
    if x.ndim != 4 or not x.is_floating_point():
        raise IncompatibleError(f"attacks expect float images (B, C, H, W), got {tuple(x.shape)} {x.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or y.is_floating_point():
        raise IncompatibleError(
            f"attacks expect integer labels of shape ({x.shape[0]},), got {tuple(y.shape)} {y.dtype}"
        )
    lo, hi = torch.aminmax(x)
    if lo.item() < 0.0 or hi.item() > 1.0:
        raise IncompatibleError(
            f"attacks expect images in [0, 1] (the model normalises inside), got values in "
            f"[{lo.item():.4g}, {hi.item():.4g}]: do not normalise before attacking"
        )


class AttackBase:
    """Base class: subclasses set ``name``, ``norm``, ``eps``, ``implementation`` and write ``_run``.

    Attributes:
        name: registry name.
        norm: the threat model's norm.
        eps: the budget in that norm (``math.inf`` for minimum-norm attacks such as DeepFool).
        implementation: the code that runs (``"torchattacks 3.5.1 PGD"``).
        state_dir: folder for resumable state, set by the engine per (model, condition); only
            attacks with ``resumable = True`` use it.
    """

    name: ClassVar[str] = ""
    #: bump when the output for the same parameters changes; it enters result keys
    version: ClassVar[int] = 1
    #: True when the attack draws random numbers (it then requires a generator)
    random: ClassVar[bool] = False
    #: True when the attack draws them from torch's global RNG (seeded by :func:`batch_seed`)
    uses_global_rng: ClassVar[bool] = False
    #: True when the attack keeps resumable state under ``state_dir``
    resumable: ClassVar[bool] = False

    norm: Norm
    eps: float
    implementation: str

    def __init__(self) -> None:
        self.state_dir: Path | None = None

    def params(self) -> dict[str, Any]:
        """JSON-stable parameters (numbers, strings, lists)."""
        raise NotImplementedError(f"{type(self).__name__} must define params()")

    def spec(self) -> dict[str, Any]:
        """JSON-stable description that enters the result content key."""
        return {
            "kind": "attack",
            "name": self.name,
            "version": self.version,
            "norm": str(self.norm),
            "implementation": self.implementation,
            **self.params(),
        }

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: SampleGenerator | None
    ) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define _run()")

    def diagnostics(self, x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample measurements of the returned batch (default: none), e.g. ``out_of_band_energy``.

        Same contract as :meth:`freqbench.perturbations.base.Perturbation.diagnostics`: called by the
        engine once per batch without gradients; ``{name: (B,) float tensor}``; stored as
        ``diag_<name>`` and summarised as the record ``<name>`` (mean with a 95% interval).

        Shape:
            x, x_adv: (B, C, H, W) -> each value (B,).
        """
        return {}

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, generator: SampleGenerator | None = None
    ) -> torch.Tensor:
        """Attack the batch; returns adversarial images with the shape, dtype and device of ``x``.

        Shape:
            x: (B, C, H, W) in [0, 1], y: (B,) -> (B, C, H, W) in [0, 1].
        """
        check_inputs(x, y)
        if self.random and generator is None:
            raise ConfigError(f"attack {self.name!r} is random: pass generator=SampleGenerator(...)")
        if generator is not None and len(generator) != x.shape[0]:
            raise ConfigError(f"generator has {len(generator)} streams for a batch of {x.shape[0]} images")
        with torch.inference_mode(False), torch.enable_grad(), eval_mode(model):
            xc, yc = x.clone(), y.clone()
            if self.uses_global_rng and generator is not None:
                with seeded_global_rng(batch_seed(generator), x.device):
                    out = self._run(model, xc, yc, generator)
            else:
                out = self._run(model, xc, yc, generator)
        return out.detach().to(dtype=x.dtype, device=x.device)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
