"""CIFAR-10 and CIFAR-100 from the official "python version" release (Krizhevsky, 2009).

Format (https://www.cs.toronto.edu/~kriz/cifar.html): Python 2 pickles of dicts. CIFAR-10 has
``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` (keys ``b'data'``: uint8 (10000, 3072), rows
holding the red, green and blue 32x32 planes in turn; ``b'labels'``: list of ints) and ``batches.meta``
(``b'label_names'``). CIFAR-100 has ``cifar-100-python/train``, ``test`` (``b'data'``, ``b'fine_labels'``,
``b'coarse_labels'``) and ``meta`` (``b'fine_label_names'``); freqbench uses the 100 fine labels.
Canonical order: the batches in release order, rows in file order.

The pickles are read with a restricted unpickler that only rebuilds numpy arrays, so a tampered file
cannot run code. Checksums: the archive sha256 and the per-file md5s are the ones published for the
release (md5s on the CIFAR page and in torchvision's ``cifar.py``; sha256 as pinned by Keras'
``cifar10.py`` / ``cifar100.py``). They are checked on download and import; reading validates the format.

A location is one of: ``<dir>/cifar-10-batches-py/``, that folder itself, or the official tarball
``cifar-10-python.tar.gz`` (read member by member, not extracted).
"""

from __future__ import annotations

import codecs
import io
import pickle
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from numpy._core.multiarray import _reconstruct

from freqbench.data.archives import extract_members, iter_member_bytes
from freqbench.data.base import DATASETS, DataFormatError
from freqbench.data.sources import (
    ArraySource,
    Report,
    fetch_archive,
    import_archive,
    register_source,
    source_factory,
)
from freqbench.errors import MissingDataError
from freqbench.store.download import install_file

_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 pickles bytes at protocol 2
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch") from None


def read_batch_pickle(data: bytes, *, where: str) -> dict[str, object]:
    """Unpickle one CIFAR file (Python 2 or 3 pickle) to a dict with ``str`` keys.

    Raises:
        DataFormatError: not a pickle of a dict, or it references anything but numpy arrays.
    """
    try:
        obj = _ArrayOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # a corrupt pickle can raise almost anything
        raise DataFormatError(f"{where}: not a CIFAR python-format pickle ({exc})") from exc
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected a pickled dict, found {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def decode_batch(
    batch: dict[str, object], *, label_key: str, num_classes: int, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64 of one decoded batch dict."""
    data, labels = batch.get("data"), batch.get(label_key)
    if data is None or labels is None:
        raise DataFormatError(f"{where}: expected keys 'data' and {label_key!r}, found {sorted(batch)}")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFormatError(f"{where}: 'data' must be uint8 (N, 3072), found {data.dtype} {data.shape}")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (len(data),):
        raise DataFormatError(f"{where}: {len(data)} images but {y.shape} {label_key!r}")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DataFormatError(f"{where}: labels must lie in [0, {num_classes}), found [{y.min()}, {y.max()}]")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), y


@dataclass(frozen=True)
class CifarRelease:
    """One official CIFAR release: file names, keys, class names and pinned checksums."""

    name: str
    folder: str
    archive: str
    url: str
    archive_sha256: str
    split_files: dict[str, tuple[str, ...]]
    meta_file: str
    label_key: str
    names_key: str
    classes: tuple[str, ...]
    md5: dict[str, str]


class CifarSource(ArraySource):
    """A CIFAR release in the official python format (folder or tarball)."""

    def __init__(self, release: CifarRelease) -> None:
        self.release = release
        self.name = release.name
        self.classes = release.classes
        self.accepts = f"{release.archive} or a folder holding {release.folder}/"

    # locating ---------------------------------------------------------------------------------
    def _has_split(self, folder: Path, split: str) -> bool:
        return all((folder / f).is_file() for f in self.release.split_files[split])

    def find(self, folder: Path, split: str) -> Path | None:
        r = self.release
        if folder.is_file():
            return folder if folder.name == r.archive else None
        for candidate in (folder / r.folder, folder):
            if candidate.is_dir() and self._has_split(candidate, split):
                return candidate
        if (folder / r.archive).is_file():
            return folder / r.archive
        return None

    def expected(self, folder: Path, split: str) -> list[Path]:
        r = self.release
        return [folder / r.folder / f for f in r.split_files[split]] + [folder / r.archive]

    # loading ----------------------------------------------------------------------------------
    def _file_bytes(self, location: Path, names: tuple[str, ...]) -> dict[str, bytes]:
        r = self.release
        if location.is_dir():
            return {n: (location / n).read_bytes() for n in names if (location / n).is_file()}
        members = {f"{r.folder}/{n}": n for n in names}
        return {members[m]: data for m, data in iter_member_bytes(location, set(members))}

    def load(self, location: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
        r = self.release
        wanted = (*r.split_files[split], r.meta_file)
        contents = self._file_bytes(location, wanted)
        missing = [n for n in r.split_files[split] if n not in contents]
        if missing:
            raise DataFormatError(f"{location}: CIFAR files {missing} missing (expected {r.folder}/...)")
        if r.meta_file in contents:
            self._check_meta(read_batch_pickle(contents[r.meta_file], where=f"{location}:{r.meta_file}"))
        parts = [
            decode_batch(
                read_batch_pickle(contents[n], where=f"{location}:{n}"),
                label_key=r.label_key,
                num_classes=len(r.classes),
                where=f"{location}:{n}",
            )
            for n in r.split_files[split]
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _check_meta(self, meta: dict[str, object]) -> None:
        names = meta.get(self.release.names_key)
        items = names if isinstance(names, (list, tuple)) else []
        decoded = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in items)
        if decoded != self.classes:
            raise DataFormatError(
                f"{self.release.meta_file}: {self.release.names_key!r} is {list(decoded)[:5]}..., expected "
                f"the official {self.name} classes {list(self.classes)[:5]}...; this is not {self.name}"
            )

    # getting it into the cache ----------------------------------------------------------------
    def _all_files(self) -> tuple[str, ...]:
        r = self.release
        return (*r.split_files["train"], *r.split_files["test"], r.meta_file)

    def _extract_archive(self, archive: Path, dest: Path) -> list[Path]:
        r = self.release
        names = self._all_files()
        return extract_members(
            archive,
            {f"{r.folder}/{n}": dest / r.folder / n for n in names},
            md5={f"{r.folder}/{n}": r.md5[n] for n in names},
        )

    def fetch(self, dest: Path, split: str, *, progress: bool = True) -> None:
        r = self.release
        extract = partial(self._extract_archive, dest=dest)
        fetch_archive(r.url, dest / r.archive, extract, sha256=r.archive_sha256, progress=progress)

    def import_from(self, path: Path, dest: Path, *, report: Report) -> list[Path]:
        r = self.release
        path = Path(path)
        if path.is_file():
            extract = partial(self._extract_archive, dest=dest)
            what = f"the official {r.archive}"
            return import_archive(path, extract, report=report, what=what, sha256=r.archive_sha256)
        folder = path / r.folder if (path / r.folder).is_dir() else path
        present = [n for n in self._all_files() if (folder / n).is_file()]
        if not any(self._has_split(folder, s) for s in self.splits):
            raise MissingDataError(
                f"{path}: expected {r.archive} or a folder holding {r.folder}/ with "
                f"{list(r.split_files['test'])} (and/or the train files), found none of them"
            )
        written = []
        for n in present:
            written.append(install_file(folder / n, dest / r.folder / n, md5=r.md5[n]))
            report(f"verified the md5 of {folder / n} (the official {r.folder}/{n})")
        return written


CIFAR10 = CifarRelease(
    name="cifar10",
    folder="cifar-10-batches-py",
    archive="cifar-10-python.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    archive_sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    split_files={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
    meta_file="batches.meta",
    label_key="labels",
    names_key="label_names",
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    md5={
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
    },
)

_CIFAR100_CLASSES = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard
lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree
pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal
shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank
telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"""

CIFAR100 = CifarRelease(
    name="cifar100",
    folder="cifar-100-python",
    archive="cifar-100-python.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    archive_sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
    split_files={"train": ("train",), "test": ("test",)},
    meta_file="meta",
    label_key="fine_labels",
    names_key="fine_label_names",
    classes=tuple(_CIFAR100_CLASSES.split()),
    md5={
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
        "meta": "7973b15100ade9c7d40fb424638fde48",
    },
)

for _release in (CIFAR10, CIFAR100):
    DATASETS.register(_release.name, source_factory(register_source(CifarSource(_release))))
