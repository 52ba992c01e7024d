"""The run directory: manifest, records (JSONL), commit markers and per-condition per-sample arrays.

Layout::

    RUN_DIR/
      manifest.json            config, package versions, git hash, device, seeds, invocations
      records.jsonl            one JSON record per (model, dataset, condition, metric)
      commits.jsonl            one commit line per stored condition, written last
      arrays/<key>.npz         per-sample arrays of one (model, dataset, condition), plus spectra
      .lock                    held (``flock``) by the one process writing; it holds that pid

**One configuration.** A run directory belongs to one configuration (``RunConfig.RESULT_FIELDS``
plus the provenance the manifest records: freqbench and suite versions, weights, data); the facade
compares them before writing and refuses a mismatch. :meth:`RunStore.config` rebuilds the stored
configuration through ``RunConfig.from_dict``; a damaged manifest is a :class:`StoreError`.

**Completion is explicit.** A condition is written once, after it completes: its arrays (temporary
file, fsync, atomic rename), then its records in one append (fsync), then its commit line
``{"commit": key, "records": n, "end": offset, "arrays": sha256}`` (fsync). Only committed
conditions exist for readers (:meth:`RunStore.records`, :meth:`RunStore.completed_keys`), and a
commit is verified on load: the ``n`` record lines ending at byte ``end`` of ``records.jsonl`` all
carry its key, and :meth:`RunStore.arrays` checks the arrays' sha256. Records of a condition without
its commit (a killed writer, a full disk, Ctrl-C) are ignored and the condition is evaluated again; the
next writer removes that torn remainder under the lock. A killed run loses at most the condition in
flight, and a resumed run ends with exactly the records of an uninterrupted one.

**One writer.** Writing needs the exclusive lock on ``RUN_DIR/.lock`` (:meth:`RunStore.writing`); a
second writer gets a :class:`StoreError` naming the holder's pid. Temporary files have unique names
(pid and a random part) in the directory they are renamed into. Readers take no lock.

**Errors.** A full disk, a read-only file system or a permission problem while writing is a
:class:`StoreError` that says so and that the run can be resumed; what was committed stays valid.

A directory with ``records.jsonl`` but no ``commits.jsonl`` was written by freqbench before commit
markers: readers take all its complete records, writers refuse it (start over with ``--force``).

Torch-free: reports rebuild anywhere from what is stored here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from freqbench.config import RunConfig
from freqbench.errors import ConfigError, StoreError
from freqbench.store import files

MANIFEST = "manifest.json"
RECORDS = "records.jsonl"
COMMITS = "commits.jsonl"
ARRAYS = "arrays"
STATE = "state"
LOCK = ".lock"
REPORT = "report.md"


def content_key(parts: Mapping[str, Any]) -> str:
    """sha256 (first 20 hex digits) of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


# records ------------------------------------------------------------------------------------------
#: accepted JSON types per annotation of a Record field (bool is never a number)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "float": (int, float),
    "int": (int,),
    "dict[str, Any]": (dict,),
}
_TYPE_NAMES = {"str": "a string", "float": "a number", "int": "an integer", "dict[str, Any]": "an object"}


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
        scope: what else decides the value, so that ``freqbench check`` compares like with like: split,
            limit, subset (fingerprint of the evaluated images and labels), seed, suite_version and
            weights; empty in records written before it existed.
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
    scope: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        """A record from its JSON object, every field type-checked (unknown keys are ignored).

        Raises:
            TypeError: ``d`` is not an object, a required field is missing or a value has the wrong
                type (a string where a number belongs); the message names the field.
        """
        if not isinstance(d, Mapping):
            raise TypeError(f"expected a JSON object, got {type(d).__name__}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in d:
                if f.default is MISSING and f.default_factory is MISSING:
                    raise TypeError(f"field {f.name!r} is missing")
                continue
            v = d[f.name]
            types = _FIELD_TYPES.get(str(f.type))
            if types is not None and (isinstance(v, bool) or not isinstance(v, types)):
                raise TypeError(f"field {f.name!r} must be {_TYPE_NAMES[str(f.type)]}, got {v!r}")
            values[f.name] = v
        if values["n"] < 0:
            raise TypeError(f"field 'n' must be >= 0, got {values['n']}")
        return cls(**values)


def _split_lines(data: bytes, path: Path) -> tuple[list[bytes], int]:
    """Complete lines of ``data`` and the byte length they cover.

    A trailing line without its newline is a writer killed mid-line and is left out; it must still
    look like the start of a JSON line (JSON written here is ASCII), otherwise the file is not ours.
    """
    end = data.rfind(b"\n") + 1
    tail = data[end:]
    if tail and not (tail.lstrip().startswith(b"{") and tail.isascii()):
        raise StoreError(
            f"{path} is not a freqbench JSONL file (it ends in {len(tail)} bytes of binary data); "
            "pass a run directory or a records file written by freqbench"
        )
    return data[:end].split(b"\n")[:-1], end


def _json_line(raw: bytes, where: str, what: str = "records file") -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise StoreError(
            f"{where} is not UTF-8 text (binary data at byte {e.start}): not a freqbench {what}"
        ) from e
    except json.JSONDecodeError as e:
        raise StoreError(f"{where} is not valid JSON ({e}); the file is damaged") from e


def _record(raw: bytes, where: str) -> Record:
    obj = _json_line(raw, where)
    try:
        return Record.from_dict(obj)
    except TypeError as e:
        raise StoreError(f"{where} is not a valid record ({e}); the file is damaged") from e


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError as e:
        raise StoreError(f"{what} {path} is a directory, expected a file") from e
    except OSError as e:
        raise StoreError(f"cannot read {what} {path}: {e.strerror or e}") from e


def read_records(path: Path | str) -> list[Record]:
    """Every complete record line of a JSONL file (an incomplete trailing line is ignored).

    This reads a plain records file; a run directory's records are :meth:`RunStore.records`, which
    also requires each condition's commit.

    Raises:
        StoreError: the file cannot be read, holds binary data or a line that is not a valid record.
    """
    path = Path(path)
    lines, _ = _split_lines(_read_bytes(path, "records file"), path)
    return [_record(raw, f"{path}:{i}") for i, raw in enumerate(lines, 1) if raw.strip()]


# writing helpers ----------------------------------------------------------------------------------
_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "a folder on the way does not exist",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a directory",
}


def os_error(e: OSError, action: str, path: Path, hint: str = "") -> StoreError:
    """A :class:`StoreError` for an ``OSError`` met while writing: what, where, why, what to do."""
    reason = _REASONS.get(e.errno or 0, e.strerror or str(e))
    code = errno.errorcode.get(e.errno or 0, "")
    return StoreError(f"cannot {action} {path}: {reason}" + (f" ({code})" if code else "") + hint)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def atomic_write_bytes(path: Path, data: bytes, *, hint: str = "") -> None:
    """:func:`freqbench.store.files.atomic_write_bytes` with the store's typed errors.

    A uniquely named temporary file (``NAME.<pid>.<random>.tmp``), fsync, rename, fsync of the folder;
    the file gets the mode a plain ``open()`` gives.

    Raises:
        StoreError: the write failed (full disk, read-only file system, no such folder...);
            ``path`` is unchanged and no temporary file is left.
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"cannot write {path}: it is a directory; give a file path")
    try:
        files.atomic_write_bytes(path, data)
    except OSError as e:
        raise os_error(e, "write", path, hint) from e


@dataclass
class _State:
    """What the lock holder knows about the files it appends to."""

    records_end: int
    commits_end: int
    committed: set[str]


@dataclass(frozen=True)
class _Scan:
    records: list[Record]
    commits: dict[str, Mapping[str, Any]]
    records_end: int
    commits_end: int
    legacy: bool


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock_fd: int | None = None
        self._state: _State | None = None

    @property
    def records_path(self) -> Path:
        return self.root / RECORDS

    @property
    def commits_path(self) -> Path:
        return self.root / COMMITS

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def _resume_hint(self) -> str:
        return (
            f". What was stored before is kept; fix this, then resume with "
            f"`freqbench run --resume --out {self.root}`"
        )

    # manifest -----------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        """The manifest, validated: an object whose ``config`` is a valid :class:`RunConfig`.

        Raises:
            StoreError: no manifest (not a run directory), or a damaged one (not JSON, not an object,
                a missing or ill-typed field); the message names what is wrong.
        """
        if not self.manifest_path.is_file():
            raise StoreError(
                f"{self.root} is not a freqbench run directory: {MANIFEST} is missing. "
                "Pass the --out directory of a `freqbench run`."
            )
        damaged = f"{self.manifest_path} is damaged"
        fix = f"; start over with `freqbench run --force --out {self.root} ...` or use another --out"
        raw = _read_bytes(self.manifest_path, "manifest")
        try:
            data = _json_line(raw, str(self.manifest_path), "manifest")
        except StoreError as e:
            raise StoreError(f"{e}{fix}") from e
        if not isinstance(data, dict):
            raise StoreError(f"{damaged}: expected a JSON object, found a {type(data).__name__}{fix}")
        if "config" not in data:
            raise StoreError(f"{damaged}: it has no 'config'{fix}")
        try:
            RunConfig.from_dict(data["config"])
        except ConfigError as e:
            raise StoreError(f"{damaged}: {e}{fix}") from e
        expected: dict[str, type] = {
            "suites": dict,
            "summaries": list,
            "models": dict,
            "invocations": list,
            "freqbench_version": str,
            "device": str,
            "created": str,
        }
        for name, kind in expected.items():
            if name in data and not isinstance(data[name], kind):
                raise StoreError(
                    f"{damaged}: '{name}' must be a JSON {'object' if kind is dict else kind.__name__}, "
                    f"found {data[name]!r}{fix}"
                )
        bad = [s for s in data.get("summaries", []) if not isinstance(s, str)]
        if bad:
            raise StoreError(f"{damaged}: 'summaries' must hold names, found {bad[0]!r}{fix}")
        return data

    def config(self) -> RunConfig:
        """The stored configuration (``RunConfig.from_dict`` of the manifest's ``config``)."""
        return RunConfig.from_dict(self.read_manifest()["config"])

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Write the manifest; an existing one keeps its history of invocations.

        ``device`` becomes every device the invocations ran on, in order, when they differ.
        """
        with self.writing():
            data = dict(manifest)
            if self.manifest_path.is_file():
                old = self.read_manifest()
                data["invocations"] = [*old.get("invocations", []), *data.get("invocations", [])]
                created = old.get("created", data.get("created"))
                if created is not None:  # a manifest without one keeps having none, never null
                    data["created"] = created
            devices = [
                i["device"] for i in data.get("invocations", []) if isinstance(i, dict) and "device" in i
            ]
            if devices:
                data["device"] = ", ".join(dict.fromkeys(devices))
            blob = json.dumps(data, indent=2, sort_keys=True, default=str).encode()
            atomic_write_bytes(self.manifest_path, blob, hint=self._resume_hint())

    # reading records ----------------------------------------------------------------------------
    def _scan(self) -> _Scan:
        # commits before records: a commit is appended after its records, so a reader racing a
        # writer never sees a commit whose records it did not read
        if not self.commits_path.exists():
            if not self.records_path.exists():
                return _Scan([], {}, 0, 0, legacy=False)
            data = _read_bytes(self.records_path, "records")
            if self.commits_path.exists():  # a new run created both meanwhile
                return self._scan()
            lines, _ = _split_lines(data, self.records_path)  # written before commit markers
            recs = [_record(r, f"{self.records_path}:{i}") for i, r in enumerate(lines, 1) if r.strip()]
            return _Scan(recs, {}, len(data), 0, legacy=True)
        clines, commits_end = _split_lines(_read_bytes(self.commits_path, "commits"), self.commits_path)
        data = _read_bytes(self.records_path, "records") if self.records_path.exists() else b""
        damaged = (
            f"; the run directory is damaged: start over with `freqbench run --force --out {self.root} ...`"
        )
        records: list[Record] = []
        commits: dict[str, Mapping[str, Any]] = {}
        start, first = 0, 1  # byte offset and line number after the previous commit
        for i, raw in enumerate(clines, 1):
            where = f"{self.commits_path}:{i}"
            c = _json_line(raw, where)
            ok = (
                isinstance(c, dict)
                and isinstance(c.get("commit"), str)
                and all(
                    isinstance(c.get(k), int) and not isinstance(c.get(k), bool) for k in ("records", "end")
                )
                and (c.get("arrays") is None or isinstance(c.get("arrays"), str))
            )
            if not ok:
                raise StoreError(f"{where} is not a commit line: {raw[:120]!r}{damaged}")
            key, n, end = c["commit"], c["records"], c["end"]
            if key in commits:
                raise StoreError(f"{where} commits condition {key} a second time{damaged}")
            if not start < end <= len(data) or data[end - 1 : end] != b"\n":
                raise StoreError(
                    f"{where} commits {key} up to byte {end} of {self.records_path} "
                    f"({len(data)} bytes, previous commit at {start}){damaged}"
                )
            lines = data[start:end].split(b"\n")[:-1]
            recs = [_record(r, f"{self.records_path}:{first + j}") for j, r in enumerate(lines)]
            if len(recs) != n or any(r.key != key for r in recs):
                raise StoreError(
                    f"{where} commits {n} record(s) of {key} at bytes {start}..{end} of "
                    f"{self.records_path}, found {len(recs)} ({sorted({r.key for r in recs})}){damaged}"
                )
            records += recs
            commits[key] = c
            start, first = end, first + len(lines)
        # an uncommitted remainder is ignored, but it must be records a writer was cut off writing
        torn, _ = _split_lines(data[start:], self.records_path)
        for j, r in enumerate(torn):
            _record(r, f"{self.records_path}:{first + j}")
        return _Scan(records, commits, start, commits_end, legacy=False)

    def records(self) -> list[Record]:
        """The records of committed conditions, verified (see the module docstring).

        Raises:
            StoreError: a damaged file, or two results for one (model, dataset, condition, metric)
                (a directory that mixes configurations).
        """
        out: list[Record] = []
        seen: dict[tuple[str, str, str, str], str] = {}
        for r in self._scan().records:
            where = (r.model, r.dataset, r.condition, r.metric)
            other = seen.get(where)
            if other is None:
                seen[where] = r.key
                out.append(r)
            elif other != r.key:  # (a repeat of the same key, from old concurrent writers, counts once)
                raise StoreError(
                    f"{self.root} holds two results for {r.model} / {r.dataset} / {r.condition} "
                    f"{r.metric} (condition keys {other} and {r.key}): it mixes configurations. Start "
                    f"over with `freqbench run --force --out {self.root} ...` or use another --out"
                )
        return out

    def completed_keys(self) -> set[str]:
        """Content keys of the committed conditions."""
        scan = self._scan()
        return {r.key for r in scan.records} if scan.legacy else set(scan.commits)

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The per-sample arrays of a committed condition, checked against its commit's sha256."""
        path = self.root / ARRAYS / f"{key}.npz"
        if not path.is_file():
            raise StoreError(f"no arrays for condition key {key} in {self.root} (expected {path})")
        blob = _read_bytes(path, "arrays")
        want = self._scan().commits.get(key, {}).get("arrays")
        if want is not None and hashlib.sha256(blob).hexdigest() != want:
            raise StoreError(
                f"{path} does not match its commit (sha256 differs): the run directory is damaged; "
                f"start over with `freqbench run --force --out {self.root} ...`"
            )
        with np.load(io.BytesIO(blob)) as z:
            return {k: z[k] for k in z.files}

    # writing ------------------------------------------------------------------------------------
    def check_location(self) -> None:
        """``root`` is a directory or can become one (no file at it or above it)."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"--out {self.root} is a file, not a directory; pass a directory for the run")
        for parent in self.root.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise StoreError(
                        f"--out {self.root} sits under {parent}, which is a file; pass a directory path"
                    )
                break

    @contextlib.contextmanager
    def writing(self) -> Iterator[RunStore]:
        """Hold the exclusive lock on the run directory (re-entrant within this object).

        Raises:
            StoreError: another process holds it (its pid is named), or the directory cannot be
                created or locked (a file in the way, a read-only file system, a full disk).
        """
        if self._lock_fd is not None:
            yield self
            return
        self.check_location()
        lock = self.root / LOCK
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise os_error(e, "create the run directory lock", lock) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"pid {holder}" if holder.isdigit() else "a process that is starting"
            raise StoreError(
                f"{self.root} is being written by another freqbench run ({who}); wait for it to "
                "finish, or use another --out"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            os.close(fd)
            raise os_error(e, "write the run directory lock", lock, self._resume_hint()) from e
        self._lock_fd = fd
        try:
            yield self
        finally:
            self._lock_fd = None
            self._state = None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # releases the flock

    def _need_lock(self, what: str) -> None:
        if self._lock_fd is None:
            raise StoreError(f"{what} needs the run directory lock: call it inside `with store.writing():`")

    def clear(self) -> None:
        """Delete the stored run (``--force``): manifest, records, commits, arrays, state, report.

        Only these names are removed, never the directory or other files in it; needs the lock.
        """
        self._need_lock("clear")
        try:
            for name in (COMMITS, RECORDS, MANIFEST, REPORT):  # commits first: no torn verification
                with contextlib.suppress(FileNotFoundError):
                    (self.root / name).unlink()
            for name in (ARRAYS, STATE):
                if (self.root / name).is_dir():
                    shutil.rmtree(self.root / name)
        except OSError as e:
            raise os_error(e, "delete the old run in", self.root) from e
        self._state = None

    def recover(self) -> None:
        """Prepare for appending (needs the lock): remove what a torn writer left, verify the rest.

        Truncates ``commits.jsonl`` after its last complete line and ``records.jsonl`` after the
        last committed record, deletes stale temporary files and uncommitted arrays, and creates
        ``commits.jsonl`` before any record is written.

        Raises:
            StoreError: a directory written before commit markers, damage, or a write failure.
        """
        self._need_lock("recover")
        scan = self._scan()
        if scan.legacy:
            raise StoreError(
                f"{self.root} was written by an older freqbench without commit markers, so its "
                f"conditions cannot be verified; start over with `freqbench run --force --out {self.root} "
                "...` or use another --out"
            )
        hint = self._resume_hint()
        try:
            if not self.commits_path.exists():
                atomic_write_bytes(self.commits_path, b"", hint=hint)
            for path, end in ((self.commits_path, scan.commits_end), (self.records_path, scan.records_end)):
                if path.exists() and path.stat().st_size != end:
                    with open(path, "rb+") as f:
                        f.truncate(end)
                        os.fsync(f.fileno())
            adir = self.root / ARRAYS
            # temporaries of the files only a lock holder writes (report.md is written without it)
            stale = files.stale_temporaries(adir)
            for name in (MANIFEST, COMMITS):
                stale += files.stale_temporaries(self.root, name)
            for path in stale:
                path.unlink()
            for npz in adir.glob("*.npz"):
                if npz.stem not in scan.commits:
                    npz.unlink()
        except OSError as e:
            raise os_error(e, "clean up", self.root, hint) from e
        self._state = _State(scan.records_end, scan.commits_end, set(scan.commits))

    def _append(self, path: Path, data: bytes, expected: int) -> None:
        """Append ``data`` at byte ``expected`` and fsync; on failure cut the file back to ``expected``."""
        hint = self._resume_hint()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise os_error(e, "write", path, hint) from e
        try:
            size = os.fstat(fd).st_size
            if size != expected:
                raise StoreError(f"{path} changed under the lock ({size} bytes, expected {expected})")
            _write_all(fd, data)
            os.fsync(fd)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, expected)
                os.fsync(fd)
            if isinstance(e, OSError):
                raise os_error(e, "write", path, hint) from e
            raise
        finally:
            os.close(fd)

    def write_condition(
        self, key: str, records: Iterable[Record], arrays: Mapping[str, np.ndarray] | None = None
    ) -> None:
        """Store one completed condition: arrays, then its records in one append, then its commit.

        Takes the lock (and recovers) for the call when it is not held already.

        Raises:
            StoreError: the key is already committed, a record carries another key, or a write failed
                (the condition then stays uncommitted and is evaluated again on resume).
        """
        if self._lock_fd is None:
            with self.writing():
                self.recover()
                self.write_condition(key, records, arrays)
            return
        if self._state is None:
            self.recover()
        try:
            self._write_condition(key, list(records), arrays)
        except BaseException:
            self._state = None  # unknown what reached the disk: the next write recovers first
            raise

    def _write_condition(self, key: str, recs: list[Record], arrays: Mapping[str, np.ndarray] | None) -> None:
        state = self._state
        assert state is not None
        if not recs:
            raise StoreError(f"condition {key} has no records to store")
        if key in state.committed:
            raise StoreError(f"condition {key} is already stored in {self.root}")
        wrong = sorted({r.key for r in recs} - {key})
        if wrong:
            raise StoreError(f"records of condition {key} carry other keys {wrong}")
        digest: str | None = None
        if arrays:
            buf = io.BytesIO()
            np.savez(buf, **dict(arrays))  # type: ignore[arg-type]
            blob = buf.getvalue()
            digest = hashlib.sha256(blob).hexdigest()
            adir = self.root / ARRAYS
            try:
                adir.mkdir(exist_ok=True)
            except OSError as e:
                raise os_error(e, "create", adir, self._resume_hint()) from e
            atomic_write_bytes(adir / f"{key}.npz", blob, hint=self._resume_hint())
        lines = "".join(r.to_json() + "\n" for r in recs).encode()
        end = state.records_end + len(lines)
        self._append(self.records_path, lines, state.records_end)
        state.records_end = end
        commit = json.dumps({"commit": key, "records": len(recs), "end": end, "arrays": digest}) + "\n"
        self._append(self.commits_path, commit.encode(), state.commits_end)
        state.commits_end += len(commit)
        state.committed.add(key)
