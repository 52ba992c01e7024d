"""Where datasets live in the freqbench cache, and the wording of "missing data" errors.

The cache folder of a dataset is ``$FREQBENCH_HOME/datasets/<name>/`` (default
``~/.cache/freqbench/datasets/<name>/``). Files enter it only verified, through a download with a pinned
checksum or through ``freqbench data import NAME PATH``; the generic download and checksum helpers are in
:mod:`freqbench.store.download` (shared with model weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from freqbench.errors import MissingDataError
from freqbench.store.download import cache_dir


def dataset_dir(name: str) -> Path:
    """The cache folder of dataset ``name`` (not created)."""
    return cache_dir("datasets", name)


def import_command(name: str, path: str = "PATH") -> str:
    """The command that puts dataset ``name`` into the cache."""
    return f"freqbench data import {name} {path}"


def missing_data_error(
    name: str,
    *,
    split: str,
    looked_for: Sequence[Path],
    accepts: str,
    reason: str = "",
) -> MissingDataError:
    """A :class:`MissingDataError` naming every path searched and the command that provides the data.

    Args:
        name: dataset name.
        split: the split asked for.
        looked_for: paths searched, in search order.
        accepts: what ``PATH`` may be for the import command (archive, folder...).
        reason: why no download happened (offline, download disabled, no public source).
    """
    lines = [f"dataset {name!r} (split {split!r}) was not found. Looked for:"]
    lines += [f"  - {p}" for p in looked_for]
    if reason:
        lines.append(reason)
    lines.append(
        f"Provide it with `{import_command(name)}` (PATH: {accepts}), "
        f"or place it under {dataset_dir(name)}, or pass --data-root DIR holding it."
    )
    return MissingDataError("\n".join(lines))
