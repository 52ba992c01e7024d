"""The frequency suite's low-pass sweep ends beyond the corner of the spectrum, where the ideal
low-pass is exactly the identity; the conditions that existed before r = 23 are unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqbench.config import SuiteOptions
from freqbench.perturbations import PERTURBATIONS
from freqbench.suites import SUITES

PROFILES = ("ideal", "gaussian", "butterworth")
#: the sweep before the identity radius was added (suite version 1)
OLD_LOW = (1, 2, 4, 6, 8, 10, 12, 16)


def _suite():  # type: ignore[no-untyped-def]
    return SUITES.get("frequency")(SuiteOptions())


def _corner(n: int) -> float:
    k = np.fft.fftfreq(n) * n
    return float(np.sqrt(k[:, None] ** 2 + k[None, :] ** 2).max())


@pytest.mark.parametrize("size", [28, 32])
def test_largest_ideal_low_pass_is_the_identity(size) -> None:
    radii = [c.params["r"] for c in _suite().conditions if c.transform == "low_pass_ideal"]
    assert max(radii) > _corner(size) and _corner(32) == pytest.approx(16 * np.sqrt(2))
    assert all(r < _corner(size) for r in radii[:-1])  # every other radius removes something
    x = torch.randint(0, 256, (3, 3, size, size), generator=torch.Generator().manual_seed(1)) / 255
    y = PERTURBATIONS.get("low_pass_ideal")(r=max(radii))(x)
    assert torch.equal(y, x)
    assert not torch.equal(PERTURBATIONS.get("low_pass_ideal")(r=16)(x), x)  # 16 is not past the corner


def test_existing_conditions_are_unchanged() -> None:
    suite = _suite()
    assert suite.version == 1  # no old condition changed meaning: stored results stay valid
    by_key = {c.key: c for c in suite.conditions}
    for profile in PROFILES:
        for r in OLD_LOW:
            cond = by_key[f"low_pass_{profile}@r={r}"]
            assert dict(cond.params) == {"r": r} and cond.tags == {"group": f"low_pass_{profile}", "r": r}
    added = [k for k in by_key if k.startswith("low_pass_") and by_key[k].params["r"] not in OLD_LOW]
    assert added == [f"low_pass_{p}@r=23" for p in PROFILES]
    assert len(suite.conditions) == 1 + 3 * (8 + 1 + 6 + 4) + 3 + 4 + 6
    assert "clamping" in suite.summaries
