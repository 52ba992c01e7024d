"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).

An IDX file is: two zero bytes, a type code (``0x08`` = unsigned byte, the only one these datasets
use), the number of dimensions ``d``, then ``d`` big-endian uint32 sizes, then the data in C order.
Image files are ``idx3`` (N, rows, cols), label files ``idx1`` (N,). Files may be gzip-compressed; a
file is treated as gzip when it starts with the gzip magic ``1f 8b``, whatever its name.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from freqbench.data.base import DataFormatError

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the gzip magic ``1f 8b``."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def read_bytes(path: Path) -> bytes:
    """The decompressed content of a raw or gzip-compressed file.

    Raises:
        DataFormatError: the gzip stream is corrupt or truncated.
    """
    data = Path(path).read_bytes()
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def content_sha256(path: Path) -> str:
    """sha256 of the decompressed content (so recompressed ``.gz`` files verify like the originals)."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


def parse_idx(data: bytes, *, where: str) -> np.ndarray:
    """Decode IDX bytes into a read-only uint8 array of the declared shape.

    Raises:
        DataFormatError: wrong magic, unsupported type code or a size that disagrees with the header.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataFormatError(f"{where}: not an IDX file (expected two zero bytes, found {data[:4]!r})")
    if data[2] != _UBYTE:
        raise DataFormatError(f"{where}: IDX type code 0x{data[2]:02x}, expected 0x08 (unsigned byte)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataFormatError(f"{where}: IDX header declares {ndim} dimensions but is truncated")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    size = math.prod(shape)
    if len(data) != header + size:
        raise DataFormatError(
            f"{where}: IDX header declares shape {shape} ({header + size} bytes), file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: Path) -> np.ndarray:
    """Read a raw or gzip-compressed IDX file."""
    return parse_idx(read_bytes(path), where=str(path))
