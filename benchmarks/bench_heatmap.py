"""Fourier heat-map speed: images/s of the ``fourier_heatmap`` probe vs a bare forward loop of the same
model, side by side in one run, and the time of the full map on 1000 images.

Method: the same model (CIFAR ResNet-20 by default, random init: speed does not depend on the
weights) and synthetic uint8 32x32 RGB images. Three rows, repeated in alternation so machine noise
hits them alike, best of ``--reps`` (on a shared machine noise only adds time):

- *bare forward*: ``model(x)`` under ``torch.inference_mode`` on one fixed batch of ``--batch-size``
  images, as many images in total as the probe forwards (N images x 481 positions): the model's own
  cost, nothing else;
- *heat map*: :func:`freqbench.probes.fourier_heatmap.fourier_heatmap` end to end (decoding from
  uint8, counter-RNG signs, batched perturbation, clipping, forward, bookkeeping, intervals), NCHW;
- *heat map, channels_last*: the same with ``channels_last=True``.

images/s counts perturbed images forwarded. The last lines put the full map on 1000 images in
context: the probe evaluates one position per mirror pair (481 for 31 x 31), while the public
implementation (google-research ``freq_heatmap.py``) evaluates all 32 x 32 = 1024 positions, i.e. at
best 1024 x 1000 forwards at the bare rate. ``--quick`` (the CPU default) uses 8 images.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_heatmap.py [--quick | --n 64] [--reps 3]
[--batch-size 1024] [--device auto]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.models import load_model
from freqbench.ops.device import select_device
from freqbench.probes.fourier_heatmap import HeatmapOptions, fourier_heatmap, heatmap_grid

#: positions the public implementation evaluates for 32 x 32 inputs (all of them, no symmetry)
PUBLIC_POSITIONS = 32 * 32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20_cifar10")
    ap.add_argument(
        "--n", type=int, default=None, help="images (default: 8 with --quick or on a CPU, else 256)"
    )
    ap.add_argument("--quick", action="store_true", help="8 images (the CPU default)")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    n = args.n if args.n is not None else (8 if args.quick or device.type == "cpu" else 256)
    rng = np.random.default_rng(0)
    data = ArrayDataset(
        DatasetInfo("synthetic", "test", 10, tuple(map(str, range(10))), "memory"),
        rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, n),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = load_model(args.model, pretrained=False)
    model = model.to(device).eval()
    positions = len(heatmap_grid(32, 32).frequencies)
    forwards = n * positions
    batch = torch.rand(args.batch_size, 3, 32, 32, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def bare() -> None:
        with torch.inference_mode():
            for start in range(0, forwards, args.batch_size):
                model(batch[: min(args.batch_size, forwards - start)])
        sync()

    def probe(channels_last: bool) -> Callable[[], None]:
        opts = HeatmapOptions(batch_size=args.batch_size, channels_last=channels_last)

        def run() -> None:
            fourier_heatmap(model, data, opts, seed=0)
            sync()

        return run

    rows: dict[str, Callable[[], None]] = {
        "bare forward": bare,
        "heat map": probe(False),
        "heat map, channels_last": probe(True),
    }
    with torch.inference_mode():
        model(batch[:8])  # warm-up
    times: dict[str, list[float]] = {k: [] for k in rows}
    for _ in range(args.reps):
        for name, fn in rows.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    print(
        f"{args.model} on {device}, {n} images x {positions} positions = {forwards} forwards, "
        f"batch {args.batch_size}, {args.threads} threads, best of {args.reps}"
    )
    for name, t in best.items():
        print(
            f"  {name:25s} {forwards / t:9.1f} images/s  {t:8.2f} s  x{t / best['bare forward']:.3f} of bare"
        )
    rate = forwards / min(best["heat map"], best["heat map, channels_last"])
    bare_rate = forwards / best["bare forward"]
    ours = 1000 * positions / rate
    public = 1000 * PUBLIC_POSITIONS / bare_rate
    print(f"full 31x31 map on 1000 images: {ours:.0f} s with the probe (best layout)")
    print(
        f"a plain forward loop over the {PUBLIC_POSITIONS} x 1000 inputs the public code evaluates: "
        f"{public:.0f} s; probe / that = {ours / public:.3f}"
    )


if __name__ == "__main__":
    main()
