"""Sharded runs (:mod:`freqbench.engine.distributed`): the split, the reassembly, and real torchrun jobs.

In-process: the split into batch-aligned blocks, shares merged back equal to one collector (for a
random perturbation, freqbench's band-constrained PGD and torchattacks' batch-seeded PGD), the
environment and timeout parsing. With a real ``torchrun`` (2 gloo processes on the CPU, one thread
each): the records and arrays of one process on the ``frequency`` suite, a corruption subset (through
``freqbench run --nproc 2``) and the adversarial suite; a rank killed with SIGKILL mid-run takes the
job down, no partial condition is committed, and the resumed job repeats no stored condition and ends
with the uninterrupted records; a rank that fails on its own share ends the job with that error.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.api import get_suite
from freqbench.config import RunConfig, SuiteOptions
from freqbench.data.cifar_c_writer import write_c_dataset
from freqbench.engine.collector import Collector, finish_share, merge_shares
from freqbench.engine.distributed import (
    TIMEOUT_ENV,
    World,
    batch_dependent,
    collective_timeout,
    rank_device,
    shard_of,
    shard_slices,
)
from freqbench.engine.loop import evaluate_condition
from freqbench.engine.progress import QuietProgress
from freqbench.engine.steps import StepContext, build_step
from freqbench.errors import ConfigError, DistributedError
from freqbench.store.run import RunStore
from freqbench.suites.base import Kind, condition

CPU = torch.device("cpu")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
FREQUENCY = ["--suite", "frequency", "--limit", "12", "--batch-size", "4"]
MODEL = ["--model", "resnet20_cifar10", "--device", "cpu"]
EVALUATED = re.compile(r"^(\d+) condition\(s\) evaluated; report:", re.M)


# the split and the reassembly, in process --------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "bs", "size"), [(10, 3, 2), (12, 4, 2), (40, 7, 3), (5, 8, 2), (1, 1, 4), (9, 1, 9)]
)
def test_shards_are_contiguous_runs_of_whole_batches(n: int, bs: int, size: int) -> None:
    slices = shard_slices(n, batch_size=bs, size=size)
    assert len(slices) == size and slices[0].start == 0 and slices[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:], strict=False))
    blocks = [-(-(s.stop - s.start) // bs) for s in slices]
    assert sum(blocks) == -(-n // bs) and max(blocks) - min(blocks) <= 1
    # every cut is a batch boundary of the one-process run, so every rank's batches are its batches
    assert all(s.start % bs == 0 for s in slices if s.stop > s.start)


def test_more_ranks_than_batches_leave_some_ranks_empty() -> None:
    assert shard_slices(5, batch_size=4, size=3) == [slice(0, 0), slice(0, 4), slice(4, 5)]


def _share(model, data, cond, tmp_path, *, bs: int) -> dict[str, np.ndarray]:
    col = Collector(len(data))
    step = build_step(cond, StepContext(CPU, None, tmp_path / "state"))  # type: ignore[arg-type]
    cfg = RunConfig(suite="t", batch_size=bs, seed=5)
    evaluate_condition(
        model, data, step, cond, config=cfg, device=CPU, progress=QuietProgress(), collector=col
    )
    return col.share()


def _merged(model, data, cond, tmp_path, slices: list[slice], *, bs: int) -> dict[str, np.ndarray]:
    shares = [_share(model, shard_of(data, sl), cond, tmp_path, bs=bs) for sl in slices]
    return finish_share(merge_shares(shares, [np.arange(len(data))[sl] for sl in slices], len(data)))


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


PHASE = condition("phase_scramble", width=90)
BAND_PGD = condition("pgd_linf_band", kind=Kind.ATTACK, eps="8/255", band="high", r=4, steps=2)
TORCHATTACKS_PGD = condition("pgd_linf", kind=Kind.ATTACK, eps="8/255", steps=2)


@pytest.mark.parametrize("cond", [PHASE, BAND_PGD, TORCHATTACKS_PGD], ids=lambda c: c.transform)
def test_merged_shares_are_the_one_process_arrays(cond, model, data, tmp_path) -> None:
    one = _share(model, data, cond, tmp_path, bs=8)
    slices = shard_slices(len(data), batch_size=8, size=3)  # 40 samples: blocks 2 + 1 + 2
    _assert_same(_merged(model, data, cond, tmp_path, slices, bs=8), finish_share(one))


@pytest.mark.parametrize("cond", [PHASE, BAND_PGD], ids=lambda c: c.transform)
def test_per_sample_conditions_do_not_depend_on_the_split(cond, model, data, tmp_path) -> None:
    # freqbench's own randomness follows the sample index: with any cut and batch size the images
    # are the same; only the model's float rounding may follow the batch (a batch of 1 here), which
    # is why the shards keep the one-process batches whole
    slices = [slice(0, 13), slice(13, 14), slice(14, 40)]
    cut = _merged(model, data, cond, tmp_path, slices, bs=5)
    one = finish_share(_share(model, data, cond, tmp_path, bs=8))
    assert sorted(cut) == sorted(one)
    for k in cut:
        if k in ("loss", "margin"):
            np.testing.assert_allclose(cut[k], one[k], rtol=1e-5, atol=1e-6, err_msg=k)
        else:
            np.testing.assert_array_equal(cut[k], one[k], err_msg=k)


def test_torchattacks_pgd_depends_on_the_batches_and_is_named(model, data, tmp_path) -> None:
    # why the split keeps whole batches: other batches give torchattacks' PGD other random starts
    other = _merged(model, data, TORCHATTACKS_PGD, tmp_path, [slice(0, 13), slice(13, 40)], bs=5)
    one = finish_share(_share(model, data, TORCHATTACKS_PGD, tmp_path, bs=8))
    assert not np.array_equal(other["delta_l2"], one["delta_l2"])
    named = batch_dependent(get_suite("adversarial", SuiteOptions(eps=("8/255", "L2:0.5"))))
    assert named == ["pgd_linf@eps=8/255", "pgd_l2@eps=0.5"]
    assert batch_dependent(get_suite("frequency", SuiteOptions())) == []


def test_merge_refuses_gaps_and_mismatched_shares(model, data, tmp_path) -> None:
    a = _share(model, shard_of(data, slice(0, 20)), PHASE, tmp_path, bs=8)
    b = _share(model, shard_of(data, slice(20, 40)), PHASE, tmp_path, bs=8)
    with pytest.raises(ConfigError, match="repeats or gaps"):
        merge_shares([a, b], [np.arange(20), np.arange(19, 39)], 40)
    # a rank given no samples sends an empty share (without the step's diagnostics): it adds nothing
    whole = _share(model, data, PHASE, tmp_path, bs=8)
    empty = Collector(0).share()
    _assert_same(merge_shares([empty, a, b], [np.arange(0), np.arange(20), np.arange(20, 40)], 40), whole)
    b.pop("radial_energy")
    with pytest.raises(ConfigError, match="shares hold different arrays"):
        merge_shares([a, b], [np.arange(20), np.arange(20, 40)], 40)


def test_world_and_timeout_from_the_environment() -> None:
    assert World.from_env({}) == World(0, 1, 0) and World.from_env({}).writer
    w = World.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (w.rank, w.size, w.local_rank, w.writer, w.sharded) == (3, 4, 1, False, True)
    for env in ({"WORLD_SIZE": "2"}, {"WORLD_SIZE": "2", "RANK": "2"}, {"WORLD_SIZE": "x", "RANK": "0"}):
        with pytest.raises(DistributedError, match="start sharded runs with torchrun"):
            World.from_env(env)
    assert collective_timeout({}).total_seconds() == 1800
    assert collective_timeout({TIMEOUT_ENV: "90"}).total_seconds() == 90
    for bad in ("0", "-1", "inf", "soon"):
        with pytest.raises(ConfigError, match=f"{TIMEOUT_ENV}="):
            collective_timeout({TIMEOUT_ENV: bad})
    assert rank_device("cpu", w) == CPU and rank_device("auto", w).type == (
        "cuda" if torch.cuda.is_available() else "cpu"
    )


# real torchrun jobs -------------------------------------------------------------------------------
def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "FREQBENCH_HOME": str(home), "OMP_NUM_THREADS": "1", TIMEOUT_ENV: "60"}


def _image_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for c in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
        (root / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def _run(cmd: list[str], env: dict[str, str], *, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _lines(out: Path) -> list[str]:
    return sorted((out / "records.jsonl").read_text().splitlines())


def _evaluated(proc: subprocess.CompletedProcess[str]) -> int:
    found = EVALUATED.findall(proc.stderr)
    assert len(found) == 1, proc.stderr  # rank 0 alone reports
    return int(found[0])


def _same_store(a: Path, b: Path) -> None:
    assert _lines(a) == _lines(b)
    keys = RunStore(a).completed_keys()
    assert keys == RunStore(b).completed_keys()
    for key in keys:
        _assert_same(RunStore(a).arrays(key), RunStore(b).arrays(key))


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An image folder, a cache and the one-process ``frequency`` run on it (the reference)."""
    root = tmp_path_factory.mktemp("sharded")
    paths = {"images": _image_folder(root / "images"), "home": root / "home", "one": root / "one"}
    base = ["run", *FREQUENCY, *MODEL, "--dataset", f"imagefolder:{paths['images']}"]
    paths["args"] = base  # type: ignore[assignment]
    done = _run([sys.executable, "-m", "freqbench", *base, "--out", str(paths["one"])], _env(paths["home"]))
    assert done.returncode == 0, done.stderr
    return paths


def test_two_ranks_store_the_records_of_one_process(job, tmp_path) -> None:
    two = tmp_path / "two"
    env = _env(job["home"])
    proc = _run([*TORCHRUN, "-m", "freqbench", *job["args"], "--out", str(two)], env)
    assert proc.returncode == 0, proc.stderr
    assert _evaluated(proc) == 71
    _same_store(two, job["one"])
    sharding = json.loads((two / "manifest.json").read_text())["sharding"]
    assert sharding["world_size"] == 2 and sharding["backend"] == "gloo" and sharding["batch_dependent"] == []
    # the world size decides no result: one process resumes the 2-process run and finds it complete
    again = _run([sys.executable, "-m", "freqbench", "run", "--resume", "--out", str(two)], env)
    assert again.returncode == 0, again.stderr
    assert _evaluated(again) == 0
    invocations = json.loads((two / "manifest.json").read_text())["invocations"]
    assert [i["world_size"] for i in invocations] == [2, 1]


@pytest.mark.parametrize(
    ("suite", "launch"),
    [
        (
            ["--suite", "corruptions", "--corruptions", "gaussian_noise,contrast", "--severities", "1,5"],
            "nproc",
        ),
        (["--suite", "adversarial", "--eps", "8/255,L2:0.5"], "torchrun"),
    ],
    ids=["corruptions-nproc", "adversarial-torchrun"],
)
def test_other_suites_store_the_records_of_one_process(job, tmp_path, suite: list[str], launch: str) -> None:
    env = _env(job["home"])
    args = [
        "run",
        *suite,
        "--limit",
        "12",
        "--batch-size",
        "4",
        *MODEL,
        "--dataset",
        f"imagefolder:{job['images']}",
    ]
    one = _run([sys.executable, "-m", "freqbench", *args, "--out", str(tmp_path / "one")], env)
    assert one.returncode == 0, one.stderr
    if launch == "nproc":
        cmd = [sys.executable, "-m", "freqbench", *args, "--nproc", "2"]
    else:
        cmd = [*TORCHRUN, "-m", "freqbench", *args]
    two = _run([*cmd, "--out", str(tmp_path / "two")], env)
    assert two.returncode == 0, two.stderr
    assert _evaluated(two) == _evaluated(one)
    _same_store(tmp_path / "two", tmp_path / "one")
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    # torchattacks' PGD is batch-seeded: named, and equal here because the shards keep whole batches
    expected = ["pgd_linf@eps=8/255", "pgd_l2@eps=0.5"] if "adversarial" in suite else []
    assert manifest["sharding"]["batch_dependent"] == expected


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of the worker of ``launcher`` (torchrun) whose environment says ``RANK=rank``."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (d / "environ").read_bytes().split(b"\0") if ppid == launcher else []
        except (OSError, IndexError, ValueError):
            continue
        if f"RANK={rank}".encode() in env:
            return int(d.name)
    return None


def _commits(out: Path) -> int:
    path = out / "commits.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_of_one_rank_then_resume_repeats_nothing(job, tmp_path) -> None:
    killed, env = tmp_path / "killed", _env(job["home"])
    cmd = [*TORCHRUN, "-m", "freqbench", *job["args"], "--out", str(killed)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and _commits(killed) < 8:
        time.sleep(0.02)
    victim = _rank_pid(proc.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    start = time.time()
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode != 0 and time.time() - start < 60, stderr  # torchrun took the job down
    stored = RunStore(killed).completed_keys()
    assert 8 <= len(stored) < 71, "the kill must land mid-run"
    reference = _lines(job["one"])
    assert stored <= {json.loads(line)["key"] for line in reference}
    committed = sorted(r.to_json() for r in RunStore(killed).records())
    assert committed == [line for line in reference if json.loads(line)["key"] in stored]

    resumed = _run([*TORCHRUN, "-m", "freqbench", "run", "--resume", "--out", str(killed)], env)
    assert resumed.returncode == 0, resumed.stderr
    assert _evaluated(resumed) == 71 - len(stored)  # no stored condition again
    _same_store(killed, job["one"])
    assert not list((killed / "arrays").glob("*.tmp"))


# a rank that fails on its own share ----------------------------------------------------------------
N = 24


def _cifar_with_bad_c_labels(root: Path) -> None:
    """CIFAR-10 test images and CIFAR-10-C files whose label 20 differs: only rank 1's share (rows 12..23
    at batch size 4) meets it."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, N)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = rng.integers(0, 256, (N, 3072), dtype=np.uint8)
    (folder / "test_batch").write_bytes(
        pickle.dumps({b"data": images, b"labels": labels.tolist()}, protocol=2)
    )
    names = [
        n.encode()
        for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    ]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    bad = labels.copy()
    bad[20] = (bad[20] + 1) % 10
    write_c_dataset(root, {"gaussian_noise": rng.integers(0, 256, (5 * N, 32, 32, 3), dtype=np.uint8)}, bad)


def test_a_rank_failing_on_its_share_ends_the_job_with_its_error(tmp_path) -> None:
    root, out = tmp_path / "data", tmp_path / "run"
    _cifar_with_bad_c_labels(root)
    args = ["run", "--suite", "cifar10c", "--dataset", "cifar10", "--data-root", str(root),
            "--corruptions", "gaussian_noise", "--severities", "5", "--batch-size", "4", *MODEL,
            "--out", str(out)]  # fmt: skip
    start = time.time()
    proc = _run([*TORCHRUN, "-m", "freqbench", *args], _env(tmp_path / "home"), timeout=120)
    assert proc.returncode != 0 and time.time() - start < 90
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert any(
        line.startswith("error: rank 1 of 2: ")
        and "labels differ from the dataset's at the same indices" in line
        for line in errors
    ), proc.stderr
    # the condition rank 1 failed on is not stored (clean, whose shares all arrived, may be)
    assert {r.condition for r in RunStore(out).records()} <= {"clean"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "error: --nproc must be at least 1, got 0"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, "this process already runs under torchrun (WORLD_SIZE=2)"),
    ],
    ids=["zero", "under-torchrun"],
)
def test_nproc_is_checked_before_anything_runs(env, message, tmp_path, monkeypatch, capsys) -> None:
    from cli_helpers import run_main

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    nproc = "0" if not env else "2"
    out = tmp_path / "run"
    assert run_main("run", "--suite", "frequency", "--nproc", nproc, "--out", str(out)) == 2
    assert message in capsys.readouterr().err.replace("\n", " ") and not out.exists()
