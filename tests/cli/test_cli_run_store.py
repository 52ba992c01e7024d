"""The run store under real processes and real file systems: concurrent writers, Ctrl-C, a full disk,
a read-only file system. Each ends in a one-line error (or note) and a resumable directory whose final
records equal those of one uninterrupted run, line for line."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import snapshot as _snapshot
from PIL import Image

from freqbench.suites.base import build_suite

ARGS = ["--suite", "frequency", "--model", "resnet20_cifar10", "--limit", "20", "--batch-size", "4"]
ARGS += ["--threads", "1"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two random 32x32 RGB PNGs per CIFAR-10 class (the image folder of ``conftest.py``, shared)."""
    root = tmp_path_factory.mktemp("data") / "images"
    rng = np.random.default_rng(0)
    for c in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
        (root / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "FREQBENCH_HOME": str(tmp_path_factory.mktemp("home"))}


def _cmd(folder: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "freqbench.cli", "run", *ARGS, "--dataset", f"imagefolder:{folder}",
            "--out", str(out), *extra]  # fmt: skip


def _resume(out: Path) -> list[str]:
    return [sys.executable, "-m", "freqbench.cli", "run", "--resume", "--out", str(out)]


def _records(out: Path) -> list[str]:
    """The committed record lines, sorted (records beyond the last commit are not part of the run)."""
    commits = (out / "commits.jsonl").read_text().splitlines()
    end = json.loads(commits[-1])["end"] if commits else 0
    return sorted((out / "records.jsonl").read_bytes()[:end].decode().splitlines())


def _last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def reference(folder, env, tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("reference") / "run"
    subprocess.run(_cmd(folder, out), env=env, check=True, capture_output=True)
    return _records(out)


TOTAL = len(build_suite("frequency").conditions)


def test_concurrent_writers_one_runs_the_others_are_refused(folder, env, reference, tmp_path) -> None:
    out = tmp_path / "run"
    procs = [
        subprocess.Popen(
            _cmd(folder, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    errs = [p.communicate(timeout=900)[1] for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 2, 2], errs
    winner = next(p for p in procs if p.returncode == 0)
    for p, e in zip(procs, errs):
        if p is not winner:
            assert _last_line(e) == (
                f"error: {out} is being written by another freqbench run (pid {winner.pid}); wait for it "
                "to finish, or use another --out"
            )
            assert "Traceback" not in e
    assert _records(out) == reference
    assert len((out / "records.jsonl").read_text().splitlines()) == len(reference)
    assert not list(out.rglob("*.tmp"))


def test_ctrl_c_says_what_is_stored_and_how_to_resume(folder, env, reference, tmp_path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cmd(folder, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    commits = out / "commits.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (commits.exists() and len(commits.read_text().splitlines()) >= 5):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    stored = len(commits.read_text().splitlines())
    assert proc.returncode == 130, stderr
    # (an interrupt during the 5th commit's fsync rolls that commit back: 4 is fine)
    assert 4 <= stored < TOTAL, "the interrupt must land mid-run"
    assert _last_line(stderr) == (
        f"interrupted: {stored} of {TOTAL} condition(s) stored in {out}; resume with "
        f"`freqbench run --resume --out {out}`"
    )
    assert "Traceback" not in stderr
    assert set(_records(out)) <= set(reference)

    subprocess.run(_resume(out), env=env, check=True, capture_output=True)
    assert _records(out) == reference


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[None]:
    path.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if res.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({res.stderr.decode().strip()}); the simulated test covers it"
        )
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def test_full_disk_then_read_only_then_resume_on_a_real_tmpfs(folder, env, reference, tmp_path) -> None:
    small = tmp_path / "small"
    with _tmpfs(small, "200k"):
        out = small / "run"
        res = subprocess.run(_cmd(folder, out), env=env, capture_output=True, text=True)
        assert res.returncode == 2, res.stderr
        line = _last_line(res.stderr)
        assert line.startswith("error: cannot ") and "the disk is full (ENOSPC)" in line
        assert f"resume with `freqbench run --resume --out {out}`" in line
        assert "Traceback" not in res.stderr
        stored = _records(out)
        assert 0 < len(stored) < len(reference) and set(stored) <= set(reference)

        _remount(small, "ro")
        before = _snapshot(out)
        res = subprocess.run(_resume(out), env=env, capture_output=True, text=True)
        assert res.returncode == 2
        assert "the file system is read-only (EROFS)" in _last_line(res.stderr)
        assert "Traceback" not in res.stderr
        assert _snapshot(out) == before

        _remount(small, "rw,size=8m")
        subprocess.run(_resume(out), env=env, check=True, capture_output=True)
        assert _records(out) == reference
        assert len((out / "records.jsonl").read_text().splitlines()) == len(reference)


# os.write fails with ENOSPC from the 6th append to records.jsonl on, after half of that append
# reached the file, and the writer cannot cut it back: a torn condition left for the next writer
FULL_DISK = """
import errno, os, sys
real = os.write
count = [0]
def records(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith("records.jsonl")
    except OSError:
        return False
def write(fd, data):
    if records(fd):
        count[0] += 1
        if count[0] == 6:
            return real(fd, bytes(data)[: len(data) // 2])
        if count[0] > 6:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd, data)
real_truncate = os.ftruncate
def ftruncate(fd, size):
    if records(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_truncate(fd, size)
os.write, os.ftruncate = write, ftruncate
from freqbench.cli.main import main
sys.argv = ["freqbench", *sys.argv[1:]]
main()
"""


def test_full_disk_simulated_then_resume(folder, env, reference, tmp_path) -> None:
    out = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-c", FULL_DISK, *_cmd(folder, out)[3:]], env=env, capture_output=True, text=True
    )
    assert res.returncode == 2, res.stderr
    assert f"cannot write {out / 'records.jsonl'}: the disk is full (ENOSPC)" in _last_line(res.stderr)
    assert "Traceback" not in res.stderr
    commits = (out / "commits.jsonl").read_text().splitlines()
    assert len(commits) == 5
    torn = (out / "records.jsonl").read_bytes()[json.loads(commits[-1])["end"] :]
    assert torn, "half a condition's records stay behind, uncommitted"
    assert set(_records(out)) <= set(reference) and len(_records(out)) < len(reference)
    from freqbench.store.run import RunStore

    assert len(RunStore(out).completed_keys()) == 5 and len(RunStore(out).records()) == len(_records(out))
    subprocess.run(_resume(out), env=env, check=True, capture_output=True)
    assert _records(out) == reference
    assert len((out / "records.jsonl").read_text().splitlines()) == len(reference)
