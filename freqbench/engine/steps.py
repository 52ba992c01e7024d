"""One adapter for every kind of condition: perturbation, attack, C dataset files.

The engine sees a :class:`Step`: ``step(model, x, y, indices, generator) -> x'``. Each condition kind
maps to a builder in ``STEP_BUILDERS``; the evaluation loop never branches on the kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from freqbench.attacks import ATTACKS
from freqbench.data import C_DATASETS, DataRequest
from freqbench.errors import ConfigError, IncompatibleError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations import PERTURBATIONS
from freqbench.suites.base import Condition, Kind

#: ``(model, x, y, indices, generator) -> x'``; ``model`` is None for input-only conditions applied
#: without one (``make-c``), which only steps that do not need gradients accept
StepFn = Callable[[nn.Module | None, torch.Tensor, torch.Tensor, np.ndarray, SampleGenerator], torch.Tensor]
#: ``(x, x') -> {name: (B,) tensor}``: a transform's per-sample diagnostics (``Perturbation.diagnostics``)
DiagnosticsFn = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
_DIAG_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Step:
    """A resolved condition.

    Attributes:
        fn: the transform, ``fn(model, x, y, indices, generator) -> x'``.
        spec: JSON-stable description of what ran (enters the content key and the records).
        needs_grad: whether the transform differentiates through the model.
        diagnose: the transform's ``diagnostics(x, x')`` hook, if it has one.
        bind_state: for transforms that keep resumable state (reference AutoAttack), gives them their
            state folder; the engine calls it with ``<state_dir>/<content key>`` once the condition's
            key is known, so stored state is only ever reused for the same model weights, data and
            condition.
        signed: whether the transform's output is signed by design, outside [0, 1]
            (``Perturbation.signed``: high-pass, band-pass, residual); records carry it as a tag.
    """

    fn: StepFn
    spec: dict[str, Any]
    needs_grad: bool = False
    signed: bool = False
    diagnose: DiagnosticsFn | None = field(default=None, compare=False)
    bind_state: Callable[[Path], None] | None = field(default=None, compare=False)

    def __call__(
        self,
        model: nn.Module | None,
        x: torch.Tensor,
        y: torch.Tensor,
        indices: np.ndarray,
        generator: SampleGenerator,
    ) -> torch.Tensor:
        return self.fn(model, x, y, indices, generator)

    def diagnostics(self, x: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """The transform's per-sample diagnostics for one batch, checked: names and (B,) float values.

        Shape:
            x, out: (B, C, H, W) -> each value (B,), float64 on the CPU.
        """
        if self.diagnose is None:
            return {}
        with torch.no_grad():
            found = self.diagnose(x, out)
        checked: dict[str, torch.Tensor] = {}
        for name, value in found.items():
            if not _DIAG_NAME.fullmatch(name):
                raise ConfigError(
                    f"{self.spec.get('name')}: diagnostic name {name!r} is not a lowercase identifier "
                    "([a-z][a-z0-9_]*); rename it in its diagnostics()"
                )
            if value.shape != (x.shape[0],) or not value.is_floating_point():
                raise ConfigError(
                    f"{self.spec.get('name')}: diagnostic {name!r} has shape {tuple(value.shape)} "
                    f"{value.dtype}, expected one float per sample ({x.shape[0]},); return a (B,) tensor"
                )
            checked[name] = value.detach().double().cpu()
        return checked


@dataclass(frozen=True)
class StepContext:
    """What builders may need besides the condition.

    Attributes:
        device: where the transform runs.
        data_request: split and root for C dataset files.
        state_dir: root of the per-condition state folders, each named by the condition's content key
            (see :attr:`Step.bind_state`); None where nothing keeps state (input-only conditions).
    """

    device: torch.device
    data_request: DataRequest
    state_dir: Path | None = None


def _perturbation(cond: Condition, ctx: StepContext) -> Step:
    module = PERTURBATIONS.get(cond.transform)(**cond.params).to(ctx.device)

    def fn(
        model: nn.Module | None, x: torch.Tensor, y: torch.Tensor, idx: np.ndarray, g: SampleGenerator
    ) -> torch.Tensor:
        return module(x, g)

    return Step(fn, module.spec(), diagnose=module.diagnostics, signed=module.signed)


def _attack(cond: Condition, ctx: StepContext) -> Step:
    attack = ATTACKS.get(cond.transform)(**cond.params)

    def bind_state(folder: Path) -> None:
        attack.state_dir = folder

    def fn(
        model: nn.Module | None, x: torch.Tensor, y: torch.Tensor, idx: np.ndarray, g: SampleGenerator
    ) -> torch.Tensor:
        if model is None:
            raise ConfigError(f"attack {cond.key} needs the model it attacks; none was given")
        return attack(model, x, y, generator=g)

    return Step(
        fn,
        {**attack.spec(), "implementation": attack.implementation},
        needs_grad=True,
        diagnose=attack.diagnostics,
        bind_state=bind_state if attack.resumable else None,
    )


def _c_dataset(cond: Condition, ctx: StepContext) -> Step:
    source = C_DATASETS.get(cond.transform)(ctx.data_request, **cond.params)

    def fn(
        model: nn.Module | None, x: torch.Tensor, y: torch.Tensor, idx: np.ndarray, g: SampleGenerator
    ) -> torch.Tensor:
        xr, yr = source.batch(idx)
        if not torch.equal(yr, y.cpu()):
            raise IncompatibleError(
                f"{cond.transform} labels differ from the dataset's at the same indices: the C dataset files "
                "do not belong to this dataset/split (use the matching --dataset, e.g. cifar10 for cifar10c)"
            )
        if xr.shape != x.shape:
            raise IncompatibleError(
                f"{cond.transform} images are {tuple(xr.shape[1:])}, the dataset's {tuple(x.shape[1:])}"
            )
        return xr.to(x.device, x.dtype)

    # the files' identity (sha256 of the bytes read) keys the result, not the folder they came from
    return Step(fn, {"kind": "dataset", "name": cond.transform, **cond.params, "files": dict(source.files)})


STEP_BUILDERS: dict[Kind, Callable[[Condition, StepContext], Step]] = {
    Kind.PERTURBATION: _perturbation,
    Kind.ATTACK: _attack,
    Kind.DATASET: _c_dataset,
}


def build_step(cond: Condition, ctx: StepContext) -> Step:
    """Resolve a condition into a callable step."""
    return STEP_BUILDERS[cond.kind](cond, ctx)
