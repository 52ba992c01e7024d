"""Stored records as a tidy pandas DataFrame, for notebooks and papers.

One row per (model, dataset, suite, condition, metric): the value with its ``n`` and 95% interval, the
condition's content key, and every tag of the condition as its own column (``kind``, ``transform``,
``corruption``, ``severity``, ``eps``, ``band``...; absent tags are missing values). Values are stored
fractions (accuracy 0.91, not 91). Torch-free, like the rest of :mod:`freqbench.report`.

>>> from freqbench.store.run import Record
>>> r = Record(model="m", dataset="d", suite="s", condition="clean", metric="accuracy",
...            value=0.5, n=4, ci_low=0.15, ci_high=0.85, key="k", tags={"kind": "identity"})
>>> records_frame([r])[["model", "condition", "metric", "value", "n", "kind"]].to_dict("records")
[{'model': 'm', 'condition': 'clean', 'metric': 'accuracy', 'value': 0.5, 'n': 4, 'kind': 'identity'}]

:func:`read_run` reads a run directory's manifest and committed records (``freqbench.read_run(DIR)``),
so ``read_run(DIR).to_pandas()`` is the same table in a notebook that never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.store.run import Record, RunStore

if TYPE_CHECKING:
    import pandas as pd

#: the fixed leading columns; tags follow in first-seen order
COLUMNS = ("model", "dataset", "suite", "condition", "metric", "value", "n", "ci_low", "ci_high", "key")


def records_frame(records: Sequence[Record]) -> pd.DataFrame:
    """A DataFrame of ``records`` with the fixed :data:`COLUMNS` and one column per tag.

    A tag whose name collides with a fixed column is prefixed ``tag_``. A tag that some records lack
    keeps its type: integers become pandas' nullable ``Int64`` (severity 3, not 3.0) and booleans
    ``boolean``, with ``<NA>`` where the tag is absent.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    tag_values: dict[str, list[Any]] = {}
    for r in records:
        row: dict[str, Any] = {c: getattr(r, c) for c in COLUMNS}
        for name, value in r.tags.items():
            col = f"tag_{name}" if name in COLUMNS else name
            tag_values.setdefault(col, []).append(value)
            row[col] = value
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *tag_values])
    for col, values in tag_values.items():
        if len(values) == len(rows) or any(v is None for v in values):
            continue  # present everywhere (pandas' own dtype is exact) or explicitly null
        if all(type(v) is int for v in values):
            frame[col] = frame[col].astype("Int64")
        elif all(type(v) is bool for v in values):
            frame[col] = frame[col].astype("boolean")
    return frame


@dataclass(frozen=True)
class StoredRun:
    """A run directory as stored: its manifest and the records of its committed conditions.

    Attributes:
        root: the run directory.
        manifest: ``manifest.json`` (config, versions, models and their weights, data fingerprint).
        records: the committed records (:meth:`freqbench.store.run.RunStore.records`).
    """

    root: Path
    manifest: dict[str, Any]
    records: tuple[Record, ...]

    def to_pandas(self) -> pd.DataFrame:
        """The records as a tidy DataFrame (:func:`records_frame`)."""
        return records_frame(self.records)


def read_run(path: Path | str) -> StoredRun:
    """The run stored in ``path``, read without torch.

    Raises:
        StoreError: ``path`` is not a run directory, or its files are damaged.
    """
    store = RunStore(path)
    return StoredRun(root=store.root, manifest=store.read_manifest(), records=tuple(store.records()))
