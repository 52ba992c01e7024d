"""Per-sample results of one condition, filled batch by batch by the evaluation loop.

The scores per sample are :func:`freqbench.ops.scoring.score_logits` (prediction, correctness, loss,
logit margin); for conditions that change the input the collector also measures the perturbation
``x' - x`` (Linf and L2 norms, radial energy and band energies, :mod:`freqbench.ops.spectrum`), and it
keeps each diagnostic of the step (:meth:`freqbench.engine.steps.Step.diagnostics`).

Everything is kept per sample until :meth:`Collector.finish`, which derives the dataset-level arrays
(mean radial spectrum, energy-weighted band fractions) from the per-sample ones in sample order
(:func:`finish_share`). So they do not depend on the batch size, and a sharded run
(:mod:`freqbench.engine.distributed`) that gathers every rank's :meth:`Collector.share` and
reassembles them (:func:`merge_shares`) stores exactly the arrays of one process.

What the collector computes from device tensors stays on the device until :meth:`Collector.share`,
which copies each array to the host once per condition instead of once per batch (on a GPU every
copy is a synchronisation); the values are those of per-batch copies.
"""

from __future__ import annotations

import numpy as np
import torch

from freqbench.errors import ConfigError
from freqbench.ops.scoring import score_logits
from freqbench.ops.spectrum import band_energy, band_fractions, radial_energy
from freqbench.store.aggregate import DIAGNOSTIC_PREFIX

#: per-sample arrays of a :meth:`Collector.share` that :func:`finish_share` reduces and does not store
RADIAL, BANDS = "radial_energy", "band_energy"


class Collector:
    """Per-sample arrays and the perturbation's radial energy, filled batch by batch.

    Besides the fixed arrays it stores, for conditions that change the input, the per-sample band
    fractions ``delta_band_fractions`` (n, 3) (NaN for an unchanged image), the dataset-level
    energy-weighted ``band_fractions`` (3,) and the mean radial spectrum ``delta_energy``
    (:mod:`freqbench.ops.spectrum`), and each diagnostic of the step as ``diag_<name>`` (n,)
    (:meth:`freqbench.engine.steps.Step.diagnostics`).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrays: dict[str, np.ndarray] = {
            "index": np.zeros(n, np.int64),
            "label": np.zeros(n, np.int64),
            "pred": np.zeros(n, np.int64),
            "correct": np.zeros(n, bool),
            "loss": np.zeros(n, np.float32),
            "margin": np.zeros(n, np.float32),
            "delta_linf": np.zeros(n, np.float32),
            "delta_l2": np.zeros(n, np.float32),
        }
        self.radial: torch.Tensor | None = None  # (n, R) per-sample radial energy of x' - x
        self.bands: torch.Tensor | None = None  # (n, 3) per-sample band energy of x' - x
        self.diag_names: frozenset[str] | None = None
        # batches not yet copied to the host: their rows and {array name: device tensor}
        self._pending: list[tuple[slice, dict[str, torch.Tensor]]] = []

    def add(
        self,
        sl: slice,
        idx: np.ndarray,
        x: torch.Tensor,
        x2: torch.Tensor,
        y: torch.Tensor,
        logits: torch.Tensor,
        diagnostics: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Store one batch: rows ``sl`` of the dataset, sample indices ``idx``, input ``x``, the
        condition's output ``x2`` (``x`` itself for the identity), labels ``y`` and the logits on ``x2``."""
        self.arrays["index"][sl] = idx
        parts = {"label": y, **score_logits(logits, y)}
        if x2 is not x:  # the identity step returns its input: nothing to measure
            delta = (x2 - x).float()
            flat = delta.flatten(1)
            parts["delta_linf"] = flat.abs().amax(1)
            parts["delta_l2"] = flat.norm(dim=1)
            parts[RADIAL] = radial_energy(delta)
            parts[BANDS] = band_energy(delta)
        self._pending.append((sl, {k: v.detach() for k, v in parts.items()}))
        self._add_diagnostics(sl, diagnostics or {})

    def _to_host(self) -> None:
        """Copy the pending batches to the host arrays: one copy per array."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        everything = np.arange(self.n)
        for name in dict.fromkeys(k for _, parts in pending for k in parts):
            # a batch whose output is its input measures no perturbation: its rows keep their zeros
            have = [(sl, parts[name]) for sl, parts in pending if name in parts]
            rows = np.concatenate([everything[sl] for sl, _ in have])
            value = torch.cat([v for _, v in have]).cpu()
            if name == RADIAL:
                if self.radial is None:
                    self.radial = torch.zeros(self.n, value.shape[1], dtype=value.dtype)
                self.radial[rows] = value
            elif name == BANDS:
                if self.bands is None:
                    self.bands = torch.zeros(self.n, value.shape[1], dtype=torch.float64)
                self.bands[rows] = value.to(torch.float64)
            else:
                self.arrays[name][rows] = value.numpy()

    def _add_diagnostics(self, sl: slice, diagnostics: dict[str, torch.Tensor]) -> None:
        names = frozenset(diagnostics)
        if self.diag_names is None:
            self.diag_names = names
            for name in names:
                self.arrays[DIAGNOSTIC_PREFIX + name] = np.full(self.n, np.nan, np.float64)
        elif names != self.diag_names:
            raise ConfigError(
                f"diagnostics changed between batches: {sorted(self.diag_names)} then {sorted(names)}; "
                "a transform's diagnostics() must return the same names for every batch"
            )
        for name, value in diagnostics.items():
            self.arrays[DIAGNOSTIC_PREFIX + name][sl] = value.numpy()

    def share(self) -> dict[str, np.ndarray]:
        """Every per-sample array (first axis: the rows of this collector), the radial and band
        energies of the perturbation included: what :func:`finish_share` turns into stored arrays."""
        self._to_host()
        out = dict(self.arrays)
        if self.radial is not None:
            out[RADIAL] = self.radial.numpy()
        if self.bands is not None:
            out[BANDS] = self.bands.numpy()
        return out

    def finish(self) -> dict[str, np.ndarray]:
        """The arrays of the whole condition (what the store writes)."""
        return finish_share(self.share())


def finish_share(share: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The stored arrays from per-sample ones (:meth:`Collector.share`): the radial energies become the
    mean spectrum ``delta_energy``, the band energies the fractions per sample and over the dataset."""
    out = {k: v for k, v in share.items() if k not in (RADIAL, BANDS)}
    if RADIAL in share:
        radial = torch.from_numpy(share[RADIAL])
        out["delta_energy"] = (radial.sum(0) / len(radial)).numpy()
    if BANDS in share:
        bands = torch.from_numpy(share[BANDS])
        # per sample (NaN where delta = 0) and energy-weighted over the dataset
        out["delta_band_fractions"] = band_fractions(bands).numpy()
        out["band_fractions"] = band_fractions(bands.sum(0)).numpy()
    return out


def merge_shares(
    shares: list[dict[str, np.ndarray]], rows: list[np.ndarray], n: int
) -> dict[str, np.ndarray]:
    """One share of ``n`` rows from the shares of disjoint row sets: ``shares[i]`` holds rows ``rows[i]``.

    Shares without rows (a rank given no samples) contribute nothing; the others must hold the same
    arrays, each with one entry per row.

    Raises:
        ConfigError: the rows do not cover ``0..n-1`` exactly once, or the shares disagree on their
            arrays (names, shapes beyond the first axis, dtypes) or on their length.
    """
    covered = np.sort(np.concatenate([np.asarray(r, np.int64) for r in rows])) if rows else np.zeros(0)
    if len(covered) != n or not np.array_equal(covered, np.arange(n)):
        raise ConfigError(
            f"shares cover {len(covered)} row(s) with repeats or gaps, expected rows 0..{n - 1} once each"
        )
    full: dict[str, np.ndarray] = {}
    layout: tuple[str, ...] | None = None
    for share, r in zip(shares, rows, strict=True):
        if len(r) == 0:
            continue
        names = tuple(sorted(share))
        if layout is None:
            layout = names
            full = {k: np.empty((n, *v.shape[1:]), v.dtype) for k, v in share.items()}
        elif names != layout:
            raise ConfigError(f"shares hold different arrays: {list(layout)} and {list(names)}")
        for k, v in share.items():
            if len(v) != len(r) or v.shape[1:] != full[k].shape[1:] or v.dtype != full[k].dtype:
                raise ConfigError(
                    f"share array {k!r} is {v.shape} {v.dtype} for {len(r)} row(s), expected "
                    f"({len(r)}, ...{full[k].shape[1:]}) {full[k].dtype}"
                )
            full[k][r] = v
    return full


__all__ = ["BANDS", "RADIAL", "Collector", "finish_share", "merge_shares"]
