"""``freqbench data import`` as a user runs it: real subprocesses, real files (issue 7, item 9).

Each case asserts the exit code, the one-line message and the cache afterwards (every file with its
bytes, compared with a snapshot taken before).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from freqbench.data.mnist import FASHION_MNIST

FILES = (
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
)


def freqbench(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FREQBENCH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "freqbench.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def snapshot(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def error_line(res: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line, last on stderr (progress lines of files checked may come before it)."""
    lines = res.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], res.stderr
    assert "Traceback" not in res.stderr
    return errors[0]


@pytest.mark.real
def test_import_fashion_mnist_from_the_debian_folder(tmp_path: Path, real_data) -> None:
    folder = real_data.fashion_mnist("")
    home = tmp_path / "home"
    res = freqbench("data", "import", "fashion_mnist", str(folder), home=home)
    assert res.returncode == 0, res.stderr
    cache = home / "datasets" / "fashion_mnist"
    assert res.stdout.strip() == f"imported fashion_mnist -> {cache}"
    assert sorted(p.name for p in cache.iterdir()) == [f"{f}.gz" for f in FILES]
    for f in FILES:
        content = gzip.decompress((cache / f"{f}.gz").read_bytes())
        # independent check: the IDX magic and the published content sha256
        assert int.from_bytes(content[:4], "big") in (2049, 2051)
        assert hashlib.sha256(content).hexdigest() == FASHION_MNIST.content_sha256[f]
    listing = freqbench("data", "ls", home=home)
    assert listing.returncode == 0
    assert [line for line in listing.stdout.splitlines() if "fashion_mnist" in line and "cache" in line]


def idx_gz(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_import_mnist_is_a_known_name_and_checks_content(tmp_path: Path) -> None:
    """`data ls` tells users to run `data import mnist PATH`; it used to answer 'unknown name'."""
    src = tmp_path / "mnist"
    src.mkdir()
    rng = np.random.default_rng(0)
    (src / "t10k-images-idx3-ubyte.gz").write_bytes(idx_gz(rng.integers(0, 256, (4, 28, 28))))
    (src / "t10k-labels-idx1-ubyte.gz").write_bytes(idx_gz(rng.integers(0, 10, 4)))
    home = tmp_path / "home"
    res = freqbench("data", "import", "mnist", str(src), home=home)
    assert res.returncode == 2
    line = error_line(res)
    assert "t10k-images-idx3-ubyte.gz: sha256 of the decompressed content is" in line
    assert "the official mnist t10k-images-idx3-ubyte" in line
    assert snapshot(home) == {}


def write_c(parent: Path, corruptions: tuple[str, ...], *, seed: int, n: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    folder = parent / "CIFAR-10-C"
    folder.mkdir(parents=True)
    np.save(folder / "labels.npy", np.tile(rng.integers(0, 10, n).astype(np.uint8), 5))
    for c in corruptions:
        np.save(folder / f"{c}.npy", rng.integers(0, 256, (5 * n, 8, 8, 3), dtype=np.uint8))
    return parent


def test_failed_cifar10c_import_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = write_c(tmp_path / "good", ("fog", "snow"), seed=1)
    assert freqbench("data", "import", "cifar10c", str(good), home=home).returncode == 0
    before = snapshot(home)
    assert sorted(before) == [f"datasets/cifar10c/CIFAR-10-C/{f}.npy" for f in ("fog", "labels", "snow")]
    bad = write_c(tmp_path / "bad", ("brightness", "contrast", "zoom_blur"), seed=2)
    np.save(bad / "CIFAR-10-C" / "zoom_blur.npy", np.zeros((4, 8, 8, 3), np.uint8))  # the last one checked
    res = freqbench("data", "import", "cifar10c", str(bad), home=home)
    assert res.returncode == 2
    assert "zoom_blur.npy: expected uint8 (15, H, W, 1 or 3)" in error_line(res)
    assert snapshot(home) == before
    assert sorted(p.name for p in (home / "datasets").iterdir()) == ["cifar10c"]  # no staging folder left
