"""16-bit and other wide PNG/TIFF images in ``imagefolder:`` (issue 7, item 6).

16-bit greyscale PNGs are written two ways, by PIL from a uint16 array and by a hand-rolled PNG
encoder (IHDR bit depth 16, colour type 0, big-endian samples; zlib + CRC from the PNG spec), so the
decoder is checked against files it did not write itself. Expected pixels are ``np.round(v / 257)``
(the exact map of 0..65535 onto 0..255), computed here independently of the loader.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from freqbench.data import DATASETS, DataFormatError, DataRequest
from freqbench.data.imagefolder import grey16_to_uint8


def _load(path: Path):
    return DATASETS.get(f"imagefolder:{path}")(DataRequest())


def write_png16(path: Path, values: np.ndarray, *, color_type: int = 0) -> None:
    """A 16-bit PNG from scratch: colour type 0 (grey, (H, W)) or 2 (RGB, (H, W, 3))."""
    h, w = values.shape[:2]
    raw = b"".join(b"\x00" + values[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def _grey16(seed: int, shape=(4, 6)) -> np.ndarray:
    v = np.random.default_rng(seed).integers(0, 65536, shape, dtype=np.int64)
    v.flat[:6] = [0, 128, 129, 32896, 65407, 65535]  # edges of the rounding and of the range
    return v.astype(np.uint16)


def test_16_bit_grey_pngs_scale_to_uint8_not_saturate(tmp_path: Path) -> None:
    a, b = _grey16(0), _grey16(1)
    (tmp_path / "x").mkdir()
    Image.fromarray(a).save(tmp_path / "x" / "0.png")  # PIL writes it as 16-bit (mode I;16)
    write_png16(tmp_path / "y" / "0.png", b)
    with Image.open(tmp_path / "x" / "0.png") as im:
        assert im.mode.startswith("I")  # really a 16-bit file
        saturated = np.asarray(im.convert("L"))
    assert (saturated == 255).mean() > 0.75  # what a plain convert('L') gives: the bug being fixed
    ds = _load(tmp_path)
    assert ds.images.shape == (2, 4, 6, 1)  # greyscale stays one channel
    np.testing.assert_array_equal(ds.images[0, ..., 0], np.round(a / 257).astype(np.uint8))
    np.testing.assert_array_equal(ds.images[1, ..., 0], np.round(b / 257).astype(np.uint8))
    assert ds.images[0, 0, :6, 0].tolist() == [0, 0, 1, 128, 255, 255]


def test_16_bit_grey_beside_colour_is_replicated(tmp_path: Path) -> None:
    v = _grey16(2)
    write_png16(tmp_path / "a" / "0.png", v)
    rgb = np.random.default_rng(3).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    (tmp_path / "b").mkdir()
    Image.fromarray(rgb).save(tmp_path / "b" / "0.png")
    ds = _load(tmp_path)
    assert ds.images.shape == (2, 4, 6, 3)
    expected = np.round(v / 257).astype(np.uint8)
    for ch in range(3):
        np.testing.assert_array_equal(ds.images[0, ..., ch], expected)
    np.testing.assert_array_equal(ds.images[1], rgb)


def test_16_bit_colour_png_is_read_by_pil_high_byte(tmp_path: Path) -> None:
    v = np.random.default_rng(4).integers(0, 65536, (3, 4, 3)).astype(np.uint16)
    write_png16(tmp_path / "a" / "0.png", v, color_type=2)
    ds = _load(tmp_path)
    np.testing.assert_array_equal(ds.images[0], (v >> 8).astype(np.uint8))
    assert np.abs(ds.images[0].astype(int) - np.round(v / 257)).max() <= 1


@pytest.mark.parametrize(
    ("array", "suffix"),
    [(np.array([[0, 70000]], dtype=np.int32), ".tif"), (np.array([[0.0, 0.5]], dtype=np.float32), ".tif")],
    ids=["int32-tiff", "float-tiff"],
)
def test_images_without_a_defined_range_are_refused(tmp_path: Path, array: np.ndarray, suffix: str) -> None:
    (tmp_path / "a").mkdir()
    Image.fromarray(array).save(tmp_path / "a" / f"0{suffix}")
    with pytest.raises(DataFormatError, match=r"0\.tif: PIL mode '(I|F)'.*no defined value range"):
        _load(tmp_path)


def test_grey16_to_uint8_matches_rounding_everywhere() -> None:
    v = np.arange(65536)
    np.testing.assert_array_equal(grey16_to_uint8(v), np.round(v / 257).astype(np.uint8))
    with pytest.raises(DataFormatError, match="65535"):
        grey16_to_uint8(np.array([70000]))
