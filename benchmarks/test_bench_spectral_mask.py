"""pytest-benchmark: the spectral mask operator on each backend against a plain copy of the same tensor.

1024 x 3 x 32 x 32 float32, a shared Gaussian low-pass mask, 2 CPU threads (``pytest benchmarks/
test_bench_spectral_mask.py --benchmark-only``); compare the rows of one run, absolute times on shared
machines are noisy. The Triton rows run only where CUDA is present. The table over batch, channels and
size, with bandwidth and ratios, is ``benchmarks/bench_spectral_mask.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from freqbench.ops.masks import frequency_mask
from freqbench.ops.spectral_mask import apply_spectral_mask

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module", params=DEVICES)
def case(request) -> tuple[torch.Tensor, torch.Tensor]:
    torch.set_num_threads(2)
    device = torch.device(request.param)
    return torch.rand(1024, 3, 32, 32, device=device), frequency_mask(
        "low", 8, (32, 32), profile="gaussian", device=device
    )


def _synced(fn: Callable[[], object], x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        fn()
        if x.is_cuda:
            torch.cuda.synchronize(x.device)

    return run


def test_copy_floor(benchmark, case) -> None:
    x, _ = case
    benchmark(_synced(x.clone, x))


@pytest.mark.parametrize("backend", ["torch", "matmul", "triton"])
def test_spectral_mask_forward(benchmark, case, backend) -> None:
    x, mask = case
    if backend == "triton" and not x.is_cuda:
        pytest.skip("the Triton kernel is timed on CUDA only (the interpreter is a test tool)")
    benchmark(_synced(lambda: apply_spectral_mask(x, mask, backend=backend), x))


@pytest.mark.parametrize("backend", ["torch", "matmul", "triton"])
def test_spectral_mask_forward_backward(benchmark, case, backend) -> None:
    x, mask = case
    if backend == "triton" and not x.is_cuda:
        pytest.skip("the Triton kernel is timed on CUDA only (the interpreter is a test tool)")
    xg = x.clone().requires_grad_(True)
    grad = torch.rand_like(x)
    benchmark(_synced(lambda: apply_spectral_mask(xg, mask, backend=backend).backward(grad), x))
