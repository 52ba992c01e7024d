"""The spectral mask operator on each backend against the memory floor: a plain copy of the same tensor.

For every (B, C, H = W) of the grid it times ``x.clone()`` and, on each backend that can serve the
device, ``apply_spectral_mask(x, mask)`` forward and forward + backward (gradient with respect to x),
all interleaved in the same run so that machine noise hits them alike; it prints the best time, the
effective bandwidth (bytes read + written: 2 tensors forward, 4 forward + backward) and the ratio to
the copy (whose floor is 1 forward and 2 forward + backward), and the speed-up over ``torch``.

    python benchmarks/bench_spectral_mask.py --quick               # 1024x3x32x32 only, CPU, 2 threads
    python benchmarks/bench_spectral_mask.py                       # the CPU grid
    python benchmarks/bench_spectral_mask.py --device cuda         # the GPU grid (triton, matmul, torch)
    python benchmarks/bench_spectral_mask.py --quick --dense       # also the dense (HW x HW) GEMM

B in {256, 1024, 4096}, C in {1, 3}, H = W in {28, 32, 64}; float32; a Gaussian low-pass r = 8 mask
shared by every image (``--mask per-channel`` / ``per-sample`` draw a random (C, H, W//2+1) /
(B, 1, H, W//2+1) one instead).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import platform
import sys
import time
from collections.abc import Callable

import torch

from freqbench.ops.masks import frequency_mask
from freqbench.ops.spectral_mask import SPECTRAL_MASK_BACKENDS, apply_spectral_mask

GRID_B = (256, 1024, 4096)
GRID_C = (1, 3)
GRID_S = (28, 32, 64)


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or "cpu"


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    def measure(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            n = 0
            while n < 3 or time.perf_counter() - start < 0.02:  # many launches per sample on a GPU
                fn()
                n += 1
            torch.cuda.synchronize(device)
            return (time.perf_counter() - start) / n
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return measure


def _mask(kind: str, b: int, c: int, s: int, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if kind == "per-sample":
        return torch.rand(b, 1, s, s // 2 + 1, generator=g).to(device)
    if kind == "per-channel":
        return torch.rand(c, s, s // 2 + 1, generator=g).to(device)
    return frequency_mask("low", 8, (s, s), profile=kind, device=device)


def _dense_operator(mask: torch.Tensor, s: int, device: torch.device) -> torch.Tensor:
    eye = torch.eye(s * s, device=device).view(s * s, 1, s, s)
    return apply_spectral_mask(eye, mask, backend="torch").view(s * s, s * s).contiguous()


def _forward_backward(x: torch.Tensor, mask: torch.Tensor, grad: torch.Tensor, backend: str) -> None:
    apply_spectral_mask(x, mask, backend=backend).backward(grad)


def _row(
    shape: tuple[int, int, int, int],
    backends: list[str],
    args: argparse.Namespace,
    device: torch.device,
) -> list[str]:
    b, c, s, _ = shape
    x = torch.rand(shape, device=device)
    mask = _mask(args.mask, b, c, s, device)
    xg = x.clone().requires_grad_(True)
    grad = torch.rand_like(x)
    fns: dict[str, Callable[[], object]] = {"copy": x.clone}
    for name in backends:
        fns[f"{name} fwd"] = functools.partial(apply_spectral_mask, x, mask, backend=name)
        fns[f"{name} fwd+bwd"] = functools.partial(_forward_backward, xg, mask, grad, name)
    if args.dense and args.mask in ("ideal", "gaussian", "butterworth") and s * s <= 1024:
        op = _dense_operator(mask, s, device)
        fns["dense fwd"] = lambda: (x.view(b * c, s * s) @ op).view(shape)
    measure = _timer(device)
    for fn in fns.values():  # warm-up: caches, kernels, autotuning
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(args.reps):
        for key, fn in fns.items():
            best[key] = min(best[key], measure(fn))
    nbytes = x.numel() * x.element_size()
    copy = best["copy"]
    lines = [f"| {b} | {c} | {s} | copy | {copy * 1e3:.3f} | {2 * nbytes / copy / 1e9:.1f} | 1.00 | | |"]
    for name in [*backends, "dense"]:
        if f"{name} fwd" not in best:
            continue
        fwd = best[f"{name} fwd"]
        cells = [f"{fwd * 1e3:.3f}", f"{2 * nbytes / fwd / 1e9:.1f}", f"{fwd / copy:.2f}"]
        fb = best.get(f"{name} fwd+bwd")
        if fb is not None:
            cells += [f"{fb * 1e3:.3f}", f"{fb / copy:.2f}"]
        else:
            cells += ["", ""]
        ref = best.get("torch fwd")
        speed = f"{ref / fwd:.2f}" if ref is not None else ""
        lines.append(f"| {b} | {c} | {s} | {name} | " + " | ".join(cells) + f" | {speed} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--reps", type=int, default=7, help="interleaved repetitions; the best is reported")
    ap.add_argument("--quick", action="store_true", help="only 1024x3x32x32")
    ap.add_argument(
        "--mask",
        default="gaussian",
        choices=["ideal", "gaussian", "butterworth", "per-channel", "per-sample"],
    )
    ap.add_argument("--backends", nargs="*", help="default: every backend that serves the device")
    ap.add_argument("--dense", action="store_true", help="also time the dense (HW x HW) operator GEMM")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    probe = torch.zeros(1, 1, 32, 32, device=device)
    backends = args.backends or [
        n
        for n in SPECTRAL_MASK_BACKENDS.names()
        if SPECTRAL_MASK_BACKENDS.get(n).unsupported(probe, probe) is None
        and not (n == "triton" and device.type == "cpu")  # the interpreter is a test tool, not a backend
    ]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(f"# `python {' '.join(sys.argv)}`")
    print(f"# spectral mask: {name}, torch {torch.__version__}, {args.threads} CPU threads, float32")
    print(f"# mask {args.mask}; best of {args.reps} interleaved; x copy = time / copy time")
    print("# (the floor is 1 forward, 2 forward + backward)")
    print()
    cols = ["B", "C", "H=W", "backend", "fwd ms", "fwd GB/s", "fwd x copy", "fwd+bwd ms", "fwd+bwd x copy"]
    print("| " + " | ".join([*cols, "speed-up vs torch"]) + " |")
    print("|" + "---|" * (len(cols) + 1))
    grid = [(1024, 3, 32)] if args.quick else list(itertools.product(GRID_B, GRID_C, GRID_S))
    load = f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    for b, c, s in grid:
        for line in _row((b, c, s, s), backends, args, device):
            print(line, flush=True)
    if load:
        print(f"\n# {load} at the start, {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
