"""Learned Fourier masks (Karantzas et al., Frontiers in AI 2022, arXiv 2203.08822; REFERENCE.md section 6).

A real mask ``M``, initialised to ones, is applied to the input spectrum in front of the frozen model,
``x -> irfft2(rfft2(x) * M)``, and trained to keep the model's loss unchanged while switching off as
much of the spectrum as it can. Per sample the loss is

    exp((CE(f(masked x), y) - CE(f(x), y))^2) + (lambda / numel(M)) * ||M||_1,

and ``M`` is clamped to [0, 1] after every step. Two kinds:

- **dataset-level** (``kind="dataset"``): one mask shared by all images and channels, trained on the
  evaluation data with ``y`` the true labels, lambda 0.2, Adam lr 1e-3 under a one-cycle schedule;
- **single-image** (``kind="single"``): one mask per image, lambda 0.07, ``y`` the model's own
  prediction on the clean image.

Details and where they come from:

- The mask lives on the ``rfft2`` half plane, (H, W//2+1), applied by the one spectral-mask operator
  :func:`freqbench.ops.spectral_mask.apply_spectral_mask` (per-sample masks (B, 1, H, W//2+1) for
  single images). REFERENCE.md section 6: only the Hermitian part of a full-plane mask acts, so this
  is equivalent. The L1 term is the full-plane mean of the symmetric mask the half plane defines
  (bins off the self-conjugate columns stand for two, :func:`l1_mean`), so lambda means what it
  means in the paper. Started from ones, the paper's full-plane mask receives equal gradients at k and
  -k and stays symmetric, and Adam's update does not depend on the gradient's scale, so training the
  half plane takes the same steps (``tests/probes/test_probes_mask.py`` trains the paper's full-plane
  formulation side by side: the masks agree to 1e-6).
- The public code (nkarantzas/FourierMasks) trains dataset masks with batch size 1 for 100 epochs, with
  ``OneCycleLR`` (pct_start 0.1, torch's defaults otherwise) stepped every batch; those are the defaults
  here. A larger ``dataset_batch_size`` averages the per-sample loss over the batch. The order of the
  images in each epoch is drawn from the per-sample RNG (``sample_keys(seed, "fourier_mask@epoch=E",
  index)``), so it is fixed by the seed. Its early stopping (patience on the mask's sparsity) is not
  reproduced: training runs for the given number of epochs.
- For single images the public code runs up to 20000 Adam steps with lr 0.2 but builds its one-cycle
  schedule for 200 times more steps than it takes, so the rate stays in the warm-up, between 0.008 and
  0.009; freqbench runs a real one-cycle schedule over ``single_steps`` steps (default 1000) peaking at
  ``single_lr`` 0.01, that effective rate. Each image's mask has its own loss term and Adam's state is
  per element, so masks trained in one batch do not influence each other.
- The model runs in eval mode and only the mask is optimised (``torch.autograd.grad`` with respect to
  the mask: the model's parameters receive no gradient).

Outputs: the masks (half plane, and centred full plane for display), their radial profiles (mean of the
full-plane mask per integer radius in cycles per image, :func:`freqbench.ops.spectrum.radial_mean`), the
loss history, and the accuracy with and without the mask (with Wilson intervals).

Shape:
    dataset mask (H, W//2+1); single masks (N, H, W//2+1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from freqbench.data.base import ArrayDataset
from freqbench.errors import ConfigError
from freqbench.ops.random import sample_keys
from freqbench.ops.spectral_mask import apply_spectral_mask, symmetrize_self_conjugate
from freqbench.ops.spectrum import radial_mean
from freqbench.probes.base import (
    PROBES,
    Measure,
    Probe,
    ProbeInputs,
    Progress,
    centred_radius,
    check_image_size,
    evaluating,
    model_device,
    point,
)
from freqbench.store.aggregate import mean, proportion, wilson_interval


class MaskKind(StrEnum):
    DATASET = "dataset"
    SINGLE = "single"
    BOTH = "both"


@dataclass(frozen=True)
class FourierMaskOptions:
    """Options of ``fourier_mask`` (defaults: REFERENCE.md section 6 and the public code, module docstring).

    Attributes:
        kind: ``dataset``, ``single`` or ``both``.
        dataset_lambda, dataset_lr, dataset_epochs, dataset_batch_size: the dataset-level mask.
        single_lambda, single_lr, single_steps: the single-image masks.
        single_batch_size: images whose masks are trained side by side (memory only).
        pct_start, single_pct_start: the one-cycle warm-up fractions (0.1 in the public code).
        eval_batch_size: images per forward pass when measuring accuracy.
    """

    kind: MaskKind = MaskKind.BOTH
    dataset_lambda: float = 0.2
    dataset_lr: float = 1e-3
    dataset_epochs: int = 100
    dataset_batch_size: int = 1
    single_lambda: float = 0.07
    single_lr: float = 0.01
    single_steps: int = 1000
    single_batch_size: int = 64
    pct_start: float = 0.1
    single_pct_start: float = 0.1
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", MaskKind(self.kind))
        except ValueError:
            raise ConfigError(
                f"fourier_mask: kind must be one of {', '.join(MaskKind)}, got {self.kind!r}"
            ) from None
        for name in ("dataset_lambda", "single_lambda"):
            if getattr(self, name) < 0:
                raise ConfigError(f"fourier_mask: {name} must be >= 0, got {getattr(self, name)}")
        for name in ("dataset_lr", "single_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"fourier_mask: {name} must be positive, got {getattr(self, name)}")
        for name in (
            "dataset_epochs",
            "dataset_batch_size",
            "single_steps",
            "single_batch_size",
            "eval_batch_size",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"fourier_mask: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("pct_start", "single_pct_start"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"fourier_mask: {name} must lie in (0, 1), got {getattr(self, name)}")


@dataclass(frozen=True)
class MaskAccuracy:
    """Accuracy of the model on the same images without and with the mask(s)."""

    n: int
    clean_correct: np.ndarray
    masked_correct: np.ndarray

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n}
        for name, flags in (("clean", self.clean_correct), ("masked", self.masked_correct)):
            k = int(flags.sum())
            out[f"{name}_accuracy"] = k / self.n
            out[f"{name}_accuracy_ci"] = list(wilson_interval(k, self.n))
        return out


@dataclass(frozen=True)
class DatasetMask:
    """The dataset-level mask.

    Attributes:
        mask: half plane (H, W//2+1) in [0, 1].
        full: centred full plane (H, W), low frequencies in the middle.
        radial: mean of the full-plane mask per integer radius (R,).
        loss: mean loss per epoch (epochs,); ``loss_start`` is the loss of the all-ones mask.
        accuracy: without and with the mask.
    """

    mask: np.ndarray
    full: np.ndarray
    radial: np.ndarray
    loss: np.ndarray
    loss_start: float
    accuracy: MaskAccuracy


@dataclass(frozen=True)
class SingleImageMasks:
    """One mask per image.

    Attributes:
        masks: (N, H, W//2+1) in [0, 1].
        radial: (N, R).
        loss: mean loss over the images per step (steps,); ``loss_start`` per image (N,).
        loss_final: per image, after the last step (N,).
        clean_prediction, masked_prediction: (N,) int64 (the clean prediction is the target).
        accuracy: against the labels, without and with each image's mask.
    """

    masks: np.ndarray
    radial: np.ndarray
    loss: np.ndarray
    loss_start: np.ndarray
    loss_final: np.ndarray
    clean_prediction: np.ndarray
    masked_prediction: np.ndarray
    accuracy: MaskAccuracy


@dataclass(frozen=True)
class FourierMasks:
    """Result of ``fourier_mask``: the dataset-level mask, the single-image masks, or both."""

    dataset: DatasetMask | None
    single: SingleImageMasks | None
    indices: np.ndarray
    labels: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"indices": self.indices, "labels": self.labels}
        if self.dataset is not None:
            d = self.dataset
            out |= {
                "dataset_mask": d.mask,
                "dataset_mask_full": d.full,
                "dataset_radial": d.radial,
                "dataset_loss": d.loss,
                "dataset_clean_correct": d.accuracy.clean_correct,
                "dataset_masked_correct": d.accuracy.masked_correct,
            }
        if self.single is not None:
            s = self.single
            out |= {
                "single_masks": s.masks,
                "single_radial": s.radial,
                "single_loss": s.loss,
                "single_loss_start": s.loss_start,
                "single_loss_final": s.loss_final,
                "single_clean_prediction": s.clean_prediction,
                "single_masked_prediction": s.masked_prediction,
                "single_clean_correct": s.accuracy.clean_correct,
                "single_masked_correct": s.accuracy.masked_correct,
            }
        return out

    @property
    def energy_radius(self) -> float:
        """Where "high" frequencies start for the mask energy: a quarter of the smaller side
        (cycles per image)."""
        return min(self.info["size"]) / 4

    def measures(self) -> list[Measure]:
        """``dataset_mask``: clean and masked accuracy (Wilson) and the mask's energy fraction above
        :attr:`energy_radius` (:func:`energy_above`); ``single_masks``: the same accuracies, the share of
        images whose prediction the mask kept (Wilson) and the mean energy fraction (normal interval)."""
        r = self.energy_radius
        tags = {"energy_radius": r}
        out: list[Measure] = []
        if self.dataset is not None:
            d = self.dataset
            energy = float(energy_above(d.full[None], r)[0])
            out += [
                Measure("dataset_mask", proportion("clean_accuracy", d.accuracy.clean_correct), tags),
                Measure("dataset_mask", proportion("masked_accuracy", d.accuracy.masked_correct), tags),
                Measure("dataset_mask", point("mask_energy_above", energy, 1), tags),
            ]
        if self.single is not None:
            s = self.single
            width = int(self.info["size"][1])
            full = centred(torch.from_numpy(s.masks), width).numpy()
            out += [
                Measure("single_masks", proportion("clean_accuracy", s.accuracy.clean_correct), tags),
                Measure("single_masks", proportion("masked_accuracy", s.accuracy.masked_correct), tags),
                Measure(
                    "single_masks",
                    proportion("prediction_kept", s.clean_prediction == s.masked_prediction),
                    tags,
                ),
                Measure(
                    "single_masks", mean("mask_energy_above", energy_above(full, r), domain=(0.0, 1.0)), tags
                ),
            ]
        return out

    def meta(self) -> dict[str, Any]:
        out = dict(self.info)
        if self.dataset is not None:
            out["dataset"] = {
                **self.dataset.accuracy.summary(),
                "loss_start": self.dataset.loss_start,
                "loss_final": float(self.dataset.loss[-1]),
                "mask_mean": float(self.dataset.full.mean()),
            }
        if self.single is not None:
            s = self.single
            out["single"] = {
                **s.accuracy.summary(),
                "prediction_kept": float((s.clean_prediction == s.masked_prediction).mean()),
                "mask_mean": float(s.masks.mean()),
            }
        return out


# the mask's geometry -----------------------------------------------------------------------------
def energy_above(full: np.ndarray, radius: float) -> np.ndarray:
    """Share of each centred full-plane mask's energy (sum of squares) at radius >= ``radius``
    (cycles per image); NaN for an all-zero mask.

    Shape:
        (N, H, W) -> (N,).
    """
    m2 = np.asarray(full, dtype=np.float64) ** 2
    ring = centred_radius(m2.shape[-2:]) >= radius
    total = m2.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(total > 0, (m2 * ring).sum(axis=(-2, -1)) / total, np.nan))


def column_weights(
    width: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """How many full-plane bins each half-plane column stands for: 1 on the self-conjugate columns
    (0, and W/2 for even W), 2 elsewhere; they sum to W.

    >>> column_weights(8).tolist(), column_weights(7).tolist()
    ([1.0, 2.0, 2.0, 2.0, 1.0], [1.0, 2.0, 2.0, 2.0])
    """
    w = torch.full((width // 2 + 1,), 2.0, dtype=dtype, device=device)
    w[0] = 1.0
    if width % 2 == 0:
        w[-1] = 1.0
    return w


def l1_mean(mask: torch.Tensor, width: int) -> torch.Tensor:
    """``||M||_1 / numel(M)`` of the full-plane mask the half-plane ``mask`` defines.

    Shape:
        (..., H, W//2+1) -> (...).
    """
    h = mask.shape[-2]
    weights = column_weights(width, dtype=mask.dtype, device=mask.device)
    return (mask.abs() * weights).sum(dim=(-2, -1)) / (h * width)


def full_plane(mask: torch.Tensor, width: int) -> torch.Tensor:
    """The full-plane (unshifted ``fft2`` layout) mask of a half-plane one: ``M(-k) = M(k)``, with the
    self-conjugate columns replaced by their symmetric part (the part that acts).

    Shape:
        (..., H, W//2+1) -> (..., H, W).
    """
    h = mask.shape[-2]
    sym = symmetrize_self_conjugate(mask, width)
    cols = torch.arange(width // 2 + 1, width, device=mask.device)
    rows = torch.remainder(-torch.arange(h, device=mask.device), h)
    rest = sym.index_select(-2, rows).index_select(-1, width - cols)
    return torch.cat([sym, rest], dim=-1)


def centred(mask: torch.Tensor, width: int) -> torch.Tensor:
    """The full-plane mask with low frequencies at the centre (``fftshift``), for display.

    Shape:
        (..., H, W//2+1) -> (..., H, W).
    """
    return torch.fft.fftshift(full_plane(mask, width), dim=(-2, -1))


def mask_loss(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    clean_ce: torch.Tensor,
    mask: torch.Tensor,
    lam: float,
) -> torch.Tensor:
    """The per-sample loss ``exp((CE(f(Mx), y) - CE(f(x), y))^2) + lam * ||M||_1 / numel(M)``.

    Args:
        model: the frozen model.
        x: images (B, C, H, W).
        target: labels or the model's own predictions (B,).
        clean_ce: ``CE(f(x), target)`` per sample (B,), precomputed.
        mask: (H, W//2+1) shared, or (B, 1, H, W//2+1) per sample.
        lam: the sparsity weight lambda.

    Shape:
        -> (B,).
    """
    logits = model(apply_spectral_mask(x, mask))
    ce = F.cross_entropy(logits, target, reduction="none")
    penalty = l1_mean(mask, x.shape[-1])
    if mask.dim() == 4:
        penalty = penalty.view(-1)
    return torch.exp((ce - clean_ce) ** 2) + lam * penalty


def _one_cycle(
    opt: torch.optim.Optimizer, lr: float, steps: int, pct: float
) -> torch.optim.lr_scheduler.OneCycleLR:
    # OneCycleLR needs at least two steps to place its warm-up and annealing phases
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 2), pct_start=pct)


def _step(
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.OneCycleLR,
    mask: torch.Tensor,
    grad: torch.Tensor,
) -> None:
    mask.grad = grad
    opt.step()
    sched.step()
    with torch.no_grad():
        mask.clamp_(0.0, 1.0)


def _batched(n: int, size: int, fn: Any) -> torch.Tensor:
    """``cat(fn(rows) for consecutive row slices of ``size``)``."""
    return torch.cat([fn(slice(i, min(n, i + size))) for i in range(0, n, size)])


def _predict(model: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    with torch.no_grad():
        return model(x if mask is None else apply_spectral_mask(x, mask)).argmax(dim=1)


def _clean_ce(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x), target, reduction="none")


# training ------------------------------------------------------------------------------------------
def train_dataset_mask(
    model: nn.Module,
    data: ArrayDataset,
    options: FourierMaskOptions,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> DatasetMask:
    """The dataset-level mask (module docstring); ``model`` must be in eval mode.

    Shape:
        returns a mask (H, W//2+1).
    """
    _, height, width = check_image_size(data, "fourier_mask")
    device = model_device(model)
    n, bs, eb, lam = len(data), options.dataset_batch_size, options.eval_batch_size, options.dataset_lambda
    x_cpu, y_cpu = data.batch(np.arange(n))

    def rows_of(sel: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x_cpu[sel].to(device), y_cpu[sel].to(device)

    clean_ce = _batched(n, eb, lambda sl: _clean_ce(model, *rows_of(sl)))
    mask = torch.ones(height, width // 2 + 1, device=device, requires_grad=True)
    total = options.dataset_epochs * -(-n // bs)
    opt = torch.optim.Adam([mask], lr=options.dataset_lr)
    sched = _one_cycle(opt, options.dataset_lr, total, options.pct_start)
    with torch.no_grad():
        start = _batched(n, eb, lambda sl: mask_loss(model, *rows_of(sl), clean_ce[sl], mask, lam)).mean()
    index = torch.from_numpy(np.asarray(data.indices, dtype=np.int64))
    history = np.zeros(options.dataset_epochs)
    done = 0
    for epoch in range(options.dataset_epochs):
        order = torch.argsort(sample_keys(seed, f"fourier_mask@epoch={epoch}", index))
        epoch_loss = 0.0
        for s in range(0, n, bs):
            rows = order[s : s + bs]
            x, y = rows_of(rows)
            loss = mask_loss(model, x, y, clean_ce[rows.to(device)], mask, lam).mean()
            (grad,) = torch.autograd.grad(loss, [mask])
            _step(opt, sched, mask, grad)
            epoch_loss += float(loss.detach()) * len(rows)
            done += 1
            if progress is not None:
                progress(done, total)
        history[epoch] = epoch_loss / n
    final = mask.detach()
    labels = y_cpu.to(device)
    clean_ok = _batched(n, eb, lambda sl: _predict(model, rows_of(sl)[0])) == labels
    masked_ok = _batched(n, eb, lambda sl: _predict(model, rows_of(sl)[0], final)) == labels
    return DatasetMask(
        mask=final.cpu().numpy(),
        full=centred(final, width).cpu().numpy(),
        radial=radial_mean(full_plane(final, width)).cpu().numpy(),
        loss=history,
        loss_start=float(start),
        accuracy=MaskAccuracy(n, clean_ok.cpu().numpy(), masked_ok.cpu().numpy()),
    )


def train_single_masks(
    model: nn.Module,
    data: ArrayDataset,
    options: FourierMaskOptions,
    *,
    progress: Progress | None = None,
) -> SingleImageMasks:
    """One mask per image, target the model's own prediction (module docstring); ``model`` in eval mode.

    Deterministic: no randomness enters (every image's mask starts at ones and sees only its image).

    Shape:
        returns masks (N, H, W//2+1).
    """
    _, height, width = check_image_size(data, "fourier_mask")
    device = model_device(model)
    n, steps, lam = len(data), options.single_steps, options.single_lambda
    masks = np.zeros((n, height, width // 2 + 1), dtype=np.float32)
    history = np.zeros(steps)
    loss_start, loss_final = np.zeros(n), np.zeros(n)
    clean_pred, masked_pred = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    blocks = -(-n // options.single_batch_size)
    for block, s in enumerate(range(0, n, options.single_batch_size)):
        rows = np.arange(s, min(n, s + options.single_batch_size))
        x, _ = data.batch(rows)
        x = x.to(device)
        target = _predict(model, x)
        clean_ce = _clean_ce(model, x, target)
        mask = torch.ones(len(rows), 1, height, width // 2 + 1, device=device, requires_grad=True)
        opt = torch.optim.Adam([mask], lr=options.single_lr)
        sched = _one_cycle(opt, options.single_lr, steps, options.single_pct_start)
        for step in range(steps):
            per_sample = mask_loss(model, x, target, clean_ce, mask, lam)
            if step == 0:
                loss_start[rows] = per_sample.detach().cpu().numpy()
            # the sum gives every mask the gradient of its own image's loss
            (grad,) = torch.autograd.grad(per_sample.sum(), [mask])
            _step(opt, sched, mask, grad)
            history[step] += float(per_sample.detach().sum()) / n
            if progress is not None:
                progress(block * steps + step + 1, blocks * steps)
        final = mask.detach()
        with torch.no_grad():
            loss_final[rows] = mask_loss(model, x, target, clean_ce, final, lam).cpu().numpy()
        masks[rows] = final[:, 0].cpu().numpy()
        clean_pred[rows] = target.cpu().numpy()
        masked_pred[rows] = _predict(model, x, final).cpu().numpy()
    labels = np.asarray(data.labels, dtype=np.int64)
    return SingleImageMasks(
        masks=masks,
        radial=radial_mean(full_plane(torch.from_numpy(masks), width)).numpy(),
        loss=history,
        loss_start=loss_start,
        loss_final=loss_final,
        clean_prediction=clean_pred,
        masked_prediction=masked_pred,
        accuracy=MaskAccuracy(n, clean_pred == labels, masked_pred == labels),
    )


def fourier_mask(
    model: nn.Module,
    data: ArrayDataset,
    options: FourierMaskOptions | None = None,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> FourierMasks:
    """Dataset-level and/or single-image Fourier masks of ``model`` on ``data`` (module docstring).

    Args:
        model: float images in [0, 1] -> logits; frozen, run in eval mode (restored afterwards).
        data: the images the masks are trained and measured on.
        options: kind, lambdas, learning rates, epochs and steps.
        seed: the order of the dataset-level mask's training images.
        progress: ``progress(optimiser steps done, total)`` of each kind in turn.
    """
    opts = options or FourierMaskOptions()
    check_image_size(data, "fourier_mask")
    with evaluating(model):
        dataset = (
            train_dataset_mask(model, data, opts, seed=seed, progress=progress)
            if opts.kind in (MaskKind.DATASET, MaskKind.BOTH)
            else None
        )
        single = (
            train_single_masks(model, data, opts, progress=progress)
            if opts.kind in (MaskKind.SINGLE, MaskKind.BOTH)
            else None
        )
    info = {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in dataclasses.asdict(opts).items()}
    return FourierMasks(
        dataset=dataset,
        single=single,
        indices=np.asarray(data.indices, dtype=np.int64),
        labels=np.asarray(data.labels, dtype=np.int64),
        info={"seed": seed, "size": list(data.shape[1:]), **info},
    )


def _run(inputs: ProbeInputs, options: FourierMaskOptions) -> FourierMasks:
    assert inputs.model is not None and inputs.data is not None  # Probe.__call__ checked them
    return fourier_mask(inputs.model, inputs.data, options, seed=inputs.seed, progress=inputs.progress)


PROBES.register(
    "fourier_mask",
    Probe(
        name="fourier_mask",
        summary="Karantzas et al. learned Fourier masks (dataset-level and single-image) before the model",
        needs=frozenset({"model", "data"}),
        options=FourierMaskOptions,
        run=_run,
    ),
)
