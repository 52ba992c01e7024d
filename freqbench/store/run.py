"""The run directory: manifest, records (JSONL) and per-condition per-sample arrays.

Layout::

    RUN_DIR/
      manifest.json            config, package versions, git hash, device, seeds, invocations
      records.jsonl            one JSON record per (model, dataset, condition, metric)
      arrays/<key>.npz         per-sample arrays of one (model, dataset, condition), plus spectra

A condition is written once, after it completes: first its arrays (temporary file, fsync, atomic
rename), then all its records in a single appended write followed by fsync. The records are the
source of truth: a condition counts as done when a record with its content key is present. A process
killed mid-write can leave at most one incomplete trailing line, which readers ignore and the next
writer truncates, so a killed run loses at most the condition in flight and a resumed run ends with
exactly the records of an uninterrupted one.

Torch-free: reports rebuild anywhere from what is stored here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from freqbench.errors import StoreError

MANIFEST = "manifest.json"
RECORDS = "records.jsonl"
ARRAYS = "arrays"


def content_key(parts: Mapping[str, Any]) -> str:
    """sha256 (first 20 hex digits) of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Record:
    """One stored value.

    Attributes:
        model, dataset, suite, condition, metric: what was measured.
        value: the measurement (accuracy as a fraction in [0, 1]).
        n: number of samples behind it.
        ci_low, ci_high: 95% confidence bounds (equal to value where none applies).
        key: content key of the condition that produced it.
        tags: grouping labels of the condition (corruption, severity, eps, band...).
        info: provenance of the transform (its spec, e.g. the attack implementation).
    """

    model: str
    dataset: str
    suite: str
    condition: str
    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float
    key: str
    tags: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def read_records(path: Path) -> list[Record]:
    """Records of a JSONL file; an incomplete trailing line (a killed writer) is ignored."""
    out = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                break
            if not raw.strip():
                continue
            try:
                out.append(Record.from_dict(json.loads(raw)))
            except (json.JSONDecodeError, TypeError) as e:
                raise StoreError(f"{path}:{lineno} is not a valid record ({e})") from e
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def records_path(self) -> Path:
        return self.root / RECORDS

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    # manifest -----------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.is_file():
            raise StoreError(
                f"{self.root} is not a freqbench run directory: {MANIFEST} is missing. "
                "Pass the --out directory of a `freqbench run`."
            )
        try:
            data: dict[str, Any] = json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as e:
            raise StoreError(
                f"{self.manifest_path} is not valid JSON ({e}); the run directory is damaged"
            ) from e
        return data

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Write the manifest; an existing one keeps its history of invocations."""
        self.root.mkdir(parents=True, exist_ok=True)
        data = dict(manifest)
        if self.manifest_path.is_file():
            old = self.read_manifest()
            data["invocations"] = [*old.get("invocations", []), *data.get("invocations", [])]
            data["created"] = old.get("created", data.get("created"))
        atomic_write_bytes(
            self.manifest_path, json.dumps(data, indent=2, sort_keys=True, default=str).encode()
        )

    # records ------------------------------------------------------------------------------------
    def records(self) -> list[Record]:
        """All complete records (an incomplete trailing line from a killed writer is ignored)."""
        return read_records(self.records_path) if self.records_path.is_file() else []

    def completed_keys(self) -> set[str]:
        return {r.key for r in self.records()}

    def _truncate_partial_line(self) -> None:
        if not self.records_path.is_file():
            return
        with open(self.records_path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def write_condition(
        self, key: str, records: Iterable[Record], arrays: Mapping[str, np.ndarray] | None = None
    ) -> None:
        """Store one completed condition: arrays first, then its records in one appended write."""
        self.root.mkdir(parents=True, exist_ok=True)
        if arrays:
            adir = self.root / ARRAYS
            adir.mkdir(exist_ok=True)
            tmp = adir / f"{key}.npz.tmp"
            with open(tmp, "wb") as f:
                np.savez(f, **dict(arrays))  # type: ignore[arg-type]
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, adir / f"{key}.npz")
            _fsync_dir(adir)
        lines = "".join(r.to_json() + "\n" for r in records)
        self._truncate_partial_line()
        with open(self.records_path, "ab") as f:
            f.write(lines.encode())
            f.flush()
            os.fsync(f.fileno())

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The per-sample arrays of a condition."""
        path = self.root / ARRAYS / f"{key}.npz"
        if not path.is_file():
            raise StoreError(f"no arrays for condition key {key} in {self.root} (expected {path})")
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
