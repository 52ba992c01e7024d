"""Sharded evaluation: wall time of one ``freqbench run`` in 1 process vs 2 processes (``--nproc 2``).

The same run, whole commands timed (start-up, the torchrun launch, the gather and the store
included), alternating within every repetition so machine noise hits both alike, best of ``--reps``:

- ``1 process``: ``freqbench run ... --threads 1`` (one process, one torch thread);
- ``2 processes``: ``freqbench run ... --threads 1 --nproc 2`` (torchrun, gloo, one thread each).

The run: ``--model`` on ``--dataset``, the clean condition and ``gaussian_noise`` at severities 1-3
(four input-only conditions), ``--limit`` images. Printed: the whole command's wall time, and the
steady evaluation rate between the first and the last condition's commit (the times of the arrays
files the writer stores: start-up, the launch and the first condition left out). Afterwards the two
runs' records are compared (they must be equal, :mod:`freqbench.engine.distributed`). Target:
2 processes on 2 cores at least 1.8x one process with one thread.

    python benchmarks/bench_distributed.py [--model resnet20_fashion_mnist] [--dataset fashion_mnist]
        [--limit 10000] [--reps 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _records(run_dir: Path) -> list[tuple[str, str, str, float]]:
    from freqbench.store.run import RunStore

    return sorted((r.model, r.condition, r.metric, r.value) for r in RunStore(run_dir).records())


def _steady_rate(run_dir: Path, images: int) -> float:
    """Images/s between the first and the last stored condition (arrays file modification times)."""
    times = sorted(f.stat().st_mtime for f in (run_dir / "arrays").iterdir())
    return (len(times) - 1) * images / (times[-1] - times[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20_fashion_mnist")
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--limit", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    base = [sys.executable, "-m", "freqbench", "run", "--suite", "corruptions"]
    base += ["--corruptions", "gaussian_noise", "--severities", "1,2,3", "--model", args.model]
    base += ["--dataset", args.dataset, "--limit", str(args.limit), "--threads", "1", "--force"]
    runs = {"1 process": [*base, "--out", str(tmp / "p1")], "2 processes": [*base, "--nproc", "2"]}
    runs["2 processes"] += ["--out", str(tmp / "p2")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    times: dict[str, list[float]] = {k: [] for k in runs}
    steady: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.reps):
        for name, cmd in runs.items():
            t = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            times[name].append(time.perf_counter() - t)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
            steady[name].append(_steady_rate(Path(cmd[-1]), args.limit))
    images = 4 * args.limit
    print(
        f"freqbench run, 4 conditions (clean, gaussian_noise@1-3) x {args.limit} images, {args.model} on "
        f"{args.dataset}, one torch thread per process, {os.cpu_count()} cores, best of {args.reps}:"
    )
    best = {k: min(v) for k, v in times.items()}
    for name, t in best.items():
        every = ", ".join(f"{x:.1f}" for x in times[name])
        rate = max(steady[name])
        print(
            f"  {name:12s} {t:7.1f} s  {images / t:7.1f} images/s (all: {every}) steady {rate:7.1f} images/s"
        )
    whole = best["1 process"] / best["2 processes"]
    rates = max(steady["2 processes"]) / max(steady["1 process"])
    print(f"  2 processes vs 1: whole command x{whole:.2f}, steady rate x{rates:.2f} (target >= 1.8)")
    same = _records(tmp / "p1") == _records(tmp / "p2")
    print(f"  records of the two runs equal: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
