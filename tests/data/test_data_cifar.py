"""CIFAR-10/100 loaders on tiny files written in the official python format (Python 2 pickles).

The pickles are written opcode by opcode as Python 2's cPickle (protocol 2) wrote the release: ``str``
keys as SHORT_BINSTRING/BINSTRING, arrays through ``numpy.core.multiarray._reconstruct``, so the
loader meets the same byte stream as in ``cifar-10-python.tar.gz``. Expected pixels come from the arrays
the test wrote, rearranged from the documented row layout (1024 red, 1024 green, 1024 blue values).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from freqbench.data import DATASETS, DataFormatError, DataRequest
from freqbench.data.catalog import import_dataset
from freqbench.data.cifar import CIFAR10
from freqbench.data.sources import SOURCES
from freqbench.errors import ChecksumError, MissingDataError

CIFAR10_NAMES = [
    b"airplane",
    b"automobile",
    b"bird",
    b"cat",
    b"deer",
    b"dog",
    b"frog",
    b"horse",
    b"ship",
    b"truck",
]


# a Python 2 style pickler ------------------------------------------------------------------------
def _str(b: bytes) -> bytes:
    return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)


def _int(i: int) -> bytes:
    if 0 <= i < 256:
        return b"K" + bytes([i])
    if 0 <= i < 65536:
        return b"M" + struct.pack("<H", i)
    return b"J" + struct.pack("<i", i)


def _obj(o: object) -> bytes:
    if isinstance(o, bytes):
        return _str(o)
    if isinstance(o, int):
        return _int(o)
    if isinstance(o, list):
        return b"](" + b"".join(_obj(x) for x in o) + b"e"
    if isinstance(o, dict):
        return b"}(" + b"".join(_obj(k) + _obj(v) for k, v in o.items()) + b"u"
    if isinstance(o, np.ndarray):
        shape = b"(" + b"".join(_int(s) for s in o.shape) + b"t"
        dtype = (
            b"cnumpy\ndtype\n" + _str(b"u1") + _int(0) + _int(1) + b"\x87R"
            b"(" + _int(3) + _str(b"|") + b"NNN" + _int(-1) + _int(-1) + _int(0) + b"tb"
        )
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
            + _int(0)
            + b"\x85"
            + _str(b"b")
            + b"\x87R"
            b"(" + _int(1) + shape + dtype + b"\x89" + _str(np.ascontiguousarray(o).tobytes()) + b"tb"
        )
    raise TypeError(type(o))


def py2_pickle(obj: object) -> bytes:
    return b"\x80\x02" + _obj(obj) + b"."


# fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FREQBENCH_HOME", str(home))
    return home


def _batch(
    rng: np.random.Generator, n: int, label_key: bytes, num_classes: int
) -> tuple[dict, np.ndarray, list]:
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, num_classes, size=n)]
    batch = {b"batch_label": b"testing batch 1 of 1", label_key: labels, b"data": data}
    batch[b"filenames"] = [b"img_%d.png" % i for i in range(n)]
    return batch, data, labels


def _expected_images(data: np.ndarray) -> np.ndarray:
    # independent of the loader: pixel (r, c) of channel k is data[1024*k + 32*r + c]
    out = np.empty((len(data), 32, 32, 3), np.uint8)
    for k in range(3):
        for r in range(32):
            out[:, r, :, k] = data[:, 1024 * k + 32 * r : 1024 * k + 32 * r + 32]
    return out


def write_cifar10(root: Path, *, n: int = 7, seed: int = 0) -> dict[str, tuple[np.ndarray, list]]:
    """Write cifar-10-batches-py/ with 5 train batches and a test batch; return name -> (data, labels)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch, data, labels = _batch(rng, n, b"labels", 10)
        (folder / name).write_bytes(py2_pickle(batch))
        written[name] = (data, labels)
    meta = {b"num_cases_per_batch": 10000, b"label_names": CIFAR10_NAMES, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return written


def make_tarball(src_root: Path, folder: str, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src_root / folder, arcname=folder)
    return out


def _md5s(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}


# tests -------------------------------------------------------------------------------------------
def test_cifar10_test_split_from_folder(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path / "root")
    ds = DATASETS.get("cifar10")(DataRequest(split="test", root=tmp_path / "root", download=False))
    data, labels = written["test_batch"]
    np.testing.assert_array_equal(ds.images, _expected_images(data))
    np.testing.assert_array_equal(ds.labels, np.array(labels))
    assert ds.labels.dtype == np.int64
    assert ds.info.classes == tuple(n.decode() for n in CIFAR10_NAMES)
    assert "(root)" in ds.info.source


def test_cifar10_train_split_concatenates_batches_in_order(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    ds = DATASETS.get("cifar10")(
        DataRequest(split="train", root=tmp_path / "cifar-10-batches-py", download=False)
    )
    names = [f"data_batch_{i}" for i in range(1, 6)]
    np.testing.assert_array_equal(ds.images, _expected_images(np.concatenate([written[n][0] for n in names])))
    np.testing.assert_array_equal(ds.labels, np.concatenate([written[n][1] for n in names]))


def test_cifar10_from_official_tarball_without_extracting(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path / "src")
    root = tmp_path / "root"
    root.mkdir()
    make_tarball(tmp_path / "src", "cifar-10-batches-py", root / "cifar-10-python.tar.gz")
    ds = DATASETS.get("cifar10")(DataRequest(root=root, download=False))
    np.testing.assert_array_equal(ds.images, _expected_images(written["test_batch"][0]))
    assert not (root / "cifar-10-batches-py").exists()


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = rng.integers(0, 256, size=(9, 3072), dtype=np.uint8)
    fine = [int(v) for v in rng.integers(0, 100, size=9)]
    coarse = [f // 5 for f in fine]
    (folder / "test").write_bytes(py2_pickle({b"data": data, b"fine_labels": fine, b"coarse_labels": coarse}))
    ds = DATASETS.get("cifar100")(DataRequest(root=tmp_path, download=False))
    np.testing.assert_array_equal(ds.labels, fine)
    np.testing.assert_array_equal(ds.images, _expected_images(data))
    assert ds.info.num_classes == 100 and ds.info.classes[:3] == ("apple", "aquarium_fish", "baby")


def test_limit_subset_keeps_rows_with_their_indices(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    ds = DATASETS.get("cifar10")(DataRequest(root=tmp_path, download=False))
    sub = ds.subset(3)
    rows = sub.indices
    assert len(rows) == 3 and list(rows) == sorted(rows)
    np.testing.assert_array_equal(sub.images, _expected_images(written["test_batch"][0])[rows])
    np.testing.assert_array_equal(sub.labels, np.asarray(written["test_batch"][1])[rows])
    assert ds.subset(100) is ds


def test_wrong_meta_names_is_an_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    meta = {b"label_names": [b"cat"] * 10}
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(py2_pickle(meta))
    with pytest.raises(DataFormatError, match="label_names"):
        DATASETS.get("cifar10")(DataRequest(root=tmp_path, download=False))


@pytest.mark.parametrize(
    "content",
    [b"garbage", py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})],
    ids=["not-a-pickle", "wrong-shape"],
)
def test_corrupt_batch_is_a_typed_error(tmp_path: Path, content: bytes) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(content)
    with pytest.raises(DataFormatError, match="test_batch"):
        DATASETS.get("cifar10")(DataRequest(root=tmp_path, download=False))


def test_pickle_with_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (Path.touch, (tmp_path / "pwned",))

    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({"data": Evil()}))
    with pytest.raises(DataFormatError, match="not allowed"):
        DATASETS.get("cifar10")(DataRequest(root=tmp_path, download=False))
    assert not (tmp_path / "pwned").exists()


def test_missing_names_paths_and_import_command(tmp_path: Path, _home: Path) -> None:
    with pytest.raises(MissingDataError) as err:
        DATASETS.get("cifar10")(DataRequest(root=tmp_path / "nowhere", download=False))
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py" / "test_batch") in msg
    assert str(_home / "datasets" / "cifar10" / "cifar-10-python.tar.gz") in msg
    assert "freqbench data import cifar10 PATH" in msg


def test_import_folder_verifies_md5_and_copies(
    tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = write_cifar10(tmp_path / "src")
    source = SOURCES.get("cifar10")
    md5 = _md5s(tmp_path / "src" / "cifar-10-batches-py")
    monkeypatch.setattr(source, "release", dataclasses.replace(CIFAR10, md5=md5))
    lines: list[str] = []
    dest = import_dataset("cifar10", tmp_path / "src", report=lines.append)
    assert dest == _home / "datasets" / "cifar10"
    assert len(lines) == 8 and all("verified the md5" in line for line in lines[:7])
    assert lines[7] == f"installed 7 verified files into {dest}"
    ds = DATASETS.get("cifar10")(DataRequest(download=False))
    assert "(cache)" in ds.info.source
    np.testing.assert_array_equal(ds.images, _expected_images(written["test_batch"][0]))


def test_import_folder_with_wrong_md5_copies_nothing(tmp_path: Path, _home: Path) -> None:
    write_cifar10(tmp_path / "src")  # random content: the official md5s cannot match
    with pytest.raises(ChecksumError, match="md5"):
        import_dataset("cifar10", tmp_path / "src")
    cache = _home / "datasets" / "cifar10"
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]


def test_import_tarball_with_wrong_sha256_copies_nothing(tmp_path: Path, _home: Path) -> None:
    write_cifar10(tmp_path / "src")
    tarball = make_tarball(tmp_path / "src", "cifar-10-batches-py", tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(ChecksumError, match="sha256"):
        import_dataset("cifar10", tarball)
    assert not (_home / "datasets" / "cifar10").exists()


def test_download_verifies_then_extracts(
    tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = write_cifar10(tmp_path / "src")
    tarball = make_tarball(tmp_path / "src", "cifar-10-batches-py", tmp_path / "served.tar.gz")
    source = SOURCES.get("cifar10")
    release = dataclasses.replace(
        CIFAR10,
        url=tarball.as_uri(),
        archive_sha256=hashlib.sha256(tarball.read_bytes()).hexdigest(),
        md5=_md5s(tmp_path / "src" / "cifar-10-batches-py"),
    )
    monkeypatch.setattr(source, "release", release)
    ds = DATASETS.get("cifar10")(DataRequest(download=True))
    assert "(download)" in ds.info.source
    np.testing.assert_array_equal(ds.labels, written["test_batch"][1])
    cache = _home / "datasets" / "cifar10"
    assert sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py"]  # tarball removed


def test_download_checksum_mismatch_leaves_nothing(
    tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_cifar10(tmp_path / "src")
    tarball = make_tarball(tmp_path / "src", "cifar-10-batches-py", tmp_path / "served.tar.gz")
    source = SOURCES.get("cifar10")
    monkeypatch.setattr(source, "release", dataclasses.replace(CIFAR10, url=tarball.as_uri()))
    with pytest.raises(ChecksumError):
        DATASETS.get("cifar10")(DataRequest(download=True))
    cache = _home / "datasets" / "cifar10"
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_py2_pickler_matches_stdlib_reading() -> None:
    # guards the test helper itself: what it writes, the standard unpickler reads back unchanged
    data = np.arange(3072 * 2, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    back = pickle.load(io.BytesIO(py2_pickle({b"data": data, b"labels": [7, 70000]})), encoding="bytes")
    np.testing.assert_array_equal(back[b"data"], data)
    assert back[b"labels"] == [7, 70000]
