"""Data on disk: importing datasets and weights into the cache, and writing CIFAR-10-C-layout files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from freqbench.api.names import load_dataset
from freqbench.data import DataRequest
from freqbench.engine.progress import Progress, QuietProgress
from freqbench.errors import ConfigError, UnknownNameError
from freqbench.models import MODELS
from freqbench.ops.device import select_device
from freqbench.perturbations import PERTURBATIONS


def import_data(
    name: str, path: Path | Sequence[Path], *, report: Callable[[str], None] | None = None
) -> Path:
    """Verify ``path`` and copy it into the cache, as dataset ``name`` or as the weights of model ``name``.

    A dataset import is all or nothing (:func:`freqbench.data.catalog.import_dataset`); ``path`` may be
    several paths for datasets whose files come one by one (MNIST-style IDX files).
    """
    from freqbench.data.catalog import import_dataset
    from freqbench.data.sources import SOURCES
    from freqbench.models import import_weights

    if name in SOURCES:
        return import_dataset(name, path, report=report)
    if name in MODELS:
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        if len(paths) != 1:
            raise ConfigError(f"model weights are one file; got {len(paths)} paths for {name!r}")
        dest = import_weights(name, Path(paths[0]))
        if report:
            report(f"verified and copied {paths[0]} -> {dest}")
        return dest
    raise UnknownNameError(
        f"{name!r} is neither a dataset ({', '.join(SOURCES.names())}) nor a model with pretrained weights "
        "(`freqbench ls models`)"
    )


@dataclass(frozen=True)
class MadeC:
    """What ``make_c`` wrote.

    Attributes:
        folder: the C folder (``<out>/<DATASET>-C``).
        command: the exact command that evaluates it (``--model MODEL`` left to fill in).
    """

    folder: Path
    command: str


def _check_output_folder(out: Path, folder: Path) -> None:
    """``out`` must be (or become) a folder, and ``folder`` inside it must not hold files yet."""
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--out {out}: {parent} is a file, not a folder; pass a folder")
            break
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(
            f"{folder} already exists; make-c writes a complete folder and never mixes its files with "
            "others: pass another --out, or delete it first"
        )


def make_c(
    dataset: str,
    out: Path,
    *,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    seed: int = 0,
    batch_size: int = 256,
    data_root: Path | None = None,
    limit: int | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> MadeC:
    """Write ``dataset``'s test split corrupted in the released CIFAR-10-C layout, all or nothing.

    Each image is corrupted on the engine's own path (:func:`freqbench.engine.batches.condition_batches`)
    under the ``corruptions`` suite's conditions (:func:`freqbench.suites.corruptions.corruption_conditions`,
    keys ``<corruption>@<severity>``), so with the same per-sample random streams (seed, condition key,
    sample index) as the on-the-fly suite, and the C dataset suite run by :attr:`MadeC.command`
    reproduces the on-the-fly accuracies for the same seed. Only severities 1..5
    all together make a released-layout file; ``severities`` is accepted only as all five. With
    ``limit``, the documented subset (:meth:`ArrayDataset.subset`) is written together with its sample
    indices (``indices.npy``), and that suite with the same ``--limit`` reads it back. Everything is
    written into a staging folder beside ``<out>/<DATASET>-C`` and renamed onto it at the end; a
    failure or Ctrl-C leaves nothing.

    Raises:
        ConfigError: bad options (batch size, limit, seed, severities), or the output folder is a file
            or already holds files.
    """
    import numpy as np

    from freqbench.config import SEED_LIMIT
    from freqbench.corruption_names import ALL, BENCHMARK, SEVERITIES
    from freqbench.data.c_command import read_back_command
    from freqbench.data.cifar_c import c_folder_name
    from freqbench.data.cifar_c_writer import CWriter
    from freqbench.engine.batches import condition_batches
    from freqbench.engine.steps import StepContext, build_step
    from freqbench.store.files import staged_directory
    from freqbench.suites.corruptions import corruption_conditions

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer, got {batch_size}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive integer, got {limit}; omit it for the whole split")
    if not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"--seed must be an integer in [0, 2**64), got {seed}")
    names = tuple(corruptions) if corruptions else BENCHMARK
    for c in names:
        if c not in ALL:
            PERTURBATIONS.get(c)  # raises with suggestions for unknown names
            raise ConfigError(f"{c!r} is not a CIFAR-10-C corruption; choose from {', '.join(ALL)}")
    if severities and tuple(sorted(severities)) != SEVERITIES:
        raise ConfigError("the released layout stores all five severities per file; drop --severities")
    out = Path(out)
    final = out / c_folder_name(dataset)
    _check_output_folder(out, final)
    data = load_dataset(dataset, root=data_root, limit=limit)
    dev = select_device(device)
    progress = progress or QuietProgress()
    # the corruptions suite's conditions (clean dropped): its keys seed the per-sample streams
    conditions = corruption_conditions(names, SEVERITIES)[1:]
    ctx = StepContext(device=dev, data_request=DataRequest(split=data.info.split, root=data_root))
    with staged_directory(final) as staging:
        with CWriter(staging, data.labels, folder="", indices=data.indices) as writer:
            for cond in conditions:
                block = np.empty((len(data), *data.images.shape[1:]), np.uint8)
                for b in condition_batches(
                    data,
                    build_step(cond, ctx),
                    cond,
                    seed=seed,
                    batch_size=batch_size,
                    device=dev,
                    progress=progress,
                    label=f"make-c {cond.key}",
                ):
                    y8 = (b.out * 255).round().clamp(0, 255).to(torch.uint8)
                    block[b.rows] = y8.permute(0, 2, 3, 1).cpu().numpy()
                writer.write(cond.tags["corruption"], cond.tags["severity"], block)
    return MadeC(final, read_back_command(dataset, final, data_root=data_root, seed=seed))
