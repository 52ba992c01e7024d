"""The facade: names -> objects, provenance, runs. What the CLI and notebooks call.

>>> from freqbench import api                                    # doctest: +SKIP
>>> result = api.run(RunConfig(suite="frequency", limit=200))    # doctest: +SKIP
>>> print(api.render(result.store.root, "md"))                   # doctest: +SKIP

Its parts: :mod:`.names` (names -> models, datasets, suites; listings), :mod:`.provenance` (the
manifest), :mod:`.runs` (the run path, rendering, the regression gate), :mod:`.probes` (probe runs),
:mod:`.data` (importing data, writing C datasets) and :mod:`.notebook` (:func:`evaluate`).
"""

from __future__ import annotations

from freqbench.api.data import MadeC, import_data, make_c
from freqbench.api.names import (
    build_model,
    canonical_model_spec,
    expand_models,
    get_suite,
    list_models,
    list_names,
    load_dataset,
    load_model,
)
from freqbench.api.notebook import evaluate
from freqbench.api.probes import ProbeRunResult, probe
from freqbench.api.provenance import manifest
from freqbench.api.runs import RunResult, check, render, run

__all__ = [
    "MadeC",
    "ProbeRunResult",
    "RunResult",
    "build_model",
    "canonical_model_spec",
    "check",
    "evaluate",
    "expand_models",
    "get_suite",
    "import_data",
    "list_models",
    "list_names",
    "load_dataset",
    "load_model",
    "make_c",
    "manifest",
    "probe",
    "render",
    "run",
]
