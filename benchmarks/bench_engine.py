"""Engine speed, side by side: freqbench's clean condition vs RobustBench's ``clean_accuracy`` vs a bare loop.

Three tables, each measured in one process with the variants alternating within every repetition, so
machine noise (this CPU is shared) hits all of them alike; compare ratios, not absolute numbers.

1. **Forward loops**, images/s on the first ``--n`` CIFAR-10 test images (the shared JPEG set;
   random images where it is absent), the same model and batch size for every column:
   ``bare`` a plain eager ``no_grad`` loop over a float tensor in memory (``bare best``: the best of
   that loop, the same under ``inference_mode``, and with channels-last weights and inputs);
   ``robustbench`` ``robustbench.utils.clean_accuracy`` on that tensor (imported through
   :func:`freqbench.models.robustbench.import_robustbench`); ``fb eager`` freqbench's clean
   condition on the module as given (the engine before :mod:`freqbench.engine.fast`); ``fb fp32``
   the default path (batch norm folded, channels-last, gated on the probe batch); ``fb bf16``
   ``--precision bf16`` (autocast), with its agreement with float32 on the probe. freqbench's columns
   start from uint8 images and include per-sample scoring; preparing the path (the probe gate,
   once per model in a run) is timed apart (``prepare s``). Every fp32 column's
   predictions are compared with the bare loop's (``same``). Models: ResNet-20 and ResNet-56
   (akamaster weights where ``freqbench data import`` cached them, else random init) and
   ``timm:resnet18?pretrained=false`` at 32x32.
2. **The corruptions suite** (76 conditions) on ``--suite-n`` images with ResNet-20: images/s
   (conditions x images / seconds) of the engine before and the default path, per condition
   alternating.
3. ``--whole-run``: wall time, start-up included, of ``freqbench run`` of two conditions (clean,
   gaussian_noise@1) over the 10,000 shared CIFAR-10 test images with ResNet-20 (akamaster), vs a
   script a RobustBench user would write for the same two sets of images: import, load the images
   (the same loader), make the noisy copy (the same seeded perturbation), call ``clean_accuracy``
   twice. Both float32, ``--threads`` threads, batch ``--batch-size``. Then the stored per-sample
   predictions are compared with an eager float32 forward pass (not timed), and the accuracies with
   the script's. ``--compile`` adds a ``freqbench run --compile on`` row (``auto``, the default,
   does not compile a run this short).

    python benchmarks/bench_engine.py [--n 2048] [--batch-size 256] [--reps 3] [--threads 2]
        [--suite-n 16] [--no-suite] [--whole-run] [--compile] [--device cuda]

Measured on this project's CPU (2 cores, AVX-512 and AMX bf16, shared with other jobs: load 3 on
2 cores), 2 threads, batch 256, torch 2.14, ``python benchmarks/bench_engine.py --whole-run``:

    model                         bare  bare best  robustbench  fb eager  fb fp32  fb bf16 (agree)
    resnet20_cifar10.akamaster    (see the report of the run that added this file: the numbers
    resnet56_cifar10              are pasted below by that run)
    timm:resnet18?pretrained=false

MEASUREMENTS
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CIFAR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10-jpeg" / "test.tar.gz"
MODELS = ("resnet20_cifar10.akamaster", "resnet56_cifar10.akamaster", "timm:resnet18?pretrained=false")
WHOLE_CONDITIONS = ("--suite", "corruptions", "--corruptions", "gaussian_noise", "--severities", "1")


# the RobustBench user's script (table 3): only what such a script imports ---------------------------
def robustbench_script(args: argparse.Namespace) -> None:
    """Load the images, make the noisy copy, ``clean_accuracy`` twice; print both accuracies as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    from freqbench.models.robustbench import import_robustbench

    rb = import_robustbench()
    import numpy as np

    from freqbench.api.names import build_model, load_dataset
    from freqbench.engine.batches import condition_batches
    from freqbench.engine.progress import QuietProgress
    from freqbench.engine.steps import StepContext, build_step
    from freqbench.suites.base import condition

    data = load_dataset(f"imagefolder:{args.data}")
    model = build_model(args.model, data=data).module.eval()
    x, y = data.batch(np.arange(len(data)))
    noise = condition("gaussian_noise", severity=1)
    step = build_step(noise, StepContext(torch.device("cpu"), None))  # type: ignore[arg-type]
    noisy = torch.cat(
        [
            b.out
            for b in condition_batches(
                data,
                step,
                noise,
                seed=0,
                batch_size=args.batch_size,
                device=torch.device(args.device),
                progress=QuietProgress(),
                label="",
            )
        ]
    )
    dev = torch.device(args.device)
    model.to(dev)
    accs = [rb.utils.clean_accuracy(model, t, y, batch_size=args.batch_size, device=dev) for t in (x, noisy)]
    print(json.dumps({"clean": accs[0], "gaussian_noise@1": accs[1]}))


# tables 1 and 2 ------------------------------------------------------------------------------------
def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _dataset(n: int) -> tuple[Any, str]:
    import numpy as np

    from freqbench.api.names import load_dataset
    from freqbench.data.base import ArrayDataset, DatasetInfo

    if CIFAR.is_file():
        full = load_dataset(f"imagefolder:{CIFAR}")
        rows = np.arange(min(n, len(full)))
        sub = ArrayDataset(full.info, full.images[rows], full.labels[rows], full.indices[rows])
        return sub, f"the first {len(rows)} shared CIFAR-10 test images (JPEG)"
    rng = np.random.default_rng(0)
    info = DatasetInfo("synthetic", "test", 10, tuple(map(str, range(10))), "memory")
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return ArrayDataset(info, images, rng.integers(0, 10, n)), f"{n} random images (no shared CIFAR-10)"


def _model(name: str, data: Any) -> tuple[Any, str]:
    from freqbench.api.names import build_model
    from freqbench.errors import MissingDataError

    try:
        return build_model(name, data=data), name
    except MissingDataError:
        base = name.split(".")[0]
        return build_model(base, data=data), f"{base} (random init)"


def forward_table(args: argparse.Namespace, data: Any, device: Any) -> list[str]:
    lines = [
        f"{'model':34s} {'bare':>7s} {'bare best':>15s} {'robustbench':>11s} {'fb eager':>8s} "
        f"{'fb fp32':>7s} {'fb bf16 (agree)':>16s}  fp32 vs bare (vs rb)  same  prepare s"
    ]
    return lines + [_forward_row(args, data, device, name) for name in args.models]


def _forward_row(args: argparse.Namespace, data: Any, device: Any, name: str) -> str:
    import copy

    import numpy as np
    import torch

    from freqbench.config import RunConfig
    from freqbench.engine.fast import MIN_AGREEMENT, EngineOptions, EnginePath, PreparedModel, prepare_model
    from freqbench.engine.loop import evaluate_condition
    from freqbench.engine.progress import QuietProgress
    from freqbench.engine.steps import StepContext, build_step
    from freqbench.models.robustbench import import_robustbench
    from freqbench.suites.base import CLEAN

    rb = import_robustbench()
    bs, n = args.batch_size, len(data)
    config = RunConfig(suite="bench", batch_size=bs)
    step = build_step(CLEAN, StepContext(device, None))  # type: ignore[arg-type]
    x_host, y_host = data.batch(np.arange(n))
    mut, label = _model(name, data)
    module = mut.module.eval().to(device)
    x, y = x_host.to(device), y_host.to(device)
    cl_module = copy.deepcopy(module).to(memory_format=torch.channels_last)
    paths: dict[str, EnginePath] = {}
    preps: dict[str, PreparedModel] = {}

    def bare(net: Any = module, ctx: Callable[[], Any] = torch.no_grad, cl: bool = False) -> Any:
        preds = []
        with ctx():
            for s in range(0, n, bs):
                b = x[s : s + bs]
                if cl:
                    b = b.contiguous(memory_format=torch.channels_last)
                preds.append(net(b).argmax(1))
        return torch.cat(preds).cpu()

    def robustbench() -> float:
        return float(rb.utils.clean_accuracy(module, x, y, batch_size=bs, device=device))

    prep_s: dict[str, float] = {}
    for precision in ("fp32", "bf16"):  # once per model in a run: timed apart
        t = time.perf_counter()
        # prepared even where a run would refuse it (agreement below MIN_AGREEMENT: marked "!")
        options = EngineOptions(precision=precision, min_agreement=0.0)
        prepared = prepare_model(module, data, device, options, batch_size=bs)
        prep_s[precision] = time.perf_counter() - t
        paths[precision] = prepared.path
        preps[precision] = prepared

    def engine(precision: str | None) -> Any:
        prepared = None if precision is None else preps[precision]
        out = evaluate_condition(
            mut, data, step, CLEAN, config=config, device=device, progress=QuietProgress(), prepared=prepared
        )
        return out["pred"]

    variants: dict[str, Callable[[], Any]] = {
        "bare": bare,
        "bare inference_mode": lambda: bare(ctx=torch.inference_mode),
        "bare channels-last": lambda: bare(net=cl_module, cl=True),
        "robustbench": robustbench,
        "fb eager": lambda: engine(None),
        "fb fp32": lambda: engine("fp32"),
        "fb bf16": lambda: engine("bf16"),
    }
    results = {k: fn() for k, fn in variants.items()}  # warm-up, and the predictions compared
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.reps):
        for k, fn in variants.items():
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t)
    ips = {k: n / min(v) for k, v in times.items()}
    best = max(("bare", "bare inference_mode", "bare channels-last"), key=lambda k: ips[k])
    want = results["bare"].numpy()
    same = all(
        np.array_equal(np.asarray(results[k]), want) for k in ("fb eager", "fb fp32", "bare channels-last")
    )
    rb_same = abs(results["robustbench"] - float((want == y_host.numpy()).mean())) < 1e-12
    best_text = f"{ips[best]:.0f} ({best.removeprefix('bare ')[:6]})"
    agree = paths["bf16"].agreement
    refused = "!" if agree < MIN_AGREEMENT else " "
    return (
        f"{label[:34]:34s} {ips['bare']:7.0f} {best_text:>15s} {ips['robustbench']:11.0f} "
        f"{ips['fb eager']:8.0f} {ips['fb fp32']:7.0f} {ips['fb bf16']:8.0f} ({agree:.1%}){refused} "
        f"x{ips['fb fp32'] / ips['bare']:.2f} (x{ips['fb fp32'] / ips['robustbench']:.2f})  "
        f"{'yes' if same and rb_same else 'NO ':4s}  {prep_s['fp32']:.1f}"
    )


def suite_table(args: argparse.Namespace, device: Any) -> list[str]:
    from freqbench.config import RunConfig
    from freqbench.data import DataRequest
    from freqbench.engine.fast import prepare_model
    from freqbench.engine.loop import evaluate_condition
    from freqbench.engine.progress import QuietProgress
    from freqbench.engine.steps import StepContext, build_step
    from freqbench.suites import SUITES

    data, _ = _dataset(args.suite_n)
    mut, label = _model(MODELS[0], data)
    mut.module.eval().to(device)
    suite = SUITES.get("corruptions")(RunConfig(suite="corruptions").options)
    config = RunConfig(suite="corruptions", batch_size=args.batch_size)
    ctx = StepContext(device, DataRequest(split="test"))
    total = {"before": 0.0, "fp32": 0.0}
    t = time.perf_counter()
    prepared = prepare_model(mut.module, data, device)
    total["fp32"] += time.perf_counter() - t
    for cond in suite.conditions:
        step = build_step(cond, ctx)
        for k, p in (("before", None), ("fp32", prepared)):
            _sync(device)
            t = time.perf_counter()
            evaluate_condition(
                mut, data, step, cond, config=config, device=device, progress=QuietProgress(), prepared=p
            )
            _sync(device)
            total[k] += time.perf_counter() - t
    images = len(suite.conditions) * len(data)
    ips = {k: images / v for k, v in total.items()}
    return [
        f"corruptions suite, {len(suite.conditions)} conditions x {len(data)} images, {label}:",
        f"  engine before {ips['before']:7.1f} images/s   default fp32 path {ips['fp32']:7.1f} images/s   "
        f"x{ips['fp32'] / ips['before']:.2f}",
    ]


# table 3 -------------------------------------------------------------------------------------------
def whole_run_table(args: argparse.Namespace) -> list[str]:
    if not CIFAR.is_file():
        return [f"--whole-run needs the shared CIFAR-10 test images at {CIFAR}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    fb = [sys.executable, "-m", "freqbench", "run", *WHOLE_CONDITIONS, "--model", MODELS[0]]
    fb += ["--dataset", f"imagefolder:{CIFAR}", "--threads", str(args.threads)]
    fb += ["--batch-size", str(args.batch_size), "--device", args.device, "--force"]
    script = [sys.executable, __file__, "--robustbench-script", "--threads", str(args.threads)]
    script += ["--batch-size", str(args.batch_size), "--device", args.device, "--data", str(CIFAR)]
    script += ["--model", MODELS[0]]
    runs: dict[str, list[str]] = {
        "freqbench run": [*fb, "--out", str(tmp / "fb")],
        "robustbench script": script,
    }
    if args.compile:
        runs["freqbench run --compile on"] = [*fb, "--compile", "on", "--out", str(tmp / "fbc")]
    times: dict[str, list[float]] = {k: [] for k in runs}
    outputs: dict[str, str] = {}
    for _ in range(args.whole_reps):
        for k, cmd in runs.items():
            t = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            times[k].append(time.perf_counter() - t)
            if done.returncode != 0:
                raise SystemExit(f"{k} failed ({done.returncode}):\n{done.stderr[-3000:]}")
            outputs[k] = done.stdout
    rb_acc = json.loads(outputs["robustbench script"].strip().splitlines()[-1])
    same, fb_acc = _check_whole_run(tmp / "fb", args)
    best = {k: min(v) for k, v in times.items()}
    lines = [
        f"whole run: 2 conditions (clean, gaussian_noise@1) x 10,000 images, {MODELS[0]}, "
        f"{args.threads} threads, batch {args.batch_size}, best of {args.whole_reps}"
    ]
    for k, v in best.items():
        lines.append(f"  {k:26s} {v:7.1f} s   {2 * 10_000 / v:7.1f} images/s")
    ratio = best["robustbench script"] / best["freqbench run"]
    lines.append(f"  freqbench run is x{ratio:.2f} faster than the RobustBench script")
    lines.append(
        f"  accuracies: freqbench {fb_acc}, RobustBench {rb_acc}; per-sample predictions identical to "
        f"eager float32: {'yes' if same and fb_acc == rb_acc else 'NO'}"
    )
    return lines


def _check_whole_run(run_dir: Path, args: argparse.Namespace) -> tuple[bool, dict[str, float]]:
    """Stored predictions against an eager float32 forward pass of the module as given (not timed)."""
    import numpy as np
    import torch

    from freqbench.api.names import build_model, load_dataset
    from freqbench.engine.batches import condition_batches
    from freqbench.engine.progress import QuietProgress
    from freqbench.engine.steps import StepContext, build_step
    from freqbench.store.run import RunStore
    from freqbench.suites.base import CLEAN, condition

    torch.set_num_threads(args.threads)
    store = RunStore(run_dir)
    keys = {r.condition: r.key for r in store.records()}
    acc = {r.condition: r.value for r in store.records() if r.metric == "accuracy"}
    data = load_dataset(f"imagefolder:{CIFAR}")
    device = torch.device(args.device)
    module = build_model(MODELS[0], data=data).module.eval().to(device)
    same = True
    for cond in (CLEAN, condition("gaussian_noise", severity=1)):
        step = build_step(cond, StepContext(device, None))  # type: ignore[arg-type]
        preds = [
            b.logits.argmax(1).cpu()
            for b in condition_batches(
                data,
                step,
                cond,
                seed=0,
                batch_size=args.batch_size,
                device=device,
                progress=QuietProgress(),
                label="",
                model=module,
            )
            if b.logits is not None
        ]
        same &= bool(np.array_equal(torch.cat(preds).numpy(), store.arrays(keys[cond.key])["pred"]))
    return same, acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2048, help="images of table 1")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", type=lambda s: tuple(s.split(",")), default=MODELS)
    ap.add_argument("--suite-n", type=int, default=16, help="images per condition of table 2")
    ap.add_argument("--no-suite", action="store_true", help="skip table 2")
    ap.add_argument("--whole-run", action="store_true", help="table 3 (several minutes)")
    ap.add_argument("--whole-reps", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="table 3: add a freqbench run --compile on row")
    ap.add_argument("--robustbench-script", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", default=str(CIFAR), help=argparse.SUPPRESS)
    ap.add_argument("--model", default=MODELS[0], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.robustbench_script:
        robustbench_script(args)
        return
    import warnings

    import torch

    warnings.filterwarnings("ignore", message=".*no pretrained weights.*")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    data, what = _dataset(args.n)
    print(f"{what}, 3x32x32, batch {args.batch_size}, {args.threads} threads, {device}, best of {args.reps}")
    print("images/s:")
    for line in forward_table(args, data, device):
        print(line, flush=True)
    if not args.no_suite:
        for line in suite_table(args, device):
            print(line, flush=True)
    if args.whole_run:
        for line in whole_run_table(args):
            print(line, flush=True)


if __name__ == "__main__":
    main()
