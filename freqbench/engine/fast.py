"""Preparing a model for evaluation: the fastest path that predicts what eager float32 predicts.

:func:`prepare_model` turns the model under test into the forward pass that scores input-only
conditions (perturbations, C dataset files), once per model, without touching the user's module:

- **batch norm folded** into the preceding convolution (or linear layer) of a deep copy, through
  ``torch.fx`` (``torch.fx.experimental.optimization.fuse``); a module ``torch.fx`` cannot trace
  (Python control flow on tensor values, such as freqbench's own input check in ``Normalize``) is
  left as it is and its children are tried one by one;
- **channels-last** memory format for the copy's weights and every input batch;
- ``torch.compile`` of the copy, with static shapes and inductor's ``freezing`` (weights as
  constants, so convolutions are prepacked and fused with their ReLU). On this project's 2-core CPU
  it made ResNet-20's forward pass 1.3x to 2.2x faster than the folded channels-last copy, but
  compiling took 15 to 40 s from a cold inductor cache, and as long again for the one other batch
  shape of a run (its last, smaller batch; a few seconds warm): it pays for runs of some 100,000
  images or more, not for short ones. ``RunConfig.compile`` is therefore ``auto`` by default:
  compiled on a CPU when the run scores at least :data:`AUTO_COMPILE_IMAGES` images through this
  forward pass (the main job, 76 corruption conditions x 10,000 images, does; the CI gate, 500
  images per condition, does not), ``on`` or ``off`` to decide (``--compile``). On CUDA ``auto``
  does not compile (not measured there yet: ``benchmarks/bench_engine.py --device cuda``). A
  compilation that fails falls back to the eager copy with a :class:`CompileFallbackWarning` and
  ``compile_error`` in the manifest;
- ``--precision bf16|fp16``: the forward pass under ``torch.autocast`` (AMX bf16 on CPUs that have it).

Every step changes float rounding, so every step is gated. Once per model the first
:data:`PROBE_SIZE` images of the evaluated dataset go through the module as given (eager, float32,
the reference) and through the candidate, in batches of the run's batch size. In float32 the
candidate must give the same argmax on every probe image; otherwise the next candidate with fewer
steps is tried (every subset of the steps, fastest first), down to the module as given, and the
manifest says why. Under bf16/fp16 the fraction of probe images with the same argmax as float32 is
measured on the first :data:`AGREEMENT_PROBE_SIZE` images and recorded; below :data:`MIN_AGREEMENT`
the run is refused (:class:`~freqbench.errors.ConfigError`). The larger probe because the agreement is
a measurement: over 256 images one flip moves it by 0.4 points (akamaster's ResNet-20 under bf16
agrees with float32 on 98.83% of the first 256 shared CIFAR-10 test images, 99.02% of the first
1,024 and 99.47% of all 10,000, its accuracy moving from 81.03% to 80.96%). The path that ran is
:attr:`PreparedModel.path`, which :func:`record_engine` stores per model in the manifest
(``manifest["models"][name]["engine"]``).

Attacks are crafted on the module as given and their outputs scored by it too, in float32: an
adversarial image lies on the decision boundary by construction, where a change of rounding flips
predictions that the probe of clean images cannot vouch for (:attr:`PreparedModel.scores`).

Inference mode was measured against ``torch.no_grad`` and gave nothing on this CPU (within noise,
``benchmarks/bench_engine.py``), while its tensors cannot enter autograd later (a model that caches a
tensor in its forward pass would break the next attack): the forward pass runs under ``no_grad``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import fx, nn
from torch.fx.experimental.optimization import fuse

from freqbench.config import RunConfig
from freqbench.data import ArrayDataset
from freqbench.engine.steps import Step
from freqbench.errors import ConfigError
from freqbench.store.run import RunStore

#: images at the start of the evaluated dataset on which every path is checked against eager float32
PROBE_SIZE = 256
#: the probe under bf16/fp16, where the agreement with float32 is measured and compared with the threshold
AGREEMENT_PROBE_SIZE = 1024
#: the least fraction of probe images on which a bf16/fp16 path must predict what float32 predicts
MIN_AGREEMENT = 0.99
#: ``RunConfig.precision`` -> the autocast dtype (float32 runs without autocast)
AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
FP32 = "fp32"
#: ``compile auto`` compiles on a CPU from this many images scored by the prepared forward pass
AUTO_COMPILE_IMAGES = 200_000
#: what scores attack conditions, whatever the path (module docstring)
ATTACKS_SCORED_BY = "the module as given, eager float32"
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class CompileFallbackWarning(UserWarning):
    """``torch.compile`` failed on the probe batch; the model is evaluated without it."""


@dataclass(frozen=True)
class EngineOptions:
    """What :func:`prepare_model` may do; each step is still gated on the probe batch.

    Attributes:
        precision: ``fp32`` (default), ``bf16`` or ``fp16`` (autocast).
        compile: try ``torch.compile``.
        fold_bn: fold batch norm into the preceding convolution or linear layer.
        channels_last: channels-last weights and inputs.
        min_agreement: the refusal threshold under bf16/fp16 (:data:`MIN_AGREEMENT`; benchmarks lower
            it to time a path that a run would refuse).
    """

    precision: str = FP32
    compile: bool = False
    fold_bn: bool = True
    channels_last: bool = True
    min_agreement: float = MIN_AGREEMENT

    def __post_init__(self) -> None:
        if self.precision != FP32 and self.precision not in AUTOCAST_DTYPES:
            raise ConfigError(
                f"precision {self.precision!r} is not one of {FP32}, {', '.join(AUTOCAST_DTYPES)}"
            )

    @classmethod
    def of(cls, config: RunConfig, device: torch.device, images: int) -> EngineOptions:
        """The options a run asks for: its precision, folding and channels-last on, and
        ``torch.compile`` where ``config.compile`` says so (:func:`wants_compile`)."""
        return cls(precision=config.precision, compile=wants_compile(config.compile, device, images))


def wants_compile(mode: str, device: torch.device, images: int) -> bool:
    """Whether ``RunConfig.compile`` ``mode`` compiles a forward pass that will score ``images`` images
    on ``device``: ``on`` always, ``off`` never, ``auto`` on a CPU from :data:`AUTO_COMPILE_IMAGES`."""
    if mode == "auto":
        return device.type == "cpu" and images >= AUTO_COMPILE_IMAGES
    return mode == "on"


@dataclass(frozen=True)
class EnginePath:
    """Which path scores input-only conditions, and how it compared with eager float32 on the probe.

    Attributes:
        precision: ``fp32``, ``bf16`` or ``fp16``.
        bn_folded: batch norm layers were folded (``folded_layers`` of them).
        folded_layers: how many batch norm layers were folded.
        channels_last: channels-last weights and inputs.
        compiled: ``torch.compile`` runs.
        agreement: fraction of probe images whose argmax equals eager float32's.
        probe_images: how many images the probe held.
        max_logit_diff: largest absolute logit difference from eager float32 on the probe.
        compile_error: why ``torch.compile`` was dropped (None: not asked for, or it ran).
        notes: every step that was asked for and not taken, and why.
        attacks: what scores attack conditions (:data:`ATTACKS_SCORED_BY`).
    """

    precision: str
    bn_folded: bool
    folded_layers: int
    channels_last: bool
    compiled: bool
    agreement: float
    probe_images: int
    max_logit_diff: float
    compile_error: str | None = None
    notes: tuple[str, ...] = ()
    attacks: str = ATTACKS_SCORED_BY

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notes"] = list(self.notes)
        return d


@dataclass(frozen=True)
class PreparedModel:
    """The forward pass that scores input-only conditions, and the path it takes.

    Call it with a (B, C, H, W) float batch in [0, 1] on the device; it returns float32 logits.
    """

    module: nn.Module
    path: EnginePath

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.path.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), _autocast(self.path.precision, x.device):
            return self.module(x).float()

    def scores(self, step: Step) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The forward pass that scores ``step``'s outputs: this one, or None (the module as given,
        eager float32) for steps that differentiate through the model (attacks)."""
        return None if step.needs_grad else self

    def scope(self, step: Step) -> dict[str, Any]:
        """What the path adds to ``Record.scope`` of ``step``'s records: the precision, where it
        computed them and is not float32 (float32 records keep the scope they always had)."""
        if self.path.precision == FP32 or step.needs_grad:
            return {}
        return {"precision": self.path.precision}


@contextmanager
def _autocast(precision: str, device: torch.device) -> Iterator[None]:
    if precision == FP32:
        yield
        return
    with torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision]):
        yield


def fold_batch_norm(module: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``module`` (in eval mode) with batch norm folded into the layer before it.

    A conv/linear layer whose output feeds only a batch norm with running statistics becomes one
    layer with the folded weights (``fuse_conv_bn_eval``); a module ``torch.fx`` cannot trace is kept
    and its children folded one by one. ``module`` itself is never changed.

    Returns:
        (folded copy, number of batch norm layers folded).
    """
    work = copy.deepcopy(module).eval()
    return _fold_in_place(work)


def _count_batch_norms(module: nn.Module) -> int:
    return sum(isinstance(m, _BATCH_NORMS) for m in module.modules())


def _fold_in_place(module: nn.Module) -> tuple[nn.Module, int]:
    try:
        traced = fx.symbolic_trace(module)
    except Exception:  # untraceable (control flow on values, unsupported ops): fold its children
        total = 0
        for name, child in list(module.named_children()):
            folded, count = _fold_in_place(child)
            if count:
                setattr(module, name, folded)
                total += count
        return module, total
    before = _count_batch_norms(traced)
    fused = fuse(traced, inplace=True, no_trace=True)
    count = before - _count_batch_norms(fused)
    return (fused, count) if count else (module, 0)


@dataclass(frozen=True)
class _Candidate:
    fold: bool
    channels_last: bool
    compile: bool

    def steps(self) -> str:
        done = [n for n, on in (("BN folding", self.fold), ("channels-last", self.channels_last)) if on]
        return " + ".join([*done, *(["torch.compile"] if self.compile else [])]) or "eager"


def _candidates(options: EngineOptions) -> list[_Candidate]:
    """Every subset of the steps asked for, fastest first (measured: folding with channels-last, then
    channels-last alone, then folding alone), compiled ones before the others, eager last."""
    compiled = (True, False) if options.compile else (False,)
    layouts = [(True, True), (False, True), (True, False), (False, False)]
    chain = [
        _Candidate(fold and options.fold_bn, cl and options.channels_last, comp)
        for comp in compiled
        for fold, cl in layouts
    ]
    return list(dict.fromkeys(chain))


def probe_batch(data: ArrayDataset, device: torch.device, size: int = PROBE_SIZE) -> torch.Tensor:
    """The first ``size`` images of ``data`` (all of them when fewer), on ``device``."""
    x, _ = data.batch(np.arange(min(size, len(data))))
    return x.to(device)


def _forward(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[s : s + batch_size]).float() for s in range(0, len(x), batch_size)])


def prepare_model(
    module: nn.Module,
    data: ArrayDataset,
    device: torch.device,
    options: EngineOptions | None = None,
    *,
    name: str = "model",
    batch_size: int = 256,
) -> PreparedModel:
    """The fastest gated path for ``module`` (in eval mode, on ``device``), checked on ``data``'s probe.

    Args:
        module: the model under test, as given; it is never changed (steps run on a deep copy).
        data: the evaluated dataset; its first :data:`PROBE_SIZE` images are the probe
            (:data:`AGREEMENT_PROBE_SIZE` under bf16/fp16).
        device: where the model runs.
        options: what may be tried (default: float32, folding and channels-last, no compile).
        name: the model's name, for messages.
        batch_size: the probe goes through the model in batches of this size (the run's).

    Raises:
        ConfigError: under bf16/fp16, the path agrees with float32 on fewer than :data:`MIN_AGREEMENT`
            of the probe images.
    """
    options = options or EngineOptions()
    x = probe_batch(data, device, PROBE_SIZE if options.precision == FP32 else AGREEMENT_PROBE_SIZE)
    ref = _forward(module, x, batch_size)
    notes: list[str] = []
    compile_error: str | None = None
    chosen: tuple[_Candidate, nn.Module, int, torch.Tensor] | None = None
    for cand in _candidates(options):
        if cand.compile and compile_error is not None:
            continue  # it failed once: it fails again, and warned already
        if cand == _Candidate(False, False, False) and options.precision == FP32:
            chosen = (cand, module, 0, ref)  # the reference itself
            break
        try:
            net, folded = _build(module, cand)
        except Exception as exc:  # deepcopy or tracing refused: the steps cannot run on this module
            notes.append(f"{cand.steps()} not possible ({_one_line(exc)})")
            continue
        trial = PreparedModel(net, _path(options, cand, folded, 1.0, 0, 0.0, None, notes))
        try:
            logits = _forward(trial, x, batch_size)
        except Exception as exc:
            if cand.compile:
                compile_error = _one_line(exc)
                warnings.warn(
                    f"{name}: torch.compile failed on the probe batch ({compile_error}); evaluating "
                    "without it (recorded in the manifest as compile_error)",
                    CompileFallbackWarning,
                    stacklevel=2,
                )
                notes.append(f"torch.compile dropped: it failed ({compile_error})")
            else:
                notes.append(f"{cand.steps()} dropped: the forward pass failed ({_one_line(exc)})")
            continue
        flips = int((logits.argmax(1) != ref.argmax(1)).sum())
        if options.precision == FP32 and flips:
            notes.append(
                f"{cand.steps()} dropped: it changed the prediction of {flips} of {len(x)} probe images"
            )
            continue
        chosen = (cand, net, folded, logits)
        break
    assert chosen is not None  # float32 always ends at the module as given; autocast at the last try
    cand, net, folded, logits = chosen
    agreement = float((logits.argmax(1) == ref.argmax(1)).double().mean()) if len(x) else 1.0
    gap = (logits - ref).abs()
    gap = gap[torch.isfinite(gap)]
    diff = float(gap.max()) if gap.numel() else 0.0
    path = _path(options, cand, folded, agreement, len(x), diff, compile_error, notes)
    if options.precision != FP32 and agreement < options.min_agreement:
        raise ConfigError(
            f"--precision {options.precision}: {name} predicts what float32 predicts on only "
            f"{agreement:.2%} of the {len(x)} probe images (the first images of the dataset), below the "
            f"{options.min_agreement:.0%} required; evaluate it in float32 (--precision fp32, the default)"
        )
    return PreparedModel(net, path)


def _build(module: nn.Module, cand: _Candidate) -> tuple[nn.Module, int]:
    if cand == _Candidate(False, False, False):
        return module, 0  # autocast alone changes nothing in the module
    if cand.fold:
        net, folded = fold_batch_norm(module)
    else:
        net, folded = copy.deepcopy(module).eval(), 0
    if cand.channels_last:
        net = net.to(memory_format=torch.channels_last)
    if cand.compile:
        # compiles on the first call (the probe); static shapes keep the frozen, prepacked kernels
        net = torch.compile(net, dynamic=False, options={"freezing": True})  # type: ignore[assignment]
    return net, folded


def _path(
    options: EngineOptions,
    cand: _Candidate,
    folded: int,
    agreement: float,
    probe: int,
    diff: float,
    compile_error: str | None,
    notes: list[str],
) -> EnginePath:
    return EnginePath(
        precision=options.precision,
        bn_folded=folded > 0,
        folded_layers=folded,
        channels_last=cand.channels_last,
        compiled=cand.compile,
        agreement=agreement,
        probe_images=probe,
        max_logit_diff=diff,
        compile_error=compile_error,
        notes=tuple(notes),
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def record_engine(store: RunStore, model: str, path: EnginePath) -> None:
    """Store ``path`` as ``manifest["models"][model]["engine"]``: the path of the latest invocation
    (a resumed run may take another one, on another device or with ``--compile``; none of them
    changes a prediction of the probe, and the precision, which decides results, cannot change).

    A directory without a manifest (``run_model`` called without :func:`freqbench.api.run`, which
    writes it first) has no provenance to add to, and is left alone.
    """
    if not store.exists():
        return
    manifest = store.read_manifest()
    entry = {**manifest.get("models", {}).get(model, {}), "engine": path.to_dict()}
    manifest["models"] = {**manifest.get("models", {}), model: entry}
    manifest["invocations"] = []  # write_manifest appends these to the stored ones: none is new
    store.write_manifest(manifest)


__all__ = [
    "AGREEMENT_PROBE_SIZE",
    "AUTO_COMPILE_IMAGES",
    "AUTOCAST_DTYPES",
    "MIN_AGREEMENT",
    "PROBE_SIZE",
    "CompileFallbackWarning",
    "EngineOptions",
    "EnginePath",
    "PreparedModel",
    "fold_batch_norm",
    "prepare_model",
    "probe_batch",
    "record_engine",
    "wants_compile",
]
