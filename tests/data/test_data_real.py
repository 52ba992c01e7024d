"""Integration tests on real data: Fashion-MNIST from the Debian package, the CIFAR-10 JPEG test set.

Marked ``real``; each skips with the reason when its data is absent. Expected values come from an
independent parse (``gzip`` + ``numpy`` for IDX; ``tarfile`` + PIL + ``test_index.csv`` for the JPEGs).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from freqbench.data import DATASETS, DataRequest
from freqbench.data.mnist import FASHION_MNIST

pytestmark = pytest.mark.real

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
JPEG_TAR = SHARED / "cifar10-jpeg" / "test.tar.gz"
JPEG_INDEX = SHARED / "cifar10-jpeg" / "test_index.csv"


@pytest.fixture(autouse=True)
def _empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))


@pytest.mark.skipif(
    not (FMNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"{FMNIST_DIR} absent: apt-get install dataset-fashion-mnist",
)
def test_fashion_mnist_from_debian_package() -> None:
    ds = DATASETS.get("fashion_mnist")(DataRequest(split="test", download=False))
    assert ds.info.source == f"{FMNIST_DIR} (system)"
    assert ds.images.shape == (10000, 28, 28, 1) and ds.info.num_classes == 10
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=10), [1000] * 10)
    raw_images = gzip.decompress((FMNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes())
    raw_labels = gzip.decompress((FMNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert int.from_bytes(raw_images[:4], "big") == 2051 and int.from_bytes(raw_labels[:4], "big") == 2049
    np.testing.assert_array_equal(
        ds.images[..., 0], np.frombuffer(raw_images, np.uint8, offset=16).reshape(-1, 28, 28)
    )
    np.testing.assert_array_equal(ds.labels, np.frombuffer(raw_labels, np.uint8, offset=8))
    # the pinned content checksums are those of this (recompressed) copy's content
    assert hashlib.sha256(raw_images).hexdigest() == FASHION_MNIST.content_sha256["t10k-images-idx3-ubyte"]
    assert hashlib.sha256(raw_labels).hexdigest() == FASHION_MNIST.content_sha256["t10k-labels-idx1-ubyte"]


@pytest.mark.skipif(not JPEG_TAR.is_file(), reason=f"{JPEG_TAR} absent (shared real data not mounted)")
def test_cifar10_jpeg_test_archive() -> None:
    ds = DATASETS.get(f"imagefolder:{JPEG_TAR}")(DataRequest())
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

    with open(JPEG_INDEX, newline="") as f:
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
    with tarfile.open(JPEG_TAR) as tar:
        for member in tar:
            if member.name in sample:
                with Image.open(tar.extractfile(member)) as im:
                    np.testing.assert_array_equal(
                        ds.images[positions[member.name]], np.asarray(im.convert("RGB"))
                    )
                sample.discard(member.name)
    assert not sample
