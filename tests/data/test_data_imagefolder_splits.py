"""Which split an ``imagefolder:`` tree holds, and ``--split`` anything else refused (issue 7, item 6).

The rule (module docstring of :mod:`freqbench.data.imagefolder`): ``train/`` and ``test/`` top
folders are splits; a single tree holds the split its folder, its archive's top folder or its
archive's name says, else ``test``.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from freqbench.data import DATASETS, DataRequest
from freqbench.errors import ConfigError


def _load(path: Path, split: str = "test"):
    return DATASETS.get(f"imagefolder:{path}")(DataRequest(split=split))


def write_tree(root: Path, classes: dict[str, int], *, seed: int) -> np.ndarray:
    """root/<class>/<i>.png; returns the images in canonical order (classes sorted, files natural)."""
    rng = np.random.default_rng(seed)
    out = {}
    for c, n in classes.items():
        (root / c).mkdir(parents=True)
        for i in range(n):
            out[(c, i)] = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            Image.fromarray(out[(c, i)]).save(root / c / f"{i}.png")
    return np.stack([out[k] for k in sorted(out)])


def test_plain_tree_is_the_test_split_only(tmp_path: Path) -> None:
    images = write_tree(tmp_path / "images", {"a": 2, "b": 1}, seed=0)
    ds = _load(tmp_path / "images")
    np.testing.assert_array_equal(ds.images, images)
    assert ds.info.split == "test"
    with pytest.raises(ConfigError, match=r"holds split 'test' \(one <class>/<image> tree.*--split 'train'"):
        _load(tmp_path / "images", "train")


def test_folder_named_after_a_split_holds_that_split(tmp_path: Path) -> None:
    write_tree(tmp_path / "data" / "train", {"a": 1, "b": 1}, seed=1)
    assert len(_load(tmp_path / "data" / "train", "train")) == 2
    with pytest.raises(ConfigError, match="holds split 'train'.*pass --split train"):
        _load(tmp_path / "data" / "train")


def test_train_and_test_subfolders_are_two_splits(tmp_path: Path) -> None:
    train = write_tree(tmp_path / "d" / "train", {"a": 3, "b": 2}, seed=2)
    test = write_tree(tmp_path / "d" / "test", {"a": 1, "b": 1}, seed=3)
    np.testing.assert_array_equal(_load(tmp_path / "d", "train").images, train)
    np.testing.assert_array_equal(_load(tmp_path / "d", "test").images, test)
    only_train = tmp_path / "e"
    write_tree(only_train / "train", {"a": 1}, seed=4)
    with pytest.raises(ConfigError, match="holds split 'train'"):
        _load(only_train)


@pytest.mark.parametrize(
    ("top", "name", "holds"),
    [("train", "x.tar.gz", "train"), ("test", "x.tar.gz", "test"), ("", "train.tar.gz", "train"),
     ("", "data.tar", "test"), ("images", "train.tar", "test")],
)  # fmt: skip
def test_archive_holds_its_top_folder_or_name(tmp_path: Path, top: str, name: str, holds: str) -> None:
    write_tree(tmp_path / "src", {"a": 1, "b": 1}, seed=5)
    archive = tmp_path / name
    with tarfile.open(archive, "w:gz" if name.endswith("gz") else "w") as tar:
        for c in ("a", "b"):
            tar.add(tmp_path / "src" / c, arcname=f"{top}/{c}" if top else c)
    assert len(_load(archive, holds)) == 2
    other = "test" if holds == "train" else "train"
    with pytest.raises(ConfigError, match=f"holds split '{holds}'.*got --split '{other}'"):
        _load(archive, other)


def test_archive_with_train_and_test_tops(tmp_path: Path) -> None:
    train = write_tree(tmp_path / "src" / "train", {"a": 2}, seed=6)
    test = write_tree(tmp_path / "src" / "test", {"a": 1}, seed=7)
    archive = tmp_path / "both.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "src", arcname="cifar")
    np.testing.assert_array_equal(_load(archive, "train").images, train)
    np.testing.assert_array_equal(_load(archive, "test").images, test)


@pytest.mark.real
def test_cifar10_jpeg_train_archive_is_the_train_split(real_data) -> None:
    train_tar = real_data.shared("cifar10-jpeg/train.tar.gz")
    with pytest.raises(ConfigError, match="holds split 'train'"):
        _load(train_tar, "test")
