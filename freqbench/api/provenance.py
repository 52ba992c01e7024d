"""Provenance: what a run's manifest records (config, versions, git commit, weights, data, device)."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from freqbench._version import __version__
from freqbench.config import RunConfig
from freqbench.data import ArrayDataset
from freqbench.engine.loop import ModelUnderTest
from freqbench.probes.base import Probe
from freqbench.suites import Suite


def _git_hash() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "freqbench": __version__}
    for pkg in ("torch", "torchvision", "numpy", "timm", "torchattacks", "pyautoattack", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def manifest(
    config: RunConfig,
    suite: Suite | Probe,
    device: torch.device,
    models: Sequence[ModelUnderTest],
    *,
    data: ArrayDataset | None = None,
    available: int | None = None,
) -> dict[str, Any]:
    """The run's manifest: config, provenance (versions, weights, data) and this invocation.

    ``data`` is the evaluated (sub)set and ``available`` the size of the split it was taken from, so
    the report can say when ``--limit`` exceeded the dataset. A probe run records its probe under
    ``suites`` as ``probe:NAME`` with the probe's version, and under ``probes`` (what its plots are).
    """
    if isinstance(suite, Probe):
        job, summaries, probes = f"probe:{suite.name}", [], [suite.name]
    else:
        job, summaries, probes = suite.name, list(suite.summaries), []
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    dev = str(device) if device.type != "cuda" else f"{device} ({torch.cuda.get_device_name(device)})"
    out: dict[str, Any] = {
        "freqbench_version": __version__,
        "config": config.to_dict(),
        "suites": {job: suite.version},
        "summaries": summaries,
        "probes": probes,
        "versions": _versions(),
        "git": _git_hash(),
        "device": dev,
        "seeds": {"run": config.seed, "derivation": "sha256(seed, condition key) x lowbias32(sample index)"},
        "models": {m.name: {"arch": m.cfg.arch, "weights": m.weights_sha256} for m in models},
        "created": now,
        "invocations": [{"time": now, "platform": platform.platform(), "device": dev}],
    }
    if data is not None:
        out["data"] = {
            "name": data.info.name,
            "split": data.info.split,
            "samples": len(data),
            "available": len(data) if available is None else available,
            "fingerprint": data.fingerprint(),
        }
    return out
