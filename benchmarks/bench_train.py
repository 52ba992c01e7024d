"""Training throughput: images/s of freqbench's training epoch vs a bare PyTorch loop, side by side.

Both train the same registered model (random init, seeded) on the same in-memory uint8 dataset with
the same SGD settings (Nesterov 0.9, lr 0.1, weight decay 5e-4, cosine schedule), batch size and
threads, alternating repetitions so machine noise hits both alike, best of ``--reps``:

- *bare loop*: a shuffled ``torch.randperm`` order, ``uint8 -> float / 255``, a random crop with
  zero padding and a horizontal flip done the usual way (``F.pad`` + per-batch offsets), forward,
  cross-entropy, backward, step: what a user writes by hand;
- *freqbench epoch*: :meth:`freqbench.train.state.TrainingState.train_epoch` (the epoch of
  ``freqbench train``: per-epoch seeded shuffle and augmentation, the recipe's step, loss and
  accuracy bookkeeping), without the per-epoch evaluation and checkpoint; in channels-last memory
  format (the default) and, as ``freqbench contiguous``, with ``--no-channels-last``. (The bare
  loop's ``permute`` of the uint8 NHWC images happens to give channels-last batches too.)

``--precision bf16`` runs both under ``torch.autocast`` with bfloat16 (the ``freqbench train
--precision bf16`` path). Target: freqbench at >= 0.95x the bare loop's images/s.

    OMP_NUM_THREADS=2 python benchmarks/bench_train.py [--model resnet20_cifar10] [--n 2048]
        [--batch-size 128] [--reps 3] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.train.config import Precision, TrainConfig
from freqbench.train.recipe import build_classifier
from freqbench.train.state import TrainingState


def _bare_epoch(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    args: argparse.Namespace,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    model.train()
    order = torch.randperm(len(images))
    pad = 4
    for s in range(0, len(order) - 1, args.batch_size):
        idx = order[s : s + args.batch_size]
        if len(idx) < 2:
            break
        x = images[idx].permute(0, 3, 1, 2).float().div_(255)
        b, _, h, w = x.shape
        padded = F.pad(x, (pad, pad, pad, pad))
        dy, dx = np.random.randint(0, 2 * pad + 1, 2)
        x = padded[:, :, dy : dy + h, dx : dx + w]
        flip = torch.rand(b) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = F.cross_entropy(model(x), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20_cifar10")
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=[p.value for p in Precision], default="fp32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    data = ArrayDataset(
        DatasetInfo("synthetic", "train", 10, tuple(map(str, range(10))), "memory"),
        rng.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, args.n),
    )
    cfg = TrainConfig(model=args.model, dataset="synthetic", epochs=1000, batch_size=args.batch_size,
                      precision=Precision(args.precision))  # fmt: skip
    ours, _ = build_classifier(args.model, seed=0)
    state = TrainingState.start(cfg, ours, n_train=args.n)
    cfg_nchw = dataclasses.replace(cfg, channels_last=False)
    nchw, _ = build_classifier(args.model, seed=0)
    state_nchw = TrainingState.start(cfg_nchw, nchw, n_train=args.n)
    bare, _ = build_classifier(args.model, seed=0)
    opt = torch.optim.SGD(bare.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000 * (args.n // args.batch_size))
    images, labels = torch.from_numpy(data.images), torch.from_numpy(data.labels)
    dev = torch.device("cpu")
    times: dict[str, list[float]] = {"bare loop": [], "freqbench epoch": [], "freqbench contiguous": []}

    def run_bare() -> None:
        _bare_epoch(bare, images, labels, args, opt, sched)

    def run_ours() -> None:
        state.train_epoch(data, cfg=cfg, padding=4, device=dev, progress=False)
        state.epoch += 1

    def run_nchw() -> None:
        state_nchw.train_epoch(data, cfg=cfg_nchw, padding=4, device=dev, progress=False)
        state_nchw.epoch += 1

    for rep in range(args.reps):  # alternate which goes first
        trio = [("bare loop", run_bare), ("freqbench epoch", run_ours), ("freqbench contiguous", run_nchw)]
        for name, fn in trio if rep % 2 == 0 else trio[::-1]:
            tic = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - tic)
    best = {k: min(v) for k, v in times.items()}
    print(f"{args.model} training, {args.n} images/epoch, batch {args.batch_size}, {args.threads} threads, "
          f"{args.precision}, best of {args.reps}")  # fmt: skip
    for name, t in best.items():
        print(f"  {name:20s} {args.n / t:8.1f} images/s  x{best['bare loop'] / t:.3f} of bare")


if __name__ == "__main__":
    main()
