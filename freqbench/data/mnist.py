"""MNIST and Fashion-MNIST from their four IDX files (raw or ``.gz``).

Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte`` (each optionally ``.gz``). Canonical order: file order. Images come out as
(N, 28, 28, 1) uint8.

Checksums are pinned on the *decompressed* IDX content (sha256), because Debian's
``dataset-fashion-mnist`` recompressed the ``.gz`` files (their bytes differ from upstream, their content
does not). The values are those published with the upstream files and used by other projects (e.g.
``storage.googleapis.com/cvdf-datasets`` mirrors); the Fashion-MNIST ones also match the Debian files on
this machine. Downloads are additionally checked against the sha256 of the upstream ``.gz`` files.

Sources: MNIST from the PyTorch mirror ``ossci-datasets.s3.amazonaws.com/mnist`` (LeCun's site no
longer serves the files), then Google's ``cvdf-datasets`` mirror; Fashion-MNIST from Zalando's GitHub
repository, then its S3 bucket.

A location is a folder holding the files of the split, or one of its usual subfolders (``mnist/``,
``MNIST/raw/``, ``fashion-mnist/``, ``FashionMNIST/raw/``: torchvision's layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from freqbench.data.base import DATASETS, DataFormatError
from freqbench.data.idx import content_sha256, is_gzip, read_idx
from freqbench.data.sources import SOURCES, ArraySource, Report, register_source, source_factory
from freqbench.errors import ChecksumError, MissingDataError
from freqbench.store.download import download, install_file, sha256_file

_SPLIT_FILES = {
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class IdxRelease:
    """One IDX dataset: names, class names, mirrors and pinned checksums."""

    name: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    gz_sha256: dict[str, str]
    content_sha256: dict[str, str]
    subdirs: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()


def _file(folder: Path, base: str) -> Path | None:
    for candidate in (folder / base, folder / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


class IdxSource(ArraySource):
    """An MNIST-style dataset stored as IDX files."""

    def __init__(self, release: IdxRelease) -> None:
        self.release = release
        self.name = release.name
        self.classes = release.classes
        self.system_dirs = release.system_dirs
        self.accepts = "a folder holding the IDX files (raw or .gz), or the files themselves"

    def _candidates(self, folder: Path) -> list[Path]:
        return [folder, *(folder / s for s in self.release.subdirs)]

    def find(self, folder: Path, split: str) -> Path | None:
        for candidate in self._candidates(folder):
            if candidate.is_dir() and all(_file(candidate, b) for b in _SPLIT_FILES[split]):
                return candidate
        return None

    def expected(self, folder: Path, split: str) -> list[Path]:
        return [folder / f"{b}[.gz]" for b in _SPLIT_FILES[split]]

    def load(self, location: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
        image_base, label_base = _SPLIT_FILES[split]
        image_file, label_file = _file(location, image_base), _file(location, label_base)
        if image_file is None or label_file is None:
            raise MissingDataError(f"{location}: expected {image_base}[.gz] and {label_base}[.gz]")
        images, labels = read_idx(image_file), read_idx(label_file)
        if images.ndim != 3:
            raise DataFormatError(f"{image_file}: expected an idx3 image file, found shape {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataFormatError(
                f"{label_file}: expected {len(images)} labels (idx1), found shape {labels.shape}"
            )
        if len(labels) and labels.max() >= len(self.classes):
            raise DataFormatError(f"{label_file}: label {labels.max()} >= {len(self.classes)} classes")
        return images[..., None], labels.astype(np.int64)

    def _verify_content(self, path: Path, base: str) -> None:
        want = self.release.content_sha256[base]
        got = content_sha256(path)
        if got != want:
            raise ChecksumError(
                f"{path}: sha256 of the decompressed content is {got}, expected {want} "
                f"(the official {self.name} {base}); it is corrupt or another dataset"
            )

    def fetch(self, dest: Path, split: str, *, progress: bool = True) -> None:
        for base in _SPLIT_FILES[split]:
            target = dest / f"{base}.gz"
            errors = []
            for mirror in self.release.mirrors:
                try:
                    download(
                        mirror + f"{base}.gz", target, sha256=self.release.gz_sha256[base], progress=progress
                    )
                    break
                except MissingDataError as exc:
                    errors.append(str(exc))
            else:
                raise MissingDataError("; ".join(errors))
            try:
                self._verify_content(target, base)
            except ChecksumError:
                target.unlink(missing_ok=True)
                raise

    def import_from(self, path: Path, dest: Path, *, report: Report) -> list[Path]:
        """Import a folder holding the IDX files of a split (or its usual subfolders), or one IDX file.

        A folder's files are recognised by name and verified against the pinned content sha256 of
        that name; a single file, whatever its name, is recognised by its content sha256.
        """
        path = Path(path)
        if path.is_file():
            return [self._import_file(path, dest, report=report)]
        folder = next((c for c in self._candidates(path) if any(self.find(c, s) for s in self.splits)), None)
        if folder is None:
            wanted = [f"{b}[.gz]" for files in _SPLIT_FILES.values() for b in files]
            raise MissingDataError(
                f"{path}: expected a folder holding the IDX files of a split, or one of the files: {wanted}"
            )
        written = []
        for files in _SPLIT_FILES.values():
            for base in files:
                src = _file(folder, base)
                if src is not None:
                    written.append(self._import_file(src, dest, report=report, base=base))
        return written

    def _import_file(self, src: Path, dest: Path, *, report: Report, base: str | None = None) -> Path:
        """Verify one IDX file's decompressed content (as ``base``, or as whichever file it matches)."""
        if base is None:
            got = content_sha256(src)
            base = next((b for b, sha in self.release.content_sha256.items() if sha == got), None)
            if base is None:
                elsewhere = [
                    f"{s.name}'s {b}"
                    for s in (SOURCES.get(n) for n in SOURCES.names())
                    if isinstance(s, IdxSource) and s is not self
                    for b, sha in s.release.content_sha256.items()
                    if sha == got
                ]
                what = f"it is {elsewhere[0]}" if elsewhere else "it is corrupt or another dataset"
                raise ChecksumError(
                    f"{src}: the sha256 of its decompressed content is {got}, which is none of the four "
                    f"official {self.name} IDX files {sorted(self.release.content_sha256)}; {what}"
                )
        else:
            self._verify_content(src, base)
        target = dest / (f"{base}.gz" if is_gzip(src) else base)
        written = install_file(src, target, sha256=sha256_file(src))
        report(f"verified the sha256 of the content of {src} (the official {self.name} {base})")
        return written


FASHION_MNIST = IdxRelease(
    name="fashion_mnist",
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    mirrors=(
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    gz_sha256={
        "train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    content_sha256={
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    subdirs=("fashion_mnist", "fashion-mnist", "FashionMNIST/raw"),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
)

MNIST = IdxRelease(
    name="mnist",
    classes=tuple(str(d) for d in range(10)),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    gz_sha256={
        "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    content_sha256={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    subdirs=("mnist", "MNIST/raw"),
)

for _release in (FASHION_MNIST, MNIST):
    DATASETS.register(_release.name, source_factory(register_source(IdxSource(_release))))
