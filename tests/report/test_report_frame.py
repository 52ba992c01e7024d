"""The tidy DataFrame of records, and ``read_run``, without torch.

Records are written here through the store's own writer (no engine), and the frame is compared with
the records field by field.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from freqbench.config import RunConfig
from freqbench.report.frame import COLUMNS, read_run, records_frame
from freqbench.store.run import Record, RunStore


def _record(condition: str, metric: str, value: float, key: str, **tags: object) -> Record:
    return Record(
        model="m",
        dataset="d",
        suite="s",
        condition=condition,
        metric=metric,
        value=value,
        n=10,
        ci_low=value - 0.1,
        ci_high=value + 0.1,
        key=key,
        tags=dict(tags),
    )


RECORDS = [
    _record("clean", "accuracy", 0.9, "k0", kind="identity", signed=False),
    _record("clean", "loss", 0.3, "k0", kind="identity", signed=False),
    _record("gaussian_noise@3", "accuracy", 0.5, "k1", kind="perturbation", severity=3, signed=False),
    _record("high_pass@r=4", "accuracy", 0.2, "k2", kind="perturbation", r=4.0, signed=True, n=7),
]


def test_one_row_per_record_with_fixed_columns_then_tags() -> None:
    df = records_frame(RECORDS)
    assert list(df.columns) == [*COLUMNS, "kind", "signed", "severity", "r", "tag_n"]
    assert len(df) == len(RECORDS)
    for (_, row), r in zip(df.iterrows(), RECORDS, strict=True):
        assert [row[c] for c in COLUMNS] == [getattr(r, c) for c in COLUMNS]
    assert df.tag_n.iloc[3] == 7 and df.n.iloc[3] == 10  # a tag named like a column is prefixed


def test_partly_missing_tags_keep_their_type() -> None:
    df = records_frame(RECORDS)
    # without care, pandas turns [None, None, 3, None] into floats (3.0, NaN)
    assert str(df.severity.dtype) == "Int64" and df.severity.tolist() == [pd.NA, pd.NA, 3, pd.NA]
    assert str(df.tag_n.dtype) == "Int64"
    assert df.r.dtype == np.float64 and np.isnan(df.r.iloc[0]) and df.r.iloc[3] == 4.0
    assert df.signed.dtype == bool  # present on every record: numpy's own dtype
    partial = records_frame([RECORDS[0], _record("x", "accuracy", 0.1, "k9")])
    assert str(partial.signed.dtype) == "boolean" and partial.signed.tolist() == [False, pd.NA]
    assert records_frame([]).columns.tolist() == list(COLUMNS)


def test_read_run_reads_committed_records_and_manifest(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    with store.writing():
        store.recover()
        store.write_manifest({"config": RunConfig(suite="s").to_dict(), "models": {}})
        store.write_condition("k0", RECORDS[:2])
        store.write_condition("k1", RECORDS[2:3])
    run = read_run(tmp_path / "run")
    assert run.root == tmp_path / "run" and run.records == tuple(RECORDS[:3])
    assert run.manifest["config"]["suite"] == "s"
    assert run.to_pandas().equals(records_frame(RECORDS[:3]))


def test_read_run_imports_no_torch(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    with store.writing():
        store.recover()
        store.write_manifest({"config": RunConfig(suite="s").to_dict(), "models": {}})
        store.write_condition("k0", RECORDS[:2])
    code = (
        "import sys, freqbench; df = freqbench.read_run(sys.argv[1]).to_pandas(); "
        "assert len(df) == 2, df; assert 'torch' not in sys.modules, 'torch imported'"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
