"""The probe contract and the ``PROBES`` registry.

A probe looks inside a model or a dataset instead of scoring it (DESIGN.md section 1): input spectra,
filter frequency responses, Fourier heat maps, Fourier masks. Each probe module holds

- a frozen options dataclass (every field has a default, so ``Options()`` is the documented setting),
- a pure function ``probe(model, data, options, *, seed, progress) -> Result`` with explicit arguments,
- a frozen result dataclass of numpy arrays and metadata that implements :class:`ProbeResult`: the
  arrays a run store writes (``arrays()``, plain numpy, fixed names), a JSON-able ``meta()`` and the
  numbers it reports as records (``measures()``: each with n and a 95% interval where one applies),

and registers a :class:`Probe` entry that ties them together under its name. The entry is what a
``freqbench probe NAME`` command resolves; :meth:`Probe.configure` builds the options from written
values and refuses a field the probe does not have instead of ignoring it.

Randomness comes from the per-sample counter RNG (:mod:`freqbench.ops.random`), keyed by (seed, a
stream name of the probe, sample index), so no result depends on batch size.

Layering: probes is a sibling of engine and train; it may use models, perturbations, data, ops, nn,
store and report, and nothing above.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from freqbench.data.base import ArrayDataset
from freqbench.errors import ConfigError, IncompatibleError
from freqbench.registry import Registry
from freqbench.store.aggregate import Estimate

#: ``progress(done, total)``: called as work completes (units are the probe's own, e.g. forward passes)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Measure:
    """One number a probe reports, stored as a record (``freqbench probe`` writes one per measure).

    Attributes:
        condition: what it is about within the probe (``map``, ``layer=conv1``, ``class=cat``).
        estimate: metric name, value, n and the 95% interval (equal to the value where none applies).
        tags: grouping labels for tables, plots and ``links`` (JSON-able).
    """

    condition: str
    estimate: Estimate
    tags: dict[str, Any] = field(default_factory=dict)


def point(metric: str, value: float, n: int) -> Estimate:
    """An estimate without an interval (a deterministic quantity: ends equal to the value)."""
    return Estimate(metric, float(value), int(n), float(value), float(value))


def centred_radius(shape: tuple[int, int]) -> np.ndarray:
    """Radius in cycles per image of each cell of a centred (``fftshift`` layout) map of ``shape``:
    cell (a, b) is frequency (a - H//2, b - W//2).

    >>> centred_radius((3, 3))[1, 1], centred_radius((3, 3))[0, 0].round(4)
    (np.float64(0.0), np.float64(1.4142))
    """
    h, w = shape
    ky = np.arange(h, dtype=np.float64)[:, None] - h // 2
    kx = np.arange(w, dtype=np.float64)[None, :] - w // 2
    return np.sqrt(ky * ky + kx * kx)


class ProbeResult(Protocol):
    """What every probe returns: arrays for the run store, JSON-able metadata and its measures."""

    def arrays(self) -> dict[str, np.ndarray]:
        """The result as named numpy arrays (what a run store writes per probe)."""
        ...

    def meta(self) -> dict[str, Any]:
        """JSON-able facts about the result (options used, sizes, names, summary numbers)."""
        ...

    def measures(self) -> list[Measure]:
        """The numbers the result reports (one record each in a run store)."""
        ...


@dataclass(frozen=True)
class ProbeInputs:
    """What a probe may be given; each probe says which it needs (:attr:`Probe.needs`).

    Attributes:
        model: the model under study (float images in [0, 1] -> logits), or None.
        data: the images, or None.
        seed: the run seed (keys the per-sample RNG).
        progress: optional progress callback.
        runs: stored run directories (for ``links``, which reads results instead of a model).
    """

    model: nn.Module | None = None
    data: ArrayDataset | None = None
    runs: tuple[Path, ...] = ()
    seed: int = 0
    progress: Progress | None = None


@dataclass(frozen=True)
class Probe:
    """A registered probe.

    Attributes:
        name: registry name.
        summary: one line for ``freqbench ls probes``.
        needs: which of ``"model"``, ``"data"`` and ``"runs"`` it reads.
        options: the frozen options dataclass (all fields defaulted).
        run: ``(inputs, options) -> result``.
        version: enters result keys; bump when the numbers a probe produces change.
    """

    name: str
    summary: str
    needs: frozenset[str]
    options: type
    run: Callable[[ProbeInputs, Any], ProbeResult]
    version: str = "1"

    def configure(self, values: Mapping[str, Any] | None = None) -> Any:
        """The options with ``values`` applied; strings are converted to the field's type.

        Raises:
            ConfigError: a field this probe does not have, or a value of the wrong type.
        """
        return build_options(self.name, self.options, values or {})

    def __call__(self, inputs: ProbeInputs, options: Any = None) -> ProbeResult:
        """Run the probe on ``inputs`` (default options when ``options`` is None)."""
        if options is None:
            options = self.options()
        elif not isinstance(options, self.options):
            raise ConfigError(
                f"probe {self.name!r} takes {self.options.__name__} options, got {type(options).__name__}"
            )
        for need in sorted(self.needs):
            if getattr(inputs, need) in (None, ()):
                raise ConfigError(f"probe {self.name!r} needs a {need}; pass --{need}")
        return self.run(inputs, options)


PROBES: Registry[Probe] = Registry("probe")


def _convert(probe: str, name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default`` (the field's type); strings are parsed."""
    kind = type(default)
    where = f"probe {probe!r} option {name}"
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if isinstance(default, (int, float)) and not isinstance(value, bool):
        try:
            converted = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}") from None
        if isinstance(default, int) and isinstance(value, float) and value != converted:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return converted
    if isinstance(default, str) and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            choices = ", ".join(str(c) for c in kind) if issubclass(kind, enum.Enum) else "a string"
            raise ConfigError(f"{where}: expected one of {choices}, got {value!r}") from None
    if default is None or isinstance(value, kind):
        return value
    raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")


def build_options(probe: str, cls: type, values: Mapping[str, Any]) -> Any:
    """``cls(**values)`` with unknown keys refused and strings converted (see :meth:`Probe.configure`)."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"probe {probe!r} has no option {', '.join(unknown)}; its options are {', '.join(sorted(known))}"
        )
    defaults = cls()
    kwargs = {k: _convert(probe, k, v, getattr(defaults, k)) for k, v in values.items()}
    return cls(**kwargs)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model that holds none)."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


@contextlib.contextmanager
def evaluating(model: nn.Module, *, channels_last: bool = False) -> Iterator[None]:
    """Eval mode (and NHWC parameters if asked) inside the block; the model's mode and layout are
    restored afterwards, so a probe leaves the model as it found it."""
    was_training = model.training
    kernels = [p for p in model.parameters() if p.dim() == 4]
    was_nhwc = bool(kernels) and all(
        p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in kernels
    )
    model.eval()
    if channels_last and not was_nhwc:
        model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if channels_last and not was_nhwc:
            model.to(memory_format=torch.contiguous_format)
        model.train(was_training)


def check_image_size(data: ArrayDataset, probe: str) -> tuple[int, int, int]:
    """(C, H, W) of the data, refusing an empty dataset."""
    if len(data) == 0:
        raise IncompatibleError(f"probe {probe!r} got an empty dataset; pass --limit N with N >= 1")
    return data.shape


def class_names(data: ArrayDataset) -> tuple[str, ...]:
    """The dataset's class names, or ``"0"..."K-1"`` when it has none, covering every label."""
    count = max(data.info.num_classes, int(np.max(data.labels)) + 1 if len(data) else 0)
    named = tuple(data.info.classes)
    return named if len(named) >= count else named + tuple(str(k) for k in range(len(named), count))


__all__ = [
    "PROBES",
    "Measure",
    "Probe",
    "ProbeInputs",
    "ProbeResult",
    "Progress",
    "build_options",
    "centred_radius",
    "check_image_size",
    "class_names",
    "evaluating",
    "model_device",
    "point",
]
