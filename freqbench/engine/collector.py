"""Per-sample results of one condition, filled batch by batch by the evaluation loop.

The scores per sample are :func:`freqbench.ops.scoring.score_logits` (prediction, correctness, loss,
logit margin); for conditions that change the input the collector also measures the perturbation
``x' - x`` (Linf and L2 norms, radial energy and band energies, :mod:`freqbench.ops.spectrum`), and it
keeps each diagnostic of the step (:meth:`freqbench.engine.steps.Step.diagnostics`).
"""

from __future__ import annotations

import numpy as np
import torch

from freqbench.errors import ConfigError
from freqbench.ops.scoring import score_logits
from freqbench.ops.spectrum import band_energy, band_fractions, radial_energy
from freqbench.store.aggregate import DIAGNOSTIC_PREFIX


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
        self.energy: torch.Tensor | None = None
        self.bands: torch.Tensor | None = None
        self.diag_names: frozenset[str] | None = None

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
        a = self.arrays
        a["index"][sl] = idx
        a["label"][sl] = y.cpu().numpy()
        for name, value in score_logits(logits, y).items():
            a[name][sl] = value.cpu().numpy()
        if x2 is not x:  # the identity step returns its input: nothing to measure
            delta = (x2 - x).float()
            flat = delta.flatten(1)
            a["delta_linf"][sl] = flat.abs().amax(1).cpu().numpy()
            a["delta_l2"][sl] = flat.norm(dim=1).cpu().numpy()
            e = radial_energy(delta).sum(0).cpu()
            self.energy = e if self.energy is None else self.energy + e
            bands = band_energy(delta).cpu()
            if self.bands is None:
                self.bands = torch.zeros(self.n, bands.shape[1], dtype=torch.float64)
            self.bands[sl] = bands
        self._add_diagnostics(sl, diagnostics or {})

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

    def finish(self) -> dict[str, np.ndarray]:
        """The arrays of the whole condition (what the store writes)."""
        out = dict(self.arrays)
        if self.energy is not None:
            n = len(out["index"])
            out["delta_energy"] = (self.energy / n).numpy()
        if self.bands is not None:
            # per sample (NaN where delta = 0) and energy-weighted over the dataset
            out["delta_band_fractions"] = band_fractions(self.bands).numpy()
            out["band_fractions"] = band_fractions(self.bands.sum(0)).numpy()
        return out


__all__ = ["Collector"]
