"""Writing a C dataset in the released CIFAR-10-C layout (``freqbench data make-c``).

The layout is the one :mod:`freqbench.data.cifar_c` reads (REFERENCE.md section 1). :class:`CWriter`
and :func:`write_c_dataset` write it one severity block at a time through
``np.lib.format.open_memmap``; a corruption file appears under its final name only once its five
severities are written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import numpy as np

from freqbench.corruption_names import SEVERITIES
from freqbench.data.cifar_c import _NOT_CORRUPTIONS, INDICES_FILE, LABELS_FILE
from freqbench.errors import ConfigError
from freqbench.store.files import atomic_write_via, commit_file, temporary_sibling


class CWriter:
    """Write a C dataset in the released layout, one (corruption, severity) block at a time.

    Each corruption file is a ``np.lib.format.open_memmap`` of shape (5N, H, W, C) under a hidden
    temporary name; it is renamed to ``<corruption>.npy`` once its five severities are written, so only
    one block is ever held in memory by the caller and a crash leaves no complete-looking file.
    ``indices`` (the stable sample index of each row) is written to ``indices.npy`` unless it is
    ``0..N-1``, the released layout's implicit order; a stale ``indices.npy`` is removed.

    Example:
        >>> import tempfile
        >>> labels = np.array([3, 1])
        >>> with tempfile.TemporaryDirectory() as d, CWriter(Path(d), labels, folder="X-C") as w:
        ...     for s in SEVERITIES:
        ...         w.write("contrast", s, np.full((2, 4, 4, 3), s, np.uint8))
        ...     sorted(p.name for p in w.folder.iterdir())
        ['contrast.npy', 'labels.npy']
    """

    def __init__(
        self,
        out_dir: Path,
        labels: np.ndarray,
        *,
        folder: str = "CIFAR-10-C",
        indices: np.ndarray | None = None,
    ) -> None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.dtype.kind not in "ui" or len(labels) == 0:
            raise ConfigError(
                f"labels must be a non-empty 1-D integer array, got {labels.dtype} {labels.shape}"
            )
        if labels.min() < 0 or labels.max() > 255:
            raise ConfigError(
                f"the released layout stores labels as uint8; got labels in [{labels.min()}, {labels.max()}]"
            )
        if indices is not None:
            indices = np.asarray(indices)
            if (
                indices.shape != labels.shape
                or indices.dtype.kind not in "ui"
                or indices[0] < 0
                or (np.diff(indices.astype(np.int64)) <= 0).any()
            ):
                raise ConfigError(
                    f"indices must be {len(labels)} strictly increasing sample indices >= 0, got "
                    f"{indices.dtype} {indices.shape}"
                )
        self.folder = Path(out_dir) / folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.num_samples = len(labels)
        self._pending: dict[str, tuple[np.memmap, Path, set[int]]] = {}
        self._closed = False
        tiled = np.tile(labels.astype(np.uint8), len(SEVERITIES))
        atomic_write_via(self.folder / LABELS_FILE, lambda f: np.save(f, tiled))
        if indices is None or np.array_equal(indices, np.arange(len(labels))):
            (self.folder / INDICES_FILE).unlink(missing_ok=True)
        else:
            kept = indices.astype(np.int64)
            atomic_write_via(self.folder / INDICES_FILE, lambda f: np.save(f, kept))

    def write(self, corruption: str, severity: int, block: np.ndarray) -> None:
        """Write the (N, H, W, C) uint8 images of one severity of one corruption."""
        if self._closed:
            raise ConfigError("CWriter is closed")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", corruption) or f"{corruption}.npy" in _NOT_CORRUPTIONS:
            raise ConfigError(
                f"corruption name must be a plain file name other than 'labels' and 'indices', "
                f"got {corruption!r}"
            )
        if severity not in SEVERITIES:
            raise ConfigError(f"severity must be one of {list(SEVERITIES)}, got {severity}")
        block = np.asarray(block)
        if block.dtype != np.uint8 or block.ndim != 4 or block.shape[0] != self.num_samples:
            raise ConfigError(
                f"{corruption}@{severity}: expected uint8 ({self.num_samples}, H, W, C), "
                f"got {block.dtype} {block.shape}"
            )
        if corruption not in self._pending:
            tmp = temporary_sibling(self.folder / f"{corruption}.npy")
            shape = (len(SEVERITIES) * self.num_samples, *block.shape[1:])
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            self._pending[corruption] = (mm, tmp, set())
        mm, tmp, done = self._pending[corruption]
        if mm.shape[1:] != block.shape[1:]:
            raise ConfigError(
                f"{corruption}@{severity}: image shape {block.shape[1:]}, earlier blocks {mm.shape[1:]}"
            )
        n = self.num_samples
        mm[(severity - 1) * n : severity * n] = block
        done.add(severity)
        if done == set(SEVERITIES):
            mm.flush()
            del self._pending[corruption], mm
            try:
                commit_file(tmp, self.folder / f"{corruption}.npy")
            finally:
                tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the temporary files of unfinished corruptions."""
        for _, tmp, _ in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending.clear()
        self._closed = True

    def close(self) -> None:
        """Finish; raise :class:`ConfigError` (and discard them) if some corruption lacks severities."""
        unfinished = {c: sorted(set(SEVERITIES) - done) for c, (_, _, done) in self._pending.items()}
        self.discard()
        if unfinished:
            raise ConfigError(f"severities never written (files discarded): {unfinished}")

    def __enter__(self) -> CWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def write_c_dataset(
    out_dir: Path,
    corrupted: Mapping[str, np.ndarray],
    labels: np.ndarray,
    *,
    folder: str = "CIFAR-10-C",
    indices: np.ndarray | None = None,
) -> Path:
    """Write whole corruption arrays (5N, H, W, C) uint8, severity-major, in the released layout.

    Args:
        out_dir: parent folder; files go to ``out_dir/folder``.
        corrupted: corruption name -> (5N, H, W, C) uint8 array, rows (s-1)*N .. s*N-1 = severity s.
        labels: (N,) labels of the clean images (stored as uint8 repeated five times).
        folder: folder name (see :func:`freqbench.data.cifar_c.c_folder_name`).
        indices: (N,) stable sample indices of the rows (see :class:`CWriter`).

    Returns:
        ``out_dir/folder``.
    """
    n = len(labels)
    with CWriter(out_dir, labels, folder=folder, indices=indices) as writer:
        for name, array in corrupted.items():
            if array.shape[0] != len(SEVERITIES) * n:
                raise ConfigError(
                    f"{name}: expected {len(SEVERITIES) * n} rows (5 x {n} labels), got {array.shape}"
                )
            for s in SEVERITIES:
                writer.write(name, s, array[(s - 1) * n : s * n])
    return writer.folder
