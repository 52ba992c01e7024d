"""Engine overhead: images/s of the evaluation loop on the clean condition vs a bare forward loop.

Both run the same CIFAR ResNet-20 (random init) over the same in-memory uint8 dataset with the same
batch size, 2 threads, alternating repetitions so that machine noise hits both alike. The engine path
includes batching from uint8, per-sample results (loss, margin, prediction) and aggregation.

    python benchmarks/bench_engine.py [--n 2048] [--batch-size 256] [--reps 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from freqbench.config import RunConfig
from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.engine.loop import ModelUnderTest, evaluate_condition
from freqbench.engine.progress import QuietProgress
from freqbench.engine.steps import StepContext, build_step
from freqbench.models import load_model
from freqbench.suites.base import CLEAN


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = ArrayDataset(
        DatasetInfo("synthetic", "test", 10, tuple(map(str, range(10))), "memory"),
        rng.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, args.n),
    )
    net, cfg = load_model("resnet20_cifar10", pretrained=False)
    model = ModelUnderTest("resnet20_cifar10", net.eval(), cfg, "random")
    config = RunConfig(suite="bench", batch_size=args.batch_size)
    dev = torch.device("cpu")
    step = build_step(CLEAN, StepContext(dev, None, None))  # type: ignore[arg-type]

    def bare() -> None:
        with torch.no_grad():
            for s in range(0, args.n, args.batch_size):
                x, _ = data.batch(np.arange(s, min(args.n, s + args.batch_size)))
                net(x)

    def engine() -> None:
        evaluate_condition(model, data, step, CLEAN, config=config, device=dev, progress=QuietProgress())

    bare()  # warm-up
    times: dict[str, list[float]] = {"bare forward": [], "engine": []}
    for _ in range(args.reps):
        for name, fn in (("bare forward", bare), ("engine", engine)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    print(f"{args.n} images 3x32x32, batch {args.batch_size}, 2 threads, best of {args.reps}")
    best = {k: min(v) for k, v in times.items()}
    for k, v in best.items():
        print(f"  {k:14s} {args.n / v:9.1f} images/s")
    print(f"  engine / bare time ratio: {best['engine'] / best['bare forward']:.3f}")


if __name__ == "__main__":
    main()
