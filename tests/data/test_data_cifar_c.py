"""The CIFAR-10-C file layer: reading tiny files in the released layout and writing that layout.

Reading tests write the ``.npy`` files with plain ``np.save``; writing tests read back with plain
``np.load``; expected severity blocks are sliced from the test's own arrays by the documented rule
(rows ``(s-1)*N .. s*N-1`` = severity ``s``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
from pathlib import Path

import numpy as np
import pytest

from freqbench.data import C_DATASETS, DataFormatError, DataRequest
from freqbench.data.catalog import import_dataset
from freqbench.data.cifar_c import RELEASED_CORRUPTIONS, _open_npy, c_folder_name
from freqbench.data.cifar_c_writer import CWriter, write_c_dataset
from freqbench.data.sources import SOURCES
from freqbench.errors import ChecksumError, ConfigError, MissingDataError

N = 4


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FREQBENCH_HOME", str(home))
    return home


def write_released(parent: Path, *, folder: str = "CIFAR-10-C", seed: int = 0, corruptions=("fog", "snow")):
    """np.save files in the released layout; return (labels (N,), corruption -> (5N, 32, 32, 3))."""
    rng = np.random.default_rng(seed)
    out = parent / folder
    out.mkdir(parents=True)
    labels = rng.integers(0, 10, size=N).astype(np.uint8)
    np.save(out / "labels.npy", np.tile(labels, 5))
    arrays = {}
    for c in corruptions:
        arrays[c] = rng.integers(0, 256, size=(5 * N, 32, 32, 3), dtype=np.uint8)
        np.save(out / f"{c}.npy", arrays[c])
    return labels, arrays


def _open(request: DataRequest, corruption: str, severity: int, name: str = "cifar10c"):
    return C_DATASETS.get(name)(request, corruption=corruption, severity=severity)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_replay_reads_the_severity_block(tmp_path: Path, severity: int) -> None:
    labels, arrays = write_released(tmp_path)
    replay = _open(DataRequest(root=tmp_path, download=False), "fog", severity)
    assert len(replay) == N
    block = arrays["fog"][(severity - 1) * N : severity * N]
    x, y = replay.batch(np.array([2, 0]))
    assert x.dtype.is_floating_point and x.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(x.numpy(), block[[2, 0]].transpose(0, 3, 1, 2) / 255.0, rtol=0, atol=1e-7)
    assert y.tolist() == [int(labels[2]), int(labels[0])]
    assert (replay.corruption, replay.severity) == ("fog", severity)
    assert replay.info.classes[0] == "airplane"
    assert isinstance(replay.dataset.images, np.memmap)


def test_root_may_be_the_c_folder_itself(tmp_path: Path) -> None:
    _, arrays = write_released(tmp_path)
    replay = _open(DataRequest(root=tmp_path / "CIFAR-10-C", download=False), "snow", 2)
    np.testing.assert_array_equal(replay.dataset.images, arrays["snow"][N : 2 * N])


def test_cache_and_cifar100c_folder(tmp_path: Path, _home: Path) -> None:
    _, arrays = write_released(_home / "datasets" / "cifar100c", folder="CIFAR-100-C")
    replay = _open(DataRequest(download=False), "fog", 4, name="cifar100c")
    assert "(cache)" in replay.info.source and replay.info.num_classes == 100
    np.testing.assert_array_equal(replay.dataset.images, arrays["fog"][3 * N : 4 * N])


def test_each_file_is_opened_once(tmp_path: Path) -> None:
    write_released(tmp_path)
    request = DataRequest(root=tmp_path, download=False)
    _open(request, "fog", 1)
    before = _open_npy.cache_info()
    replays = [_open(request, "fog", s) for s in (1, 2, 3, 4, 5)]
    after = _open_npy.cache_info()
    assert after.misses == before.misses  # labels.npy and fog.npy come from the cache
    assert len({id(r.dataset.images.base) for r in replays}) == 1


def test_missing_folder_names_path_and_command(tmp_path: Path, _home: Path) -> None:
    with pytest.raises(MissingDataError) as err:
        _open(DataRequest(root=tmp_path, download=False), "fog", 1)
    msg = str(err.value)
    assert str(tmp_path / "CIFAR-10-C" / "labels.npy") in msg
    assert str(_home / "datasets" / "cifar10c" / "CIFAR-10-C" / "labels.npy") in msg
    assert "freqbench data import cifar10c PATH" in msg


def test_missing_corruption_lists_what_is_there(tmp_path: Path) -> None:
    write_released(tmp_path)
    with pytest.raises(MissingDataError, match=r"frost\.npy.*\['fog', 'snow'\]"):
        _open(DataRequest(root=tmp_path, download=False), "frost", 1)


def test_bad_severity_and_bad_shapes(tmp_path: Path) -> None:
    write_released(tmp_path)
    request = DataRequest(root=tmp_path, download=False)
    with pytest.raises(ConfigError, match="severity"):
        _open(request, "fog", 6)
    np.save(tmp_path / "CIFAR-10-C" / "fog.npy", np.zeros((5 * N + 1, 32, 32, 3), np.uint8))
    with pytest.raises(DataFormatError, match="fog.npy"):
        _open(request, "fog", 1)
    np.save(tmp_path / "CIFAR-10-C" / "snow.npy", np.zeros((5 * N, 32, 32, 3), np.float32))
    with pytest.raises(DataFormatError, match="uint8"):
        _open(request, "snow", 1)
    labels = np.arange(5 * N) % 10
    np.save(tmp_path / "CIFAR-10-C" / "labels.npy", labels.astype(np.uint8))
    with pytest.raises(DataFormatError, match="severity blocks of labels differ"):
        _open(request, "snow", 1)
    (tmp_path / "CIFAR-10-C" / "labels.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataFormatError, match="labels.npy"):
        _open(request, "snow", 1)


def test_writer_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 100, size=N)
    fog = rng.integers(0, 256, size=(5 * N, 8, 8, 3), dtype=np.uint8)
    out = write_c_dataset(tmp_path, {"fog": fog}, labels, folder="CIFAR-100-C")
    assert out == tmp_path / "CIFAR-100-C"
    assert sorted(p.name for p in out.iterdir()) == ["fog.npy", "labels.npy"]
    np.testing.assert_array_equal(np.load(out / "fog.npy"), fog)
    stored = np.load(out / "labels.npy")
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored, np.concatenate([labels] * 5))
    replay = _open(DataRequest(root=tmp_path, download=False), "fog", 5, name="cifar100c")
    np.testing.assert_array_equal(replay.dataset.images, fog[4 * N :])


def test_streaming_writer_blocks_in_any_order(tmp_path: Path) -> None:
    labels = np.array([1, 2, 3, 4])
    blocks = {s: np.full((N, 2, 2, 1), 10 * s, np.uint8) for s in (1, 2, 3, 4, 5)}
    with CWriter(tmp_path, labels, folder=c_folder_name("fashion_mnist")) as writer:
        for s in (3, 1, 5, 2):
            writer.write("blur", s, blocks[s])
            assert not (writer.folder / "blur.npy").exists()  # incomplete: not under its final name
        writer.write("blur", 4, blocks[4])
    data = np.load(tmp_path / "fashion_mnist-C" / "blur.npy")
    np.testing.assert_array_equal(data, np.concatenate([blocks[s] for s in (1, 2, 3, 4, 5)]))


def test_incomplete_writer_discards_and_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'fog': \[2, 3, 4, 5\]"):
        with CWriter(tmp_path, np.array([0, 1]), folder="X-C") as writer:
            writer.write("fog", 1, np.zeros((2, 4, 4, 3), np.uint8))
    assert sorted(p.name for p in (tmp_path / "X-C").iterdir()) == ["labels.npy"]


def test_writer_rejects_bad_input(tmp_path: Path) -> None:
    writer = CWriter(tmp_path, np.array([0, 1]))
    with pytest.raises(ConfigError, match="uint8"):
        writer.write("fog", 1, np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ConfigError, match="expected uint8 \\(2"):
        writer.write("fog", 1, np.zeros((3, 4, 4, 3), np.uint8))
    with pytest.raises(ConfigError, match="plain file name"):
        writer.write("../evil", 1, np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ConfigError, match="uint8"):
        CWriter(tmp_path, np.array([0, 300]))


def test_c_folder_names() -> None:
    assert c_folder_name("cifar10") == "CIFAR-10-C"
    assert c_folder_name("cifar100") == "CIFAR-100-C"
    assert c_folder_name("imagefolder:data/test.tar.gz") == "imagefolder_data_test.tar.gz-C"


def test_import_folder_and_tar(tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, arrays = write_released(tmp_path / "src")
    lines: list[str] = []
    dest = import_dataset("cifar10c", tmp_path / "src", report=lines.append)
    assert len(lines) == 4 and lines[3] == f"installed 3 verified files into {dest}"
    replay = _open(DataRequest(download=False), "snow", 3)
    assert str(dest) in replay.info.source
    np.testing.assert_array_equal(replay.dataset.images, arrays["snow"][2 * N : 3 * N])

    tar_path = tmp_path / "CIFAR-10-C.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(tmp_path / "src" / "CIFAR-10-C", arcname="CIFAR-10-C")
    with pytest.raises(ChecksumError, match="md5"):
        import_dataset("cifar10c", tar_path)

    # with its md5 pinned, the tar imports; the official member list is required
    source = SOURCES.get("cifar10c")
    md5 = hashlib.md5(tar_path.read_bytes()).hexdigest()
    monkeypatch.setattr(source, "release", dataclasses.replace(source.release, archive_md5=md5))
    with pytest.raises(DataFormatError, match="brightness"):
        import_dataset("cifar10c", tar_path)


def test_download_of_full_release_tar(tmp_path: Path, _home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, arrays = write_released(tmp_path / "src", corruptions=RELEASED_CORRUPTIONS)
    tar_path = tmp_path / "served.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(tmp_path / "src" / "CIFAR-10-C", arcname="CIFAR-10-C")
    source = SOURCES.get("cifar10c")
    md5 = hashlib.md5(tar_path.read_bytes()).hexdigest()
    release = dataclasses.replace(source.release, url=tar_path.as_uri(), archive_md5=md5)
    monkeypatch.setattr(source, "release", release)
    replay = _open(DataRequest(download=True), "zoom_blur", 2)
    assert "(download)" in replay.info.source
    np.testing.assert_array_equal(replay.dataset.images, arrays["zoom_blur"][N : 2 * N])
    folder = _home / "datasets" / "cifar10c"
    assert sorted(p.name for p in folder.iterdir()) == ["CIFAR-10-C"]  # the tar is removed
    assert len(list((folder / "CIFAR-10-C").iterdir())) == 20
