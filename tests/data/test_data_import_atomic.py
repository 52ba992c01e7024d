"""Imports into the cache are all or nothing, and what they write reads like any file (issue 7, item 9).

Each case snapshots the cache (every path with its bytes) before the import and compares after it;
a failure, including ``KeyboardInterrupt`` in the middle of copying, must leave the snapshot as it was
and no staging folder behind.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import stat
import struct
from pathlib import Path

import numpy as np
import pytest

import freqbench.data.cifar_c as cifar_c
from freqbench.data import DataFormatError
from freqbench.data.catalog import import_dataset
from freqbench.data.mnist import FASHION_MNIST, MNIST
from freqbench.data.sources import SOURCES
from freqbench.errors import ChecksumError
from freqbench.store.files import staged_directory


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FREQBENCH_HOME", str(home))
    return home


def snapshot(root: Path) -> dict[str, bytes]:
    return (
        {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        if (root.exists())
        else {}
    )


def write_c(parent: Path, corruptions=("fog", "snow", "zoom_blur"), *, n: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = parent / "CIFAR-10-C"
    folder.mkdir(parents=True)
    np.save(folder / "labels.npy", np.tile(rng.integers(0, 10, n).astype(np.uint8), 5))
    for c in corruptions:
        np.save(folder / f"{c}.npy", rng.integers(0, 256, (5 * n, 4, 4, 3), dtype=np.uint8))
    return parent


def test_failed_c_import_leaves_nothing(tmp_path: Path, _home: Path) -> None:
    src = write_c(tmp_path / "src")
    np.save(src / "CIFAR-10-C" / "zoom_blur.npy", np.zeros((7, 4, 4, 3), np.uint8))  # wrong row count
    with pytest.raises(DataFormatError, match="zoom_blur"):
        import_dataset("cifar10c", src)
    assert snapshot(_home) == {}
    assert not (_home / "datasets").exists() or list((_home / "datasets").iterdir()) == []


def test_failed_c_import_keeps_the_previous_copy(tmp_path: Path, _home: Path) -> None:
    import_dataset("cifar10c", write_c(tmp_path / "good", seed=1))
    before = snapshot(_home)
    bad = write_c(tmp_path / "bad", seed=2)
    (bad / "CIFAR-10-C" / "snow.npy").write_bytes(b"not an npy file")
    with pytest.raises(DataFormatError, match="snow"):
        import_dataset("cifar10c", bad)
    assert snapshot(_home) == before
    assert sorted(p.name for p in (_home / "datasets").iterdir()) == ["cifar10c"]  # no staging left


def test_interrupted_import_leaves_nothing(
    tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_dataset("cifar10c", write_c(tmp_path / "good", seed=1))
    before = snapshot(_home)
    real_install = cifar_c.install_file
    calls = []

    def interrupted(src: Path, dest: Path, **kw: str) -> Path:
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_install(src, dest, **kw)

    monkeypatch.setattr(cifar_c, "install_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_dataset("cifar10c", write_c(tmp_path / "new", seed=3))
    assert len(calls) == 2 and snapshot(_home) == before
    assert sorted(p.name for p in (_home / "datasets").iterdir()) == ["cifar10c"]


def test_c_import_replaces_the_folder_whole(tmp_path: Path, _home: Path) -> None:
    import_dataset("cifar10c", write_c(tmp_path / "a", ("fog", "snow"), seed=1))
    import_dataset("cifar10c", write_c(tmp_path / "b", ("fog",), n=5, seed=2))
    cached = _home / "datasets" / "cifar10c" / "CIFAR-10-C"
    assert sorted(p.name for p in cached.iterdir()) == ["fog.npy", "labels.npy"]  # no stale snow.npy
    assert (cached / "fog.npy").read_bytes() == (tmp_path / "b" / "CIFAR-10-C" / "fog.npy").read_bytes()


def test_imported_files_and_folders_have_normal_permissions(tmp_path: Path, _home: Path) -> None:
    old = os.umask(0o022)
    try:
        src = write_c(tmp_path / "src")
        for p in (src / "CIFAR-10-C").iterdir():
            p.chmod(0o644)
        import_dataset("cifar10c", src)
    finally:
        os.umask(old)
    cache = _home / "datasets" / "cifar10c"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o755  # not mkdtemp's 0700
    for p in cache.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o755 if p.is_dir() else 0o644), p


def test_staged_directory_merges_or_replaces(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    (dest / "sub").mkdir(parents=True)
    (dest / "keep.txt").write_text("old")
    (dest / "sub" / "x.txt").write_text("old")
    with staged_directory(dest) as st:
        (st / "sub").mkdir()
        (st / "sub" / "x.txt").write_text("new")
    assert snapshot(dest) == {"keep.txt": b"old", "sub/x.txt": b"new"}
    with staged_directory(dest, replace=True) as st:
        (st / "only.txt").write_text("new")
    assert snapshot(dest) == {"only.txt": b"new"}
    with pytest.raises(RuntimeError), staged_directory(dest, replace=True) as st:
        (st / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert snapshot(dest) == {"only.txt": b"new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


# IDX datasets: folders, single files, recognised by content --------------------------------------
def idx_gz(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _pin(monkeypatch: pytest.MonkeyPatch, name: str, files: dict[str, Path]) -> None:
    release = {"mnist": MNIST, "fashion_mnist": FASHION_MNIST}[name]
    pins = {base: hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest() for base, p in files.items()}
    new = dataclasses.replace(release, content_sha256={**release.content_sha256, **pins})
    monkeypatch.setattr(SOURCES.get(name), "release", new)


def test_idx_files_import_one_by_one_recognised_by_content(
    tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    files = {
        "t10k-images-idx3-ubyte": tmp_path / "imgs.gz",  # names need not be the official ones
        "t10k-labels-idx1-ubyte": tmp_path / "labs.gz",
    }
    files["t10k-images-idx3-ubyte"].write_bytes(idx_gz(rng.integers(0, 256, (5, 28, 28))))
    files["t10k-labels-idx1-ubyte"].write_bytes(idx_gz(rng.integers(0, 10, 5)))
    _pin(monkeypatch, "mnist", files)
    dest = import_dataset("mnist", list(files.values()))
    assert sorted(p.name for p in dest.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    for base, src in files.items():
        assert (dest / f"{base}.gz").read_bytes() == src.read_bytes()


def test_unknown_idx_file_is_refused_and_nothing_is_imported(
    tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "labels.gz"
    good.write_bytes(idx_gz(np.arange(5) % 10))
    _pin(monkeypatch, "mnist", {"t10k-labels-idx1-ubyte": good})
    stranger = tmp_path / "other.gz"
    stranger.write_bytes(idx_gz(np.arange(6) % 10))
    with pytest.raises(ChecksumError, match=r"other\.gz: .* none of the four official mnist IDX files"):
        import_dataset("mnist", [good, stranger])
    assert snapshot(_home) == {}
