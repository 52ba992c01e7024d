"""The Triton kernel of the spectral mask operator against the independent numpy FFT.

Triton reads ``TRITON_INTERPRET`` when a kernel is defined, so the CPU checks run in Triton's
interpreter in a child pytest process started with ``TRITON_INTERPRET=1``
(:func:`test_kernel_under_the_interpreter`; the ``interpreted`` tests below are collected only there, small
shapes so that CI stays fast). The ``gpu`` tests run the compiled kernel natively when CUDA is present
(``pytest -m gpu tests/ops/test_spectral_mask_triton.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_spectral_mask import numpy_reference

from freqbench.ops.masks import frequency_mask
from freqbench.ops.spectral_mask import apply_spectral_mask, auto_backend, triton_interpreting

pytest.importorskip("triton")

INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"
#: collected only in the TRITON_INTERPRET=1 child (tests/ops/conftest.py deselects them elsewhere)
interpreted = pytest.mark.triton_interpreter
SIZES = ((28, 28), (31, 31), (32, 32), (64, 64), (24, 40), (7, 9))


def _mask(kind: str, b: int, c: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    half, f64 = (h, w // 2 + 1), torch.float64
    return {
        "gaussian-low": lambda: frequency_mask("low", 5, (h, w), profile="gaussian", dtype=f64).numpy(),
        "ideal-band": lambda: frequency_mask("band", (2, 6), (h, w), dtype=f64).numpy(),
        "random": lambda: rng.random(half),  # not symmetric in ky: the swap dots run
        "random-channel": lambda: rng.random((c, *half)),
        "random-sample": lambda: rng.random((b, 1, *half)),
    }[kind]()


def _check(size: tuple[int, int], kind: str, dtype: torch.dtype, device: str, b: int = 2, c: int = 3) -> None:
    h, w = size
    rng = np.random.default_rng(h * 100 + w)
    x = rng.random((b, c, h, w))
    mask = _mask(kind, b, c, h, w, rng)
    got = apply_spectral_mask(
        torch.from_numpy(x).to(device, dtype), torch.from_numpy(mask).float().to(device), backend="triton"
    )
    assert got.dtype == dtype and got.shape == x.shape and got.device.type == device
    expected = numpy_reference(x, mask.astype(np.float32).astype(np.float64))
    if dtype == torch.float32:
        np.testing.assert_allclose(got.double().cpu().numpy(), expected, atol=1e-5, rtol=0)
    else:
        # inputs rounded to the half dtype, one rounding of the result
        expected = numpy_reference(torch.from_numpy(x).to(dtype).double().numpy(), mask)
        eps = torch.finfo(dtype).eps
        np.testing.assert_allclose(got.double().cpu().numpy(), expected, rtol=eps, atol=eps)


@pytest.mark.triton_driver
def test_kernel_under_the_interpreter() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__]
    res = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and " failed" not in res.stdout, res.stdout[-2000:]


@interpreted
def test_interpreter_is_active() -> None:
    assert triton_interpreting()
    assert auto_backend(torch.zeros(1, 1, 8, 8), torch.ones(8, 5)) == "matmul"  # auto keeps its CPU rule


@interpreted
@pytest.mark.parametrize("kind", ["gaussian-low", "random"])
@pytest.mark.parametrize("size", SIZES)
def test_interpreted_float32(size, kind) -> None:
    _check(size, kind, torch.float32, "cpu")


@interpreted
@pytest.mark.parametrize("kind", ["ideal-band", "random-channel", "random-sample"])
@pytest.mark.parametrize("size", [(28, 28), (24, 40)])
def test_interpreted_broadcast_masks(size, kind) -> None:
    _check(size, kind, torch.float32, "cpu", b=3, c=2)


@interpreted
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_interpreted_half_precision(dtype) -> None:
    _check((32, 32), "random", dtype, "cpu")


@interpreted
def test_interpreted_gradients_match_the_reference() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 2, 20, 18, generator=g, requires_grad=True)
    mask = torch.rand(2, 1, 20, 10, generator=g, requires_grad=True)
    out_grad = torch.randn(2, 2, 20, 18, generator=g)
    ref = torch.autograd.grad(apply_spectral_mask(x, mask, backend="torch"), (x, mask), out_grad)
    got = torch.autograd.grad(apply_spectral_mask(x, mask, backend="triton"), (x, mask), out_grad)
    torch.testing.assert_close(got[0], ref[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1], ref[1], atol=1e-5, rtol=1e-5)


# native, on a GPU -----------------------------------------------------------------------------------
gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@gpu
@needs_cuda
@pytest.mark.parametrize("kind", ["gaussian-low", "ideal-band", "random", "random-channel", "random-sample"])
@pytest.mark.parametrize("size", SIZES)
def test_gpu_float32(size, kind) -> None:
    _check(size, kind, torch.float32, "cuda", b=64, c=3)


@gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("size", [(28, 28), (32, 32), (64, 64)])
def test_gpu_half_precision(size, dtype) -> None:
    _check(size, "gaussian-low", dtype, "cuda", b=64)


@gpu
@needs_cuda
def test_gpu_auto_is_triton_and_agrees_with_cufft() -> None:
    x = torch.rand(512, 3, 32, 32, device="cuda")
    mask = frequency_mask("low", 8, (32, 32), profile="gaussian", device="cuda")
    assert auto_backend(x, mask) == "triton"
    for backend in ("matmul", "torch"):
        torch.testing.assert_close(
            apply_spectral_mask(x, mask), apply_spectral_mask(x, mask, backend=backend), atol=1e-5, rtol=0
        )


@gpu
@needs_cuda
def test_gpu_gradients_match_the_reference() -> None:
    x = torch.rand(64, 3, 28, 28, device="cuda", requires_grad=True)
    mask = torch.rand(28, 15, device="cuda", requires_grad=True)
    out_grad = torch.randn_like(x)
    ref = torch.autograd.grad(apply_spectral_mask(x, mask, backend="torch"), (x, mask), out_grad)
    got = torch.autograd.grad(apply_spectral_mask(x, mask, backend="triton"), (x, mask), out_grad)
    torch.testing.assert_close(got[0], ref[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1], ref[1], atol=1e-4, rtol=1e-5)
