"""``imagefolder:PATH`` on PNG/JPEG trees and tar archives written by the tests.

PNG is lossless, so decoded pixels must equal the arrays written; JPEG pixels are compared with PIL's
own decoding of the same file (independent of the loader's code path).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from freqbench.data import DATASETS, DataFormatError, DataRequest
from freqbench.errors import MissingDataError


def _load(path: Path):
    return DATASETS.get(f"imagefolder:{path}")(DataRequest())


def write_tree(
    root: Path, spec: dict[str, list[str]], *, size=(5, 4), mode="RGB", seed=0
) -> dict[str, np.ndarray]:
    """Write PNGs root/<class>/<file>; return 'class/file' -> pixels written."""
    rng = np.random.default_rng(seed)
    h, w = size
    written = {}
    for cls, files in spec.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for name in files:
            shape = (h, w, 3) if mode == "RGB" else (h, w)
            arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
            Image.fromarray(arr, mode=mode).save(root / cls / name)
            written[f"{cls}/{name}"] = arr
    return written


def test_class_order_natural_file_order_and_pixels(tmp_path: Path) -> None:
    spec = {"dog": ["10.png", "2.png", "1.png"], "cat": ["b.png", "a.png"], "Zebra": ["0.png"]}
    written = write_tree(tmp_path, spec)
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("not a class")
    ds = _load(tmp_path)
    # sorted() puts upper case first, as torchvision's ImageFolder does
    assert ds.info.classes == ("Zebra", "cat", "dog")
    order = ["Zebra/0.png", "cat/a.png", "cat/b.png", "dog/1.png", "dog/2.png", "dog/10.png"]
    np.testing.assert_array_equal(ds.images, np.stack([written[k] for k in order]))
    np.testing.assert_array_equal(ds.labels, [0, 1, 1, 2, 2, 2])
    assert ds.labels.dtype == np.int64
    sub = ds.subset(2)
    np.testing.assert_array_equal(sub.labels, ds.labels[sub.indices])


def test_all_greyscale_gives_one_channel(tmp_path: Path) -> None:
    written = write_tree(tmp_path, {"a": ["1.png", "2.png"]}, mode="L")
    ds = _load(tmp_path)
    assert ds.images.shape == (2, 5, 4, 1)
    np.testing.assert_array_equal(ds.images[1, ..., 0], written["a/2.png"])


def test_mixed_grey_and_colour_gives_rgb(tmp_path: Path) -> None:
    grey = write_tree(tmp_path, {"a": ["1.png"]}, mode="L", seed=1)
    colour = write_tree(tmp_path, {"b": ["1.png"]}, mode="RGB", seed=2)
    ds = _load(tmp_path)
    assert ds.images.shape == (2, 5, 4, 3)
    np.testing.assert_array_equal(ds.images[0], np.repeat(grey["a/1.png"][..., None], 3, axis=2))
    np.testing.assert_array_equal(ds.images[1], colour["b/1.png"])


def test_palette_and_alpha_images_become_rgb(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    rgba = np.random.default_rng(0).integers(0, 256, size=(3, 3, 4), dtype=np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a" / "x.png")
    ds = _load(tmp_path)
    np.testing.assert_array_equal(ds.images[0], rgba[..., :3])


def test_jpeg_matches_pil_decoding(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    (tmp_path / "c").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)).save(
            tmp_path / "c" / f"{i}.jpg", quality=75
        )
    ds = _load(tmp_path)
    for i in range(3):
        with Image.open(tmp_path / "c" / f"{i}.jpg") as im:
            np.testing.assert_array_equal(ds.images[i], np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("top", ["test", ""], ids=["under-top-folder", "at-top"])
@pytest.mark.parametrize("mode", ["w:gz", "w"], ids=["tar.gz", "tar"])
def test_tar_archive_read_without_extracting(tmp_path: Path, top: str, mode: str) -> None:
    src = tmp_path / "src"
    written = write_tree(src, {"b": ["2.png", "11.png"], "a": ["1.png"]})
    archive = tmp_path / ("data.tar.gz" if mode == "w:gz" else "data.tar")
    with tarfile.open(archive, mode) as tar:
        for cls in ("b", "a"):  # archive order differs from canonical order on purpose
            tar.add(src / cls, arcname=f"{top}/{cls}" if top else cls)
    ds = _load(archive)
    assert ds.info.classes == ("a", "b")
    np.testing.assert_array_equal(
        ds.images, np.stack([written[k] for k in ("a/1.png", "b/2.png", "b/11.png")])
    )
    np.testing.assert_array_equal(ds.labels, [0, 1, 1])


def test_mixed_sizes_name_a_file(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a": ["1.png"]}, size=(5, 4))
    write_tree(tmp_path, {"b": ["odd.png"]}, size=(6, 4))
    with pytest.raises(DataFormatError, match=r"odd\.png.*same size"):
        _load(tmp_path)


def test_undecodable_image_is_a_typed_error(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a": ["1.png"]})
    (tmp_path / "a" / "2.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match=r"2\.png"):
        _load(tmp_path)


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="nothing"):
        _load(tmp_path / "absent")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="no images"):
        _load(tmp_path / "empty")


def test_archive_with_images_at_several_depths_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src / "x", {"a": ["1.png"]})
    write_tree(src / "y" / "deeper", {"a": ["1.png"]})
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="top")
    with pytest.raises(DataFormatError, match="one top folder"):
        _load(archive)
