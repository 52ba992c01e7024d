"""The released CIFAR-10-C / CIFAR-100-C files: reading them (``C_DATASETS``).

Reference: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019; data on Zenodo, record 2535967 (``CIFAR-10-C.tar``) and record 3555552
(``CIFAR-100-C.tar``); the tar md5s are the ones Zenodo lists for those files. Layout (REFERENCE.md
section 1)::

    CIFAR-10-C/<corruption>.npy   uint8 (5N, H, W, C), severity-major: rows (s-1)*N .. s*N-1 hold
                                  severity s, each block in the test-set order
    CIFAR-10-C/labels.npy         uint8 (5N,): the test labels repeated five times
    CIFAR-10-C/indices.npy        int64 (N,), optional (freqbench's own addition, never in the release):
                                  the sample index of each row in the full test set, strictly
                                  increasing; written by ``make-c --limit`` (absent: rows 0..N-1)

``C_DATASETS`` maps ``cifar10c`` / ``cifar100c`` to a factory ``(DataRequest, *, corruption, severity) ->
CBlock``. Files are memory-mapped (``np.load(mmap_mode='r')``) and opened once per process (cached by
path, modification and change times, size and inode), so a suite that walks the 75 conditions reads each
severity block once. Each :class:`CBlock` carries the identity of the bytes it reads (file size,
dtype, shape, rows and the sha256 of exactly those rows, cached by file stamp in
``$FREQBENCH_HOME/fingerprints``), which enters the result key: a run on other files under another
``--data-root``, or on files replaced in place, is evaluated again instead of being taken as stored.

The root is searched like a dataset (:mod:`freqbench.data.sources`): ``--data-root`` (the folder
holding ``CIFAR-10-C/``, or that folder itself, recognised by its ``labels.npy``), the cache
``datasets/cifar10c/``, then the Zenodo download.

:mod:`freqbench.data.cifar_c_writer` writes the same layout (``freqbench data make-c``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from freqbench.corruption_names import ALL, SEVERITIES
from freqbench.data.archives import extract_members
from freqbench.data.base import ArrayDataset, DataFormatError, DataRequest, DatasetInfo
from freqbench.data.cifar import CIFAR10, CIFAR100
from freqbench.data.sources import Report, Source, fetch_archive, import_archive, locate, register_source
from freqbench.errors import ConfigError, MissingDataError
from freqbench.registry import Registry
from freqbench.store.download import install_file, sha256_file
from freqbench.store.fingerprint import sha256_range

LABELS_FILE = "labels.npy"
INDICES_FILE = "indices.npy"
_NOT_CORRUPTIONS = frozenset({LABELS_FILE, INDICES_FILE})
#: the 19 corruption files of the release (15 benchmark + 4 extra), as named on Zenodo
RELEASED_CORRUPTIONS = tuple(sorted(ALL))

_C_FOLDERS = {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}


def c_folder_name(dataset: str) -> str:
    """The on-disk folder of a dataset's corrupted copy: ``CIFAR-10-C``, ``CIFAR-100-C``, ``<NAME>-C``.

    Other names are made file-system safe:
    ``imagefolder:data/test.tar.gz`` -> ``imagefolder_data_test.tar.gz-C``.
    """
    if dataset in _C_FOLDERS:
        return _C_FOLDERS[dataset]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset).strip("_") + "-C"


def _npy_stamp(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino


@functools.lru_cache(maxsize=128)
def _open_npy(key: tuple[str, int, int, int, int]) -> np.ndarray:
    path = key[0]
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: not a readable .npy array ({exc})") from exc


def open_npy(path: Path) -> np.ndarray:
    """Memory-map a ``.npy`` file, once per (path, mtime, ctime, size, inode)."""
    return _open_npy(_npy_stamp(path))


def block_fingerprint(path: Path, array: np.ndarray, rows: slice) -> dict[str, Any]:
    """Identity of rows ``rows`` of the memory-mapped ``.npy`` ``array`` read from ``path``.

    The file's size, the array's dtype and shape, the rows and the sha256 of exactly the bytes that hold
    those rows (cached by file stamp, :func:`freqbench.store.fingerprint.sha256_range`). A Fortran-order
    array, whose rows are not contiguous, is hashed whole.
    """
    n = array.shape[0]
    start, stop, _ = rows.indices(n)
    offset = getattr(array, "offset", None)
    if isinstance(offset, int) and array.flags.c_contiguous:
        row_bytes = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
        sha = sha256_range(path, offset + start * row_bytes, offset + stop * row_bytes)
    else:
        sha = sha256_range(path)
    return {
        "size": path.stat().st_size,
        "dtype": str(array.dtype),
        "shape": list(array.shape),
        "rows": [start, stop],
        "sha256": sha,
    }


def list_corruptions(folder: Path) -> list[str]:
    """The corruption files present in a C folder (``*.npy`` but labels and indices), sorted."""
    return sorted(p.stem for p in folder.glob("*.npy") if p.name not in _NOT_CORRUPTIONS)


def read_c_labels(folder: Path, *, num_classes: int) -> np.ndarray:
    """``labels.npy`` of a C folder, validated: integer (5N,), five identical severity blocks."""
    path = folder / LABELS_FILE
    labels = open_npy(path)
    if labels.ndim != 1 or labels.dtype.kind not in "ui" or len(labels) % len(SEVERITIES):
        raise DataFormatError(
            f"{path}: expected integer labels of shape (5N,), found {labels.dtype} {labels.shape}"
        )
    blocks = np.asarray(labels).reshape(len(SEVERITIES), -1)
    if not (blocks == blocks[0]).all():
        raise DataFormatError(
            f"{path}: the five severity blocks of labels differ; expected one label list x5"
        )
    if len(labels) and (blocks.min() < 0 or blocks.max() >= num_classes):
        raise DataFormatError(
            f"{path}: labels must lie in [0, {num_classes}), found [{blocks.min()}, {blocks.max()}]"
        )
    return labels


def read_c_indices(folder: Path, *, rows: int) -> np.ndarray | None:
    """``indices.npy`` of a C folder, validated: integer (rows,), strictly increasing, >= 0; or None."""
    path = folder / INDICES_FILE
    if not path.is_file():
        return None
    indices = np.asarray(open_npy(path))
    if indices.ndim != 1 or indices.dtype.kind not in "ui" or len(indices) != rows:
        raise DataFormatError(
            f"{path}: expected the integer sample indices of the {rows} rows per severity of "
            f"{LABELS_FILE}, found {indices.dtype} {indices.shape}"
        )
    if len(indices) and (indices[0] < 0 or (np.diff(indices.astype(np.int64)) <= 0).any()):
        raise DataFormatError(f"{path}: sample indices must be non-negative and strictly increasing")
    return indices.astype(np.int64)


def read_c_images(folder: Path, corruption: str, *, rows: int) -> np.ndarray:
    """``<corruption>.npy`` of a C folder, memory-mapped and validated: uint8 (rows, H, W, C)."""
    path = folder / f"{corruption}.npy"
    if not path.is_file():
        present = list_corruptions(folder) or "no corruptions"
        raise MissingDataError(f"{path}: corruption file not found; this folder holds {present}")
    images = open_npy(path)
    if (
        images.dtype != np.uint8
        or images.ndim != 4
        or images.shape[0] != rows
        or images.shape[-1] not in (1, 3)
    ):
        raise DataFormatError(
            f"{path}: expected uint8 ({rows}, H, W, 1 or 3) to match {LABELS_FILE}, "
            f"found {images.dtype} {images.shape}"
        )
    return images


@dataclass(frozen=True)
class CBlock:
    """One (corruption, severity) block of a released C dataset, in test-set order.

    Attributes:
        dataset: the block as an :class:`ArrayDataset` (images memory-mapped).
        corruption: corruption name.
        severity: 1..5.
        files: identity of the bytes the block is read from (:func:`block_fingerprint` of the images
            and of the labels): it enters the result key, so other files are never taken as stored.
    """

    dataset: ArrayDataset
    corruption: str
    severity: int
    files: Mapping[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> DatasetInfo:
        return self.dataset.info

    def __len__(self) -> int:
        return len(self.dataset)

    def subset(self, limit: int | None) -> CBlock:
        """The same subset as :meth:`ArrayDataset.subset`."""
        return CBlock(self.dataset.subset(limit), self.corruption, self.severity, self.files)

    def rows_of(self, indices: np.ndarray) -> np.ndarray:
        """The rows of the block holding the samples whose stable sample indices are ``indices``.

        Raises:
            MissingDataError: a sample is not in the files (they were made with ``make-c --limit``
                for a smaller subset, or belong to a smaller dataset).
        """
        want = np.asarray(indices, dtype=np.int64)
        held = self.dataset.indices
        rows = np.searchsorted(held, want)
        found = rows < len(held)
        found[found] = held[rows[found]] == want[found]
        if not found.all():
            missing = want[~found]
            kind = "written by `make-c --limit`" if self.dataset.index is not None else "rows"
            raise MissingDataError(
                f"{self.info.source}: holds {len(held)} samples per severity ({kind}); sample index "
                f"{int(missing[0])} ({len(missing)} of this batch) is not among them. Run with the "
                "--limit the files were made with (or a smaller one), or make them without --limit"
            )
        return rows

    def batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [0, 1] and int64 labels of the samples with stable sample ``indices``.

        The released files hold samples 0..N-1 in order; a folder with ``indices.npy`` holds the
        samples it names (:meth:`rows_of`).

        Shape:
            returns (B, C, H, W) float32, (B,) int64.
        """
        return self.dataset.batch(self.rows_of(indices))


CBlockFactory = Callable[..., CBlock]
C_DATASETS: Registry[CBlockFactory] = Registry("dataset")


@dataclass(frozen=True)
class CRelease:
    """A released C dataset: names, Zenodo source and the clean dataset's classes."""

    name: str
    folder: str
    url: str
    archive: str
    archive_md5: str
    classes: tuple[str, ...]


class CSource(Source):
    """Locating, downloading and importing a C folder (the files are read by :func:`open_c_block`)."""

    splits = ("test",)
    replaces_whole = True  # labels, indices and corruption files only make sense together

    def __init__(self, release: CRelease) -> None:
        self.release = release
        self.name = release.name
        self.classes = release.classes
        self.accepts = f"{release.archive} or a folder holding {release.folder}/"

    def find(self, folder: Path, split: str) -> Path | None:
        for candidate in (folder / self.release.folder, folder):
            if (candidate / LABELS_FILE).is_file():
                return candidate
        return None

    def expected(self, folder: Path, split: str) -> list[Path]:
        return [folder / self.release.folder / LABELS_FILE]

    def _members(self, dest: Path) -> dict[str, Path]:
        f = self.release.folder
        names = (*RELEASED_CORRUPTIONS, "labels")
        return {f"{f}/{n}.npy": dest / f / f"{n}.npy" for n in names}

    def fetch(self, dest: Path, split: str, *, progress: bool = True) -> None:
        r = self.release
        extract = partial(extract_members, wanted=self._members(dest))
        fetch_archive(r.url, dest / r.archive, extract, md5=r.archive_md5, progress=progress)

    def import_from(self, path: Path, dest: Path, *, report: Report) -> list[Path]:
        r = self.release
        path = Path(path)
        if path.is_file():
            extract = partial(extract_members, wanted=self._members(dest))
            return import_archive(
                path, extract, report=report, what=f"Zenodo's {r.archive}", md5=r.archive_md5
            )
        folder = self.find(path, "test")
        if folder is None:
            raise MissingDataError(
                f"{path}: expected {r.archive} or a folder holding {r.folder}/{LABELS_FILE}"
            )
        labels = read_c_labels(folder, num_classes=len(self.classes))
        has_indices = read_c_indices(folder, rows=len(labels) // len(SEVERITIES)) is not None
        corruptions = list_corruptions(folder)
        if not corruptions:
            raise MissingDataError(f"{folder}: holds {LABELS_FILE} but no <corruption>.npy files")
        written = []
        for name in (*corruptions, "labels", *(["indices"] if has_indices else [])):
            src = folder / f"{name}.npy"
            if f"{name}.npy" not in _NOT_CORRUPTIONS:
                read_c_images(folder, name, rows=len(labels))
            written.append(install_file(src, dest / r.folder / src.name, sha256=sha256_file(src)))
            report(f"checked the format of {src}")
        return written


def open_c_block(source: CSource, request: DataRequest, *, corruption: str, severity: int) -> CBlock:
    """Open one (corruption, severity) block of a released C dataset.

    Raises:
        ConfigError: severity outside 1..5.
        MissingDataError: the C folder or the corruption file is missing.
        DataFormatError: wrong shapes or dtypes.
    """
    if severity not in SEVERITIES:
        raise ConfigError(f"severity must be one of {list(SEVERITIES)}, got {severity}")
    found = locate(source, request)
    labels = read_c_labels(found.path, num_classes=len(source.classes))
    images = read_c_images(found.path, corruption, rows=len(labels))
    n = len(labels) // len(SEVERITIES)
    indices = read_c_indices(found.path, rows=n)
    rows = slice((severity - 1) * n, severity * n)
    info = DatasetInfo(
        name=source.name,
        split="test",
        num_classes=len(source.classes),
        classes=source.classes,
        source=f"{found.path / f'{corruption}.npy'} ({found.origin})",
    )
    dataset = ArrayDataset(info, images[rows], np.asarray(labels[rows], dtype=np.int64), indices)
    files = {
        "images": block_fingerprint(found.path / f"{corruption}.npy", images, rows),
        "labels": block_fingerprint(found.path / LABELS_FILE, labels, rows),
    }
    if indices is not None:  # which samples the rows are decides the result too
        index_file = found.path / INDICES_FILE
        files["indices"] = block_fingerprint(index_file, open_npy(index_file), slice(None))
    return CBlock(dataset, corruption, severity, files)


def _c_block_factory(source: CSource) -> CBlockFactory:
    def factory(request: DataRequest, *, corruption: str, severity: int) -> CBlock:
        return open_c_block(source, request, corruption=corruption, severity=severity)

    factory.__doc__ = f"Open a (corruption, severity) block of {source.release.folder}."
    return factory


CIFAR10C = CRelease(
    name="cifar10c",
    folder="CIFAR-10-C",
    url="https://zenodo.org/records/2535967/files/CIFAR-10-C.tar?download=1",
    archive="CIFAR-10-C.tar",
    archive_md5="56bf5dcef84df0e2308c6dcbcbbd8499",
    classes=CIFAR10.classes,
)
CIFAR100C = CRelease(
    name="cifar100c",
    folder="CIFAR-100-C",
    url="https://zenodo.org/records/3555552/files/CIFAR-100-C.tar?download=1",
    archive="CIFAR-100-C.tar",
    archive_md5="11f0ed0f1191edbf9fa23466ae6021d3",
    classes=CIFAR100.classes,
)
for _release in (CIFAR10C, CIFAR100C):
    C_DATASETS.register(_release.name, _c_block_factory(register_source(CSource(_release))))
