"""Overhead of the freqbench attack adapter over calling torchattacks PGD directly.

Method: the same fixed batches (CIFAR-size random images, labels = the model's predictions) and the
same model (a CIFAR ResNet-20, random He initialisation: speed does not depend on the weights) are
attacked by ``torchattacks.PGD`` called directly (after ``torch.manual_seed``, as a user would seed it)
and by ``ATTACKS.get("pgd_linf")`` with a SampleGenerator (input checks, clones, eval-mode handling,
seed derivation, RNG fork). Runs alternate (direct, adapter, direct, ...) to spread machine noise over
both, with 2 torch threads. The minimum over repeats (the least-disturbed run: on a shared machine noise
only adds time) and the median are reported, with their ratios. Target: <= 1.05.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_attacks.py [--repeats 5] [--batch 64]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchattacks

from freqbench.attacks import ATTACKS
from freqbench.models.cifar_resnet import CifarResNet
from freqbench.ops.random import SampleGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = CifarResNet(20).eval()
    batches = []
    for i in range(args.batches):
        x = torch.rand(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            y = model(x).argmax(1)
        batches.append(
            (x, y, SampleGenerator.from_seed(0, torch.arange(i * args.batch, (i + 1) * args.batch)))
        )
    eps = 8 / 255
    adapter = ATTACKS.get("pgd_linf")(eps="8/255", steps=args.steps)

    def direct() -> None:
        for x, y, _ in batches:
            torch.manual_seed(1234)
            torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=args.steps, random_start=True)(x, y)

    def ours() -> None:
        for x, y, g in batches:
            adapter(model, x, y, generator=g)

    times: dict[str, list[float]] = {"direct": [], "adapter": []}
    direct(), ours()  # warm-up
    for _ in range(args.repeats):
        for label, fn in (("direct", direct), ("adapter", ours)):
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    print(
        f"PGD-Linf eps=8/255, {args.steps} steps, {args.batches} batches of {args.batch} CIFAR images, "
        f"ResNet-20, {torch.get_num_threads()} threads, {args.repeats} repeats"
    )
    print(f"{'':>8} {'torchattacks direct':>20} {'freqbench adapter':>18} {'ratio':>7}")
    for stat in (min, statistics.median):
        d, a = stat(times["direct"]), stat(times["adapter"])
        print(f"{stat.__name__:>8} {d:>18.3f} s {a:>16.3f} s {a / d:>7.3f}")


if __name__ == "__main__":
    main()
