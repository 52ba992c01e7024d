"""Overhead of the freqbench attack adapter over calling torchattacks PGD directly.

Method: the same fixed batches (CIFAR-size random images, labels = the model's predictions) and the
same model (a CIFAR ResNet-20, random He initialisation: speed does not depend on the weights) are
attacked by ``torchattacks.PGD`` called directly (after ``torch.manual_seed``, as a user would seed it)
and by ``ATTACKS.get("pgd_linf")`` with a SampleGenerator (input checks, clones, eval-mode handling,
seed derivation, RNG fork). A third row runs the whole harness, the engine's ``evaluate_condition`` on
the same images (batching from uint8, the attack, a forward pass on the adversarial images, per-sample
results, perturbation spectra), against the direct call plus the one forward pass any robust-accuracy
measurement needs. Runs alternate (direct, adapter, direct, ...) to spread machine noise over
both, with 2 torch threads. The minimum over repeats (the least-disturbed run: on a shared machine noise
only adds time) and the median are reported, with their ratios. Target: <= 1.05.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_attacks.py [--repeats 5] [--batch 64]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchattacks

from freqbench.attacks import ATTACKS
from freqbench.config import RunConfig
from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.engine.loop import ModelUnderTest, evaluate_condition
from freqbench.engine.progress import QuietProgress
from freqbench.engine.steps import StepContext, build_step
from freqbench.models.base import ModelConfig
from freqbench.models.cifar_resnet import CifarResNet
from freqbench.ops.random import SampleGenerator
from freqbench.suites.base import Kind, condition


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

    # the same images as uint8 (what datasets deliver), for the engine row
    n = args.batch * args.batches
    images = np.concatenate([(x * 255).round().byte().permute(0, 2, 3, 1).numpy() for x, _, _ in batches])
    labels = np.concatenate([y.numpy() for _, y, _ in batches])
    data = ArrayDataset(DatasetInfo("bench", "test", 10, tuple("0123456789"), "memory"), images, labels)
    cfg = ModelConfig("resnet20", "cifar_resnet20", "bench", 10, (3, 32, 32), (0.0,) * 3, (1.0,) * 3)
    mut = ModelUnderTest("resnet20", model, cfg, "random")
    cond = condition("pgd_linf", kind=Kind.ATTACK, key_params={"eps": "8/255"}, eps="8/255", steps=args.steps)
    step = build_step(cond, StepContext(torch.device("cpu"), None, Path(tempfile.mkdtemp())))  # type: ignore[arg-type]
    run_cfg = RunConfig(suite="bench", batch_size=args.batch)

    def direct_and_score() -> None:
        for x, y, _ in batches:
            x = (x * 255).round() / 255  # the same 8-bit images the engine reads
            torch.manual_seed(1234)
            adv = torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=args.steps, random_start=True)(x, y)
            with torch.no_grad():
                (model(adv).argmax(1) == y).float().mean()

    def engine() -> None:
        evaluate_condition(
            mut, data, step, cond, config=run_cfg, device=torch.device("cpu"), progress=QuietProgress()
        )

    times: dict[str, list[float]] = {"direct": [], "adapter": [], "direct+score": [], "engine": []}
    direct(), ours(), engine()  # warm-up
    pairs = (("direct", direct), ("adapter", ours), ("direct+score", direct_and_score), ("engine", engine))
    for _ in range(args.repeats):
        for label, fn in pairs:
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
    print(f"{'':>8} {'direct + forward':>20} {'freqbench engine':>18} {'ratio':>7}   ({n} images)")
    for stat in (min, statistics.median):
        d, a = stat(times["direct+score"]), stat(times["engine"])
        print(f"{stat.__name__:>8} {d:>18.3f} s {a:>16.3f} s {a / d:>7.3f}")


if __name__ == "__main__":
    main()
