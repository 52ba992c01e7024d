"""MNIST / Fashion-MNIST loaders on tiny IDX files (raw and gzip) and the dataset search order.

IDX files are written with ``struct`` from the format description (magic 0x00000803 / 0x00000801,
big-endian sizes), independently of the parser.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from freqbench.data import DATASETS, DataFormatError, DataRequest
from freqbench.data.catalog import import_dataset, list_datasets
from freqbench.data.idx import parse_idx
from freqbench.data.mnist import FASHION_MNIST
from freqbench.data.sources import SOURCES
from freqbench.errors import ChecksumError, ConfigError, MissingDataError


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FREQBENCH_HOME", str(home))
    # keep the machine's Debian copy out of these tests
    monkeypatch.setattr(SOURCES.get("fashion_mnist"), "system_dirs", ())
    return home


def idx_bytes(array: np.ndarray) -> bytes:
    magic = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return magic + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_idx_split(
    folder: Path, *, split: str = "test", n: int = 6, seed: int = 0, gz: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    prefix = "t10k" if split == "test" else "train"
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_fashion_mnist_reads_idx(tmp_path: Path, gz: bool) -> None:
    images, labels = write_idx_split(tmp_path / "root", gz=gz)
    ds = DATASETS.get("fashion_mnist")(DataRequest(root=tmp_path / "root", download=False))
    assert ds.images.shape == (6, 28, 28, 1) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images[..., 0], images)
    np.testing.assert_array_equal(ds.labels, labels.astype(np.int64))
    assert ds.info.classes[0] == "T-shirt/top" and ds.info.num_classes == 10
    x, y = ds.batch(np.array([4, 1]))
    assert x.shape == (2, 1, 28, 28)
    np.testing.assert_allclose(x[0, 0].numpy(), images[4] / 255.0, rtol=0, atol=1e-7)
    assert y.tolist() == [int(labels[4]), int(labels[1])]


def test_train_split_and_torchvision_subfolder(tmp_path: Path) -> None:
    images, labels = write_idx_split(tmp_path / "MNIST" / "raw", split="train", seed=5)
    ds = DATASETS.get("mnist")(DataRequest(split="train", root=tmp_path, download=False))
    np.testing.assert_array_equal(ds.images[..., 0], images)
    np.testing.assert_array_equal(ds.labels, labels)


def test_root_beats_cache_beats_system(tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, root_labels = write_idx_split(tmp_path / "root", seed=1)
    _, cache_labels = write_idx_split(_home / "datasets" / "fashion_mnist", seed=2)
    _, system_labels = write_idx_split(tmp_path / "system", seed=3)
    monkeypatch.setattr(SOURCES.get("fashion_mnist"), "system_dirs", (tmp_path / "system",))
    load = DATASETS.get("fashion_mnist")

    ds = load(DataRequest(root=tmp_path / "root", download=False))
    assert "(root)" in ds.info.source
    np.testing.assert_array_equal(ds.labels, root_labels)

    ds = load(DataRequest(root=tmp_path / "empty", download=False))
    assert "(cache)" in ds.info.source
    np.testing.assert_array_equal(ds.labels, cache_labels)

    for p in (_home / "datasets" / "fashion_mnist").iterdir():
        p.unlink()
    ds = load(DataRequest(download=False))
    assert "(system)" in ds.info.source
    np.testing.assert_array_equal(ds.labels, system_labels)


def test_offline_missing_names_paths_and_command(tmp_path: Path, _home: Path) -> None:
    with pytest.raises(MissingDataError) as err:
        DATASETS.get("fashion_mnist")(DataRequest(root=tmp_path / "r", download=False))
    msg = str(err.value)
    assert str(tmp_path / "r" / "t10k-images-idx3-ubyte[.gz]") in msg
    assert str(_home / "datasets" / "fashion_mnist" / "t10k-labels-idx1-ubyte[.gz]") in msg
    assert "freqbench data import fashion_mnist PATH" in msg
    assert "disabled" in msg


def test_failed_download_is_missing_data(
    tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = dataclasses.replace(FASHION_MNIST, mirrors=((tmp_path / "no-mirror").as_uri() + "/",))
    monkeypatch.setattr(SOURCES.get("fashion_mnist"), "release", release)
    with pytest.raises(MissingDataError) as err:
        DATASETS.get("fashion_mnist")(DataRequest(download=True))
    assert "Download failed" in str(err.value) and "freqbench data import fashion_mnist" in str(err.value)
    assert not [p for p in (_home / "datasets").rglob("*") if p.is_file()]


def test_download_checks_gz_and_content(tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = write_idx_split(tmp_path / "mirror")
    files = {p.name.removesuffix(".gz"): p for p in (tmp_path / "mirror").iterdir()}
    gz_sha = {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in files.items()}
    content_sha = {k: hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest() for k, p in files.items()}
    release = dataclasses.replace(
        FASHION_MNIST,
        mirrors=((tmp_path / "down").as_uri() + "/", (tmp_path / "mirror").as_uri() + "/"),
        gz_sha256=gz_sha,
        content_sha256=content_sha,
    )
    source = SOURCES.get("fashion_mnist")
    monkeypatch.setattr(source, "release", release)
    ds = DATASETS.get("fashion_mnist")(DataRequest(download=True))
    assert "(download)" in ds.info.source  # the first mirror is down, the second serves
    np.testing.assert_array_equal(ds.images[..., 0], images)

    # same .gz checksum but a content checksum that disagrees: rejected and removed
    monkeypatch.setattr(
        source, "release", dataclasses.replace(release, content_sha256=dict.fromkeys(content_sha, "0" * 64))
    )
    for p in (_home / "datasets" / "fashion_mnist").iterdir():
        p.unlink()
    with pytest.raises(ChecksumError, match="decompressed"):
        DATASETS.get("fashion_mnist")(DataRequest(download=True))
    assert list((_home / "datasets" / "fashion_mnist").iterdir()) == []


def test_import_checks_content_sha256(tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_split(tmp_path / "src")
    with pytest.raises(ChecksumError, match="decompressed"):
        import_dataset("fashion_mnist", tmp_path / "src")
    assert not (_home / "datasets" / "fashion_mnist").exists()

    # recompressing must not matter: pin the content, import a differently compressed copy
    raw = {p.name.removesuffix(".gz"): gzip.decompress(p.read_bytes()) for p in (tmp_path / "src").iterdir()}
    for name, data in raw.items():
        (tmp_path / "src" / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=12345))
    pins = {k: hashlib.sha256(v).hexdigest() for k, v in raw.items()}
    release = dataclasses.replace(FASHION_MNIST, content_sha256={**FASHION_MNIST.content_sha256, **pins})
    monkeypatch.setattr(SOURCES.get("fashion_mnist"), "release", release)
    lines: list[str] = []
    dest = import_dataset("fashion_mnist", tmp_path / "src", report=lines.append)
    assert len(lines) == 3 and lines[2] == f"installed 2 verified files into {dest}"
    status = {(s.name, s.split): s for s in list_datasets()}
    assert status[("fashion_mnist", "test")].origin == "cache"
    assert status[("fashion_mnist", "train")].origin == "missing"
    assert status[("fashion_mnist", "train")].hint == "freqbench data import fashion_mnist PATH"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00\x00\x0c\x01\x00\x00\x00\x01\x00", "type code"),
        (b"\x01\x02\x08\x01", "not an IDX"),
        (struct.pack(">BBBBI", 0, 0, 8, 1, 5) + b"abc", "declares shape"),
    ],
    ids=["float-type", "bad-magic", "truncated"],
)
def test_parse_idx_rejects_bad_files(data: bytes, match: str) -> None:
    with pytest.raises(DataFormatError, match=match):
        parse_idx(data, where="x")


def test_corrupt_gzip_is_a_typed_error(tmp_path: Path) -> None:
    write_idx_split(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataFormatError, match="t10k-images"):
        DATASETS.get("fashion_mnist")(DataRequest(root=tmp_path, download=False))


def test_label_count_mismatch_is_an_error(tmp_path: Path) -> None:
    write_idx_split(tmp_path, n=6)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(5, np.uint8))))
    with pytest.raises(DataFormatError, match="expected 6 labels"):
        DATASETS.get("fashion_mnist")(DataRequest(root=tmp_path, download=False))


def test_unknown_split_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="splits"):
        DATASETS.get("mnist")(DataRequest(split="val", root=tmp_path, download=False))
