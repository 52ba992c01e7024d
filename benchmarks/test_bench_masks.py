"""pytest-benchmark: the FFT-mask path against the bandwidth floor (a plain copy of the same tensor).

REFERENCE.md section 8: on this CPU, rfft2 -> * mask -> irfft2 on 1024x3x32x32 float32 took about
15 ms and a copy about 1.5 ms. Compare the two rows of one run (``pytest benchmarks --benchmark-only``);
absolute times on shared machines are noisy.
"""

from __future__ import annotations

import pytest
import torch

from freqbench.ops.masks import apply_rfft_mask, frequency_mask
from freqbench.perturbations.frequency import gaussian_filter


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    torch.set_num_threads(2)
    return torch.rand(1024, 3, 32, 32)


def test_copy_floor(benchmark, batch) -> None:
    benchmark(batch.clone)


def test_rfft_mask_low_pass(benchmark, batch) -> None:
    mask = frequency_mask("low", 8, (32, 32))
    benchmark(apply_rfft_mask, batch, mask)


def test_gaussian_filter_matrix(benchmark, batch) -> None:
    benchmark(gaussian_filter, batch, 2.0)
