"""freqbench: how image classifiers depend on frequencies.

The notebook entry points are exported here and imported on first use (module ``__getattr__``), so
``import freqbench`` stays light: no torch until a name that needs it is touched, and
``freqbench.read_run`` never needs torch at all.

>>> import freqbench
>>> sorted(freqbench.__all__)[:3]
['RunConfig', 'SuiteOptions', '__version__']

``freqbench.evaluate`` (:func:`freqbench.api.evaluate`), ``freqbench.probe``
(:func:`freqbench.api.probes.probe`), ``load_model``, ``list_models``,
``read_run`` (:func:`freqbench.report.frame.read_run`), ``RunConfig`` and ``SuiteOptions``; the rest
of the facade is :mod:`freqbench.api`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from freqbench._version import __version__

if TYPE_CHECKING:
    from freqbench.api import evaluate, list_models, load_model, probe
    from freqbench.config import RunConfig, SuiteOptions
    from freqbench.report.frame import read_run

#: exported name -> the module that defines it, imported when the name is first used
_LAZY = {
    "evaluate": "freqbench.api",
    "load_model": "freqbench.api",
    "list_models": "freqbench.api",
    "probe": "freqbench.api",
    "read_run": "freqbench.report.frame",
    "RunConfig": "freqbench.config",
    "SuiteOptions": "freqbench.config",
}

__all__ = [
    "RunConfig",
    "SuiteOptions",
    "__version__",
    "evaluate",
    "list_models",
    "load_model",
    "probe",
    "read_run",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'freqbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
