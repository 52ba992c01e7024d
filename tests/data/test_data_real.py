"""Integration tests on real data: Fashion-MNIST from the Debian package, the CIFAR-10 JPEG test set.

Marked ``real``; each skips with the reason when its data is absent (fails under
``FREQBENCH_REQUIRE_REAL=1``, see ``tests/conftest.py``). Expected values come from an
independent parse (``gzip`` + ``numpy`` for IDX; ``tarfile`` + PIL + ``test_index.csv`` for the JPEGs).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from freqbench.data import DATASETS, DataRequest
from freqbench.data.mnist import FASHION_MNIST

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

pytestmark = pytest.mark.real


@pytest.fixture(autouse=True)
def _empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))


def test_fashion_mnist_from_debian_package(real_data: RealData) -> None:
    images_gz = real_data.fashion_mnist("t10k-images-idx3-ubyte.gz")
    labels_gz = real_data.fashion_mnist("t10k-labels-idx1-ubyte.gz")
    ds = DATASETS.get("fashion_mnist")(DataRequest(split="test", download=False))
    assert ds.info.source == f"{real_data.fashion_mnist_root} (system)"
    assert ds.images.shape == (10000, 28, 28, 1) and ds.info.num_classes == 10
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=10), [1000] * 10)
    raw_images = gzip.decompress(images_gz.read_bytes())
    raw_labels = gzip.decompress(labels_gz.read_bytes())
    assert int.from_bytes(raw_images[:4], "big") == 2051 and int.from_bytes(raw_labels[:4], "big") == 2049
    np.testing.assert_array_equal(
        ds.images[..., 0], np.frombuffer(raw_images, np.uint8, offset=16).reshape(-1, 28, 28)
    )
    np.testing.assert_array_equal(ds.labels, np.frombuffer(raw_labels, np.uint8, offset=8))
    # the pinned content checksums are those of this (recompressed) copy's content
    assert hashlib.sha256(raw_images).hexdigest() == FASHION_MNIST.content_sha256["t10k-images-idx3-ubyte"]
    assert hashlib.sha256(raw_labels).hexdigest() == FASHION_MNIST.content_sha256["t10k-labels-idx1-ubyte"]


def test_cifar10_jpeg_test_archive(real_data: RealData) -> None:
    jpeg_tar = real_data.shared("cifar10-jpeg/test.tar.gz")
    jpeg_index = real_data.shared("cifar10-jpeg/test_index.csv")
    ds = DATASETS.get(f"imagefolder:{jpeg_tar}")(DataRequest())
    assert ds.images.shape == (10000, 32, 32, 3)
    assert ds.info.classes == (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=10), [1000] * 10)

    with open(jpeg_index, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10000
    # documented order: classes sorted, then files in natural (here numeric) order
    by_path = {r["jpeg_path"]: r for r in rows}
    ordered = sorted(by_path, key=lambda p: (p.split("/")[1], int(Path(p).stem)))
    positions = {p: i for i, p in enumerate(ordered)}
    for path, row in by_path.items():
        assert ds.labels[positions[path]] == int(row["label"]), path
        assert ds.info.classes[int(row["label"])] == row["class"]

    sample = set(ordered[::997])
    with tarfile.open(jpeg_tar) as tar:
        for member in tar:
            if member.name in sample:
                with Image.open(tar.extractfile(member)) as im:
                    np.testing.assert_array_equal(
                        ds.images[positions[member.name]], np.asarray(im.convert("RGB"))
                    )
                sample.discard(member.name)
    assert not sample
