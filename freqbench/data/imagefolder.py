"""``imagefolder:PATH``: a class-per-folder image tree, on disk or inside a ``.tar``/``.tar.gz``.

Layout: ``PATH/<class>/<image>``. Classes are the sorted (``sorted()``, as torchvision's ``ImageFolder``
does, so class indices match models trained with it) names of the class folders; inside a class, files
are in natural order (``2.png`` before ``10.png``). The sample index is the position in that order,
class by class. Only files with an image extension (see ``IMAGE_EXTENSIONS``) count; hidden files and
other files are ignored.

An archive (``.tar``, ``.tar.gz``, ``.tgz``...) is read member by member without extracting; its tree may
sit under one top folder (``test/<class>/<image>``, as in the CIFAR-10 JPEG archive) or at the top.

Decoding: PIL. When every image is greyscale (PIL modes ``1``, ``L``, ``LA``) the dataset has one
channel (L); otherwise every image is converted to RGB (palette expanded, alpha dropped, greyscale
replicated to three channels, exactly as PIL's ``convert('RGB')``). All images must have the same size;
the first that differs is named in the error. Decoding runs in a thread pool (PIL releases the GIL).
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from freqbench.data.archives import iter_member_bytes
from freqbench.data.base import (
    DATASETS,
    ArrayDataset,
    DataFormatError,
    DataRequest,
    DatasetFactory,
    DatasetInfo,
)
from freqbench.errors import MissingDataError
from freqbench.registry import natural_key

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
_THREADED_ABOVE_BYTES = 32 << 10
_GREY_MODES = frozenset({"1", "L", "LA"})
Payload = Path | tuple[str, bytes]
"""An image file on disk, or (``archive!member`` name, bytes) read from an archive."""


def _is_image(name: str) -> bool:
    return not name.startswith(".") and PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def _ordered(
    entries: list[tuple[str, str, Payload]],
) -> tuple[tuple[str, ...], list[tuple[str, str, Payload]]]:
    """Sort (class, file name, payload) entries into canonical order; return classes and entries."""
    classes = tuple(sorted({c for c, _, _ in entries}))
    rank = {c: i for i, c in enumerate(classes)}
    return classes, sorted(entries, key=lambda e: (rank[e[0]], natural_key(e[1])))


def _scan_folder(root: Path) -> list[tuple[str, str, Payload]]:
    if not root.is_dir():
        raise MissingDataError(f"imagefolder: expected a folder or a tar archive at {root}, found nothing")
    entries: list[tuple[str, str, Payload]] = []
    for class_dir in root.iterdir():
        if not class_dir.is_dir() or class_dir.name.startswith("."):
            continue
        entries += [
            (class_dir.name, f.name, f) for f in class_dir.iterdir() if f.is_file() and _is_image(f.name)
        ]
    return entries


def _scan_archive(path: Path) -> list[tuple[str, str, Payload]]:
    members = [
        (PurePosixPath(name), data)
        for name, data in iter_member_bytes(path)
        if _is_image(name.split("/")[-1])
    ]
    tops = {p.parts[:-2] for p, _ in members}
    if len(tops) > 1:
        examples = sorted("/".join(t) or "." for t in tops)[:3]
        raise DataFormatError(
            f"{path}: images must sit at <top>/<class>/<image> under one top folder; found several levels "
            f"or tops, e.g. {examples}"
        )
    if any(len(p.parts) < 2 for p, _ in members):
        raise DataFormatError(f"{path}: found images outside class folders; expected <class>/<image>")
    return [(p.parts[-2], p.name, (f"{path}!{p}", data)) for p, data in members]


def _decode(payload: Payload) -> tuple[str, np.ndarray]:
    """(where, array): (H, W) uint8 for greyscale images, (H, W, 3) uint8 otherwise."""
    source: Path | io.BytesIO
    if isinstance(payload, Path):
        where, source = str(payload), payload
    else:
        where, data = payload
        source = io.BytesIO(data)
    try:
        with Image.open(source) as img:
            if img.mode in ("L", "RGB"):
                return where, np.asarray(img, dtype=np.uint8)
            out = img.convert("L") if img.mode in _GREY_MODES else img.convert("RGB")
            return where, np.asarray(out, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataFormatError(f"{where}: cannot decode image ({exc})") from exc


def _default_threads(payloads: list[Payload]) -> int:
    """Threads pay off only for images large enough that decoding (which releases the GIL) dominates
    the per-image Python overhead; 32x32 JPEGs decode faster serially (measured: 1.4 s serial vs 3.5 s
    with 2 threads for the 10,000 CIFAR-10 test JPEGs)."""
    sample = payloads[:: max(1, len(payloads) // 64)]
    sizes = [p.stat().st_size if isinstance(p, Path) else len(p[1]) for p in sample]
    return min(8, os.cpu_count() or 1) if np.mean(sizes) > _THREADED_ABOVE_BYTES else 1


def load_imagefolder(
    path: Path, *, threads: int | None = None
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Classes, uint8 images (N, H, W, C) and int64 labels (N,) of an image tree or archive.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: no images, an undecodable image, or images of different sizes.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise MissingDataError(f"imagefolder: expected a folder or a tar archive at {path}, found nothing")
    entries = _scan_archive(path) if path.is_file() else _scan_folder(path)
    if not entries:
        raise DataFormatError(
            f"{path}: found no images at <class>/<image> (extensions {sorted(IMAGE_EXTENSIONS)})"
        )
    classes, entries = _ordered(entries)
    payloads = [payload for _, _, payload in entries]
    workers = threads if threads is not None else _default_threads(payloads)
    if workers <= 1:
        decoded = [_decode(p) for p in payloads]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            decoded = list(pool.map(_decode, payloads, chunksize=64))
    ref_where, ref = decoded[0]
    for where, arr in decoded:
        if arr.shape[:2] != ref.shape[:2]:
            raise DataFormatError(
                f"{where}: image is {arr.shape[1]}x{arr.shape[0]} but {ref_where} is {ref.shape[1]}x"
                f"{ref.shape[0]}; all images of an imagefolder dataset must have the same size"
            )
    if all(arr.ndim == 2 for _, arr in decoded):
        images = np.stack([arr for _, arr in decoded])[..., None]
    else:
        images = np.stack(
            [arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2) for _, arr in decoded]
        )
    rank = {c: i for i, c in enumerate(classes)}
    labels = np.array([rank[c] for c, _, _ in entries], dtype=np.int64)
    return classes, images, labels


def imagefolder_factory(rest: str) -> DatasetFactory:
    """The ``DATASETS`` factory for ``imagefolder:<rest>``."""
    if not rest:
        raise MissingDataError(
            "imagefolder: expected imagefolder:PATH (a class-per-folder tree or a .tar.gz of one)"
        )

    def factory(request: DataRequest) -> ArrayDataset:
        path = Path(rest).expanduser()
        classes, images, labels = load_imagefolder(path)
        info = DatasetInfo(
            name=f"imagefolder:{rest}",
            split=request.split,
            num_classes=len(classes),
            classes=classes,
            source=str(path.resolve()),
        )
        return ArrayDataset(info, images, labels)

    return factory


DATASETS.register_prefix(
    "imagefolder",
    imagefolder_factory,
    help="imagefolder:PATH, a <class>/<image> tree or a .tar/.tar.gz holding one",
)
