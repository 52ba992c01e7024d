"""The command that reads a ``make-c`` output folder back: which C dataset suite, which ``--data-root``.

A run takes one ``--data-root`` for both the clean dataset and the C dataset files, and the C dataset
(:class:`~freqbench.data.cifar_c.CSource`) finds a C folder only as ``ROOT/CIFAR-10-C`` (its release
folder name) or as ``ROOT`` itself. :func:`read_back_command` therefore works out, from what was actually
written, a root under which the *same* clean dataset that ``make-c`` read and the written folder are
both found, and prints the whole command (suite, dataset, corruptions, ``--limit``):

1. ``--data-root`` of ``make-c`` when the written folder is its ``CIFAR-10-C/`` (``--out`` = root);
2. the written folder itself, when the clean dataset is found without that root (cache, system
   location, ``imagefolder:PATH``) at the same place ``make-c`` read it;
3. otherwise: import the folder into the cache first, then run with ``make-c``'s ``--data-root``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from freqbench.corruption_names import BENCHMARK, SEVERITIES
from freqbench.data.base import DataRequest
from freqbench.data.cifar_c import (
    C_DATASETS,
    LABELS_FILE,
    CSource,
    c_folder_name,
    list_corruptions,
    open_npy,
    read_c_indices,
)
from freqbench.data.sources import SOURCES, locate
from freqbench.errors import MissingDataError


def c_source_for(dataset: str, num_classes: int) -> CSource | None:
    """The C dataset that reads a C folder made from ``dataset``: its own release, else the smallest
    release whose class count covers ``num_classes`` (labels are compared, not class names); None
    when no release holds that many classes."""
    C_DATASETS.names()  # the releases register their sources on import
    releases = [s for s in (SOURCES.get(n) for n in SOURCES.names()) if isinstance(s, CSource)]
    own = [s for s in releases if s.release.folder == c_folder_name(dataset)]
    if own:
        return own[0]
    fitting = sorted((s for s in releases if len(s.classes) >= num_classes), key=lambda s: len(s.classes))
    return fitting[0] if fitting else None


def _clean_location(dataset: str, root: Path | None) -> Path | None:
    """Where the clean test split of a named dataset is found under ``root`` (None: not found);
    ``imagefolder:PATH`` and other unnamed datasets do not depend on the root (``Path('.')``)."""
    if dataset not in SOURCES:
        return Path(".")
    try:
        return locate(SOURCES.get(dataset), DataRequest(root=root, download=False)).path.resolve()
    except MissingDataError:
        return None


def read_back_command(dataset: str, folder: Path, *, data_root: Path | None, seed: int = 0) -> str:
    """The exact command(s) that evaluate the C folder ``folder`` made from ``dataset``.

    Args:
        dataset: the clean dataset ``make-c`` read (its test split).
        folder: the written C folder.
        data_root: ``make-c``'s ``--data-root``.
        seed: ``make-c``'s ``--seed``, passed on (when not 0) so that the run's own seeded parts
            (random-init models) match an on-the-fly ``corruptions`` run with that seed.

    Returns:
        a shell command line with ``--model MODEL`` left for the user to fill in (or, where no command
        can work, the reason).
    """
    folder = Path(folder).resolve()
    labels = open_npy(folder / LABELS_FILE)
    num_classes = int(labels.max()) + 1
    source = c_source_for(dataset, num_classes)
    if source is None:
        return f"no C dataset suite reads labels of {num_classes} classes (cifar10c: 10, cifar100c: 100)"
    indices = read_c_indices(folder, rows=len(labels) // len(SEVERITIES))
    corruptions = list_corruptions(folder)
    args = ["freqbench", "run", "--suite", source.name, "--dataset", dataset]
    if corruptions != sorted(BENCHMARK):
        args += ["--corruptions", ",".join(corruptions)]
    if indices is not None:
        args += ["--limit", str(len(indices))]
    if seed:
        args += ["--seed", str(seed)]
    used = _clean_location(dataset, data_root)
    beside = source.find(Path(data_root), "test") if data_root is not None else None
    if data_root is not None and beside is not None and beside.resolve() == folder:
        root = Path(data_root)
    elif _clean_location(dataset, folder) == used:
        root = folder
    else:
        root = None
    run = shlex.join([*args, "--data-root", str(root if root is not None else data_root)])
    if root is not None:
        return f"{run} --model MODEL"
    if beside is not None:
        return (
            f"no single --data-root finds both {dataset} (under {data_root}) and {folder}, because "
            f"{beside} is another C folder there; rerun make-c with --out {data_root} after moving it"
        )
    importing = shlex.join(["freqbench", "data", "import", source.name, str(folder)])
    return f"{importing} && {run} --model MODEL"
