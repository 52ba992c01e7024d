"""C folders that hold a subset: ``indices.npy`` and blocks addressed by sample index (issue 7, item 9).

Files are written with plain ``np.save`` where the reader is under test and read back with plain
``np.load`` where the writer is; the expected row of sample ``i`` is found with ``list.index`` on the
test's own index list.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from freqbench.data import C_DATASETS, DataFormatError, DataRequest
from freqbench.data.cifar_c import list_corruptions
from freqbench.data.cifar_c_writer import CWriter
from freqbench.errors import ConfigError, MissingDataError

N = 4
INDICES = [3, 7, 8, 20]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_subset_folder(folder: Path, *, indices=INDICES) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    labels = rng.integers(0, 10, N).astype(np.uint8)
    images = rng.integers(0, 256, (5 * N, 8, 8, 3), dtype=np.uint8)
    np.save(folder / "labels.npy", np.tile(labels, 5))
    np.save(folder / "fog.npy", images)
    if indices is not None:
        np.save(folder / "indices.npy", np.asarray(indices, dtype=np.int64))
    return labels, images


def _open(root: Path, severity: int = 2):
    return C_DATASETS.get("cifar10c")(
        DataRequest(root=root, download=False), corruption="fog", severity=severity
    )


def test_replay_rows_are_addressed_by_sample_index(tmp_path: Path) -> None:
    labels, images = write_subset_folder(tmp_path / "CIFAR-10-C")
    replay = _open(tmp_path, severity=2)
    np.testing.assert_array_equal(replay.dataset.indices, INDICES)
    want = [20, 3, 8]
    x, y = replay.batch(np.array(want))
    rows = [INDICES.index(i) for i in want]
    np.testing.assert_allclose(x.numpy(), images[N:][rows].transpose(0, 3, 1, 2) / 255.0, rtol=0, atol=1e-7)
    assert y.tolist() == labels[rows].tolist()
    assert list_corruptions(tmp_path / "CIFAR-10-C") == ["fog"]  # indices.npy is not a corruption
    assert "indices" in replay.files  # which samples the rows are enters the result key


def test_sample_not_in_the_files_is_a_clear_error(tmp_path: Path) -> None:
    write_subset_folder(tmp_path / "CIFAR-10-C")
    replay = _open(tmp_path)
    with pytest.raises(MissingDataError, match=r"holds 4 samples .*sample index 4 .*--limit"):
        replay.batch(np.array([3, 4]))
    with pytest.raises(MissingDataError, match="sample index 21"):
        replay.batch(np.array([21]))


def test_released_layout_without_indices_is_rows_in_order(tmp_path: Path) -> None:
    _, images = write_subset_folder(tmp_path / "CIFAR-10-C", indices=None)
    replay = _open(tmp_path, severity=1)
    x, _ = replay.batch(np.array([2]))
    np.testing.assert_allclose(x[0].numpy(), images[2].transpose(2, 0, 1) / 255.0, rtol=0, atol=1e-7)
    with pytest.raises(MissingDataError, match="sample index 4"):  # was an IndexError
        replay.batch(np.array([4]))


@pytest.mark.parametrize(
    "indices", [[3, 3, 8, 20], [8, 3, 7, 20], [-1, 3, 7, 8], [1, 2, 3]], ids=["dup", "order", "neg", "len"]
)
def test_bad_indices_file_is_a_format_error(tmp_path: Path, indices: list[int]) -> None:
    write_subset_folder(tmp_path / "CIFAR-10-C", indices=indices)
    with pytest.raises(DataFormatError, match="indices.npy"):
        _open(tmp_path)


def test_writer_writes_indices_only_when_not_in_order(tmp_path: Path) -> None:
    labels = np.array([1, 2, 3])
    block = np.zeros((3, 2, 2, 3), np.uint8)
    with CWriter(tmp_path, labels, folder="A-C", indices=np.array([2, 5, 9])) as w:
        for s in range(1, 6):
            w.write("fog", s, block)
    np.testing.assert_array_equal(np.load(tmp_path / "A-C" / "indices.npy"), [2, 5, 9])
    # rewriting the folder in the released order removes the now-wrong indices file
    with CWriter(tmp_path, labels, folder="A-C", indices=np.arange(3)) as w:
        for s in range(1, 6):
            w.write("fog", s, block)
    assert not (tmp_path / "A-C" / "indices.npy").exists()
    with pytest.raises(ConfigError, match="strictly increasing"):
        CWriter(tmp_path, labels, folder="B-C", indices=np.array([2, 2, 3]))
    with pytest.raises(ConfigError, match="other than 'labels' and 'indices'"):
        CWriter(tmp_path, labels, folder="C-C").write("indices", 1, block)


def test_written_files_have_normal_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with CWriter(tmp_path, np.array([1, 2]), folder="P-C", indices=np.array([4, 6])) as w:
            for s in range(1, 6):
                w.write("fog", s, np.zeros((2, 2, 2, 3), np.uint8))
    finally:
        os.umask(old)
    for name in ("labels.npy", "indices.npy", "fog.npy"):
        assert stat.S_IMODE((tmp_path / "P-C" / name).stat().st_mode) == 0o644, name
