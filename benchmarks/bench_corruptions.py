"""Speed of the batched torch corruptions against per-image reference implementations (CPU).

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_corruptions.py [--n 1024] [--ref-n 64]

Part 1, per corruption at severity 3: images/s of the registered torch corruption on batches of 256
32 x 32 RGB images, and of the per-image reference implementation the fidelity tests use (every
``tests/reference/cifar10c_*.py`` module's ``REFERENCE`` dict; uint8 H x W x C in and out), side by
side with their ratio, and the mean ratio. Part 2: the time to generate the whole 15 x 5 ``corruptions``
suite on ``--n`` images, against the time a ResNet-20 (``freqbench.models.cifar_resnet``) spends on the
forward passes over the same 76 conditions (clean included); the forward time is measured once on the
``--n`` images and multiplied by 76 (it does not depend on the condition).

Methodology: ``torch.set_num_threads(2)`` (``--threads``); each torch measurement runs once to warm
up, then reports the median of ``--repeat`` runs; reference timings loop over ``--ref-n`` images
once. The images are synthetic (smooth colour fields with pixel noise, the tests' generator), which
is what matters for speed; the randomness comes from per-sample generators as in a real run.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

from freqbench.corruption_names import BENCHMARK, EXTRA  # noqa: E402
from freqbench.ops.random import SampleGenerator  # noqa: E402
from freqbench.perturbations import PERTURBATIONS  # noqa: E402

BATCH = 256
SEVERITY = 3


def reference_functions() -> dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]]:
    """Merge the ``REFERENCE`` dicts of every ``tests/reference/cifar10c_*.py`` module."""
    merged: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {}
    for path in sorted((ROOT / "tests" / "reference").glob("cifar10c_*.py")):
        merged.update(importlib.import_module(path.stem).REFERENCE)
    return merged


def make_images(n: int, *, seed: int = 0) -> np.ndarray:
    """Synthetic 32 x 32 RGB uint8 images (n, 32, 32, 3): smooth colour fields plus pixel noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i in range(n):
        base = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
        smooth = np.asarray(Image.fromarray(base).resize((32, 32), Image.BICUBIC)).astype(np.int64)
        out[i] = np.clip(smooth + rng.integers(-25, 25, smooth.shape), 0, 255)
    return out


def corrupt(name: str, severity: int, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    module = PERTURBATIONS.get(name)(severity=severity)
    gen = SampleGenerator.from_seed(0, indices, stream=f"{name}@{severity}") if module.random else None
    return module(x, gen)


def time_torch(name: str, x: torch.Tensor, repeat: int) -> float:
    idx = torch.arange(x.shape[0])
    corrupt(name, SEVERITY, x, idx)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        corrupt(name, SEVERITY, x, idx)
        runs.append(time.perf_counter() - start)
    return x.shape[0] / statistics.median(runs)


def time_reference(
    fn: Callable[[np.ndarray, int, np.random.Generator], np.ndarray], images: np.ndarray
) -> float:
    rng = np.random.default_rng(0)
    fn(images[0], SEVERITY, rng)
    start = time.perf_counter()
    for im in images:
        fn(im, SEVERITY, rng)
    return len(images) / (time.perf_counter() - start)


def resnet20() -> torch.nn.Module:
    from freqbench.models.cifar_resnet import CifarResNet

    return CifarResNet(20).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="images for the whole-suite timing")
    parser.add_argument("--ref-n", type=int, default=64, help="images for each reference timing")
    parser.add_argument("--repeat", type=int, default=3, help="timed torch runs per corruption")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the issue's setting: 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    images = make_images(max(BATCH, args.n))
    x = torch.from_numpy(images[:BATCH]).permute(0, 3, 1, 2).float() / 255
    refs = reference_functions()
    names = [n for n in (*BENCHMARK, *EXTRA) if n in PERTURBATIONS]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, severity {SEVERITY}")
    print(f"{'corruption':<20}{'torch img/s':>14}{'reference img/s':>18}{'ratio':>9}")
    ratios: dict[str, float] = {}
    for name in names:
        fast = time_torch(name, x, args.repeat)
        if name in refs:
            slow = time_reference(refs[name], images[: args.ref_n])
            ratios[name] = fast / slow
            print(f"{name:<20}{fast:>14,.0f}{slow:>18,.0f}{ratios[name]:>8.1f}x")
        else:
            print(f"{name:<20}{fast:>14,.0f}{'(no reference)':>18}")
    if ratios:
        values = list(ratios.values())
        mean, geo = statistics.mean(values), statistics.geometric_mean(values)
        print(f"mean ratio {mean:.1f}x, geometric mean {geo:.1f}x")
        short = [f"{n} ({r:.1f}x)" for n, r in ratios.items() if r < 20]
        print("below 20x: " + (", ".join(short) if short else "none"))

    n = args.n
    xs = torch.from_numpy(images[:n]).permute(0, 3, 1, 2).float() / 255
    gen_time = 0.0
    for name in BENCHMARK:
        for severity in range(1, 6):
            for lo in range(0, n, BATCH):
                idx = torch.arange(lo, min(lo + BATCH, n))
                start = time.perf_counter()
                corrupt(name, severity, xs[lo : lo + BATCH], idx)
                gen_time += time.perf_counter() - start
    model = resnet20()
    with torch.inference_mode():
        model(xs[:BATCH])
        start = time.perf_counter()
        for lo in range(0, n, BATCH):
            model(xs[lo : lo + BATCH])
        forward = time.perf_counter() - start
    conditions = 1 + 5 * len(BENCHMARK)
    print(f"\nwhole corruptions suite on {n} images ({conditions} conditions):")
    print(f"  corruption generation (75 conditions): {gen_time:8.1f} s")
    total = forward * conditions
    print(f"  ResNet-20 forward ({conditions} x {n} images): {total:8.1f} s ({forward:.2f} s per pass)")
    print(f"  generation / forward: {gen_time / total:.2f}")


if __name__ == "__main__":
    main()
