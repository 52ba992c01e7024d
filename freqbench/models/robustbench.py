"""RobustBench model zoo (Croce et al. 2021, arXiv:2010.09670) as the ``robustbench:`` model family.

Spelling: ``robustbench:<dataset>/<threat_model>/<name>``, e.g. ``robustbench:cifar10/Linf/Standard``,
``robustbench:cifar100/corruptions/Hendrycks2020AugMix_ResNeXt``. ``robustbench:<name>`` alone means
``cifar10/Linf/<name>``. Datasets and threat models are RobustBench's enums (``cifar10``, ``cifar100``,
``imagenet``; ``Linf``, ``L2``, ``corruptions``, ``corruptions_3d``); names are the zoo's keys
(``robustbench.model_zoo.model_dicts``), listed by ``freqbench ls models 'robustbench:*'``.

Weights: RobustBench's layout ``<model_dir>/<dataset>/<threat_model>/<name>.pt`` (ensembles:
``<name>.pt_m0.pt``, ``<name>.pt_m1.pt``...), searched in ``$FREQBENCH_ROBUSTBENCH_DIR`` (if set),
``$FREQBENCH_HOME/robustbench`` and RobustBench's default ``./models``. The architecture and the
checkpoint quirks (``state_dict`` keys, ``module.`` prefixes, per-model fixes) are RobustBench's own:
``build`` calls ``robustbench.utils.load_model`` on the folder that holds the file, and only once the
file is known to exist, so RobustBench never starts a Google-Drive download. Offline, a missing file
raises :class:`~freqbench.errors.MissingDataError` naming the paths searched and the ``gdown`` command
that fetches it. Entries RobustBench serves through timm (Hugging Face hub) load from the hub cache.

RobustBench models take [0, 1] inputs and carry any normalisation inside (its contract), so their
:class:`~freqbench.models.base.ModelConfig` has identity mean 0 / std 1 and no pinned weights; the
entry's ``build`` gives the bare architecture and ``build_pretrained`` the network with its weights
and the :class:`~freqbench.models.base.WeightSource` of the file(s) it loaded, whose sha256 (of the
file's bytes; for an ensemble, of its members' names and digests) enters the result keys.

Safe loading: robustbench 1.1.1 reads checkpoints with a bare ``torch.load(path)``. The shim gives
``robustbench.utils`` a view of ``torch`` whose ``load`` is
:func:`freqbench.models.loading.read_checkpoint` (``torch.load(..., weights_only=True)``, explicit),
so a file that carries pickled code, or is corrupt or truncated, is a
:class:`~freqbench.errors.CheckpointError`; a file whose tensors do not fit the architecture is one too.

Import shim (:func:`import_robustbench`): robustbench 1.1.1 imports ``autoattack`` and
``autoattack.state`` (``robustbench/eval.py``: ``AutoAttack``, ``EvaluationState``), but its PyPI
dependency installs the package as ``pyautoattack``. Before importing robustbench the shim registers
``pyautoattack`` and ``pyautoattack.state`` under those names in ``sys.modules`` (only where no
``autoattack`` module is importable). It also needs ``pkg_resources`` (setuptools < 81, pinned in
pyproject.toml), whose deprecation warning it silences. pyautoattack's ``AutoAttack`` is keyword-only,
so ``robustbench.eval.benchmark`` (which freqbench does not use) is not supported through the shim.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from freqbench.config import freqbench_home
from freqbench.errors import (
    CheckpointError,
    ConfigError,
    DependencyError,
    FreqbenchError,
    MissingDataError,
    UnknownNameError,
)
from freqbench.models.base import MODELS, ModelConfig, ModelEntry, WeightSource
from freqbench.models.loading import read_checkpoint
from freqbench.models.timm_adapter import cached_weight_file, weight_source
from freqbench.store.fingerprint import sha256_cached

PREFIX = "robustbench"
DEFAULT_DATASET = "cifar10"
DEFAULT_THREAT = "Linf"
ENV_DIR = "FREQBENCH_ROBUSTBENCH_DIR"
#: number of classes and input size per RobustBench dataset (ImageNet models get Res256Crop224 inputs)
DATASETS: dict[str, tuple[int, tuple[int, int, int]]] = {
    "cifar10": (10, (3, 32, 32)),
    "cifar100": (100, (3, 32, 32)),
    "imagenet": (1000, (3, 224, 224)),
}
_PAPER = "Croce et al. 2021, RobustBench: a standardized adversarial robustness benchmark, arXiv:2010.09670"


class _WeightsOnlyTorch(ModuleType):
    """``torch`` as ``robustbench.utils`` sees it: the same module, except that ``load`` is
    :func:`read_checkpoint` (explicit ``weights_only=True``, onto the CPU, typed errors)."""

    def __init__(self) -> None:
        super().__init__("torch", "torch for robustbench.utils, with weights-only checkpoint loading")

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def load(f: str | os.PathLike[str], *args: Any, **kwargs: Any) -> object:
        return read_checkpoint(Path(f))


def _safe_loading(rb_utils: ModuleType) -> None:
    if not isinstance(getattr(rb_utils, "torch", None), _WeightsOnlyTorch):
        rb_utils.torch = _WeightsOnlyTorch()  # type: ignore[attr-defined]


def import_robustbench() -> ModuleType:
    """Import robustbench with the ``autoattack`` alias, the ``pkg_resources`` check and weights-only
    checkpoint loading (module docstring)."""
    if "robustbench.utils" in sys.modules:
        _safe_loading(sys.modules["robustbench.utils"])
        return sys.modules["robustbench"]
    if "autoattack" not in sys.modules and importlib.util.find_spec("autoattack") is None:
        try:
            pyautoattack = importlib.import_module("pyautoattack")
            state = importlib.import_module("pyautoattack.state")
        except ImportError as err:
            raise DependencyError(
                "robustbench needs pyautoattack (imported as 'autoattack'): pip install pyautoattack==0.2.0"
            ) from err
        sys.modules["autoattack"] = pyautoattack
        sys.modules["autoattack.state"] = state
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        try:
            importlib.import_module("pkg_resources")
        except ImportError as err:
            raise DependencyError(
                "robustbench 1.1.1 imports pkg_resources, removed in setuptools 81: "
                "pip install 'setuptools>=68,<81'"
            ) from err
        try:
            module = importlib.import_module("robustbench")
            rb_utils = importlib.import_module("robustbench.utils")
        except ImportError as err:
            raise DependencyError(
                f"cannot import robustbench ({err}): pip install robustbench==1.1.1"
            ) from err
    _safe_loading(rb_utils)
    return module


@functools.lru_cache(maxsize=1)
def zoo() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """``{(dataset, threat_model): {name: zoo entry}}`` from ``robustbench.model_zoo``."""
    import_robustbench()
    from robustbench.model_zoo import model_dicts

    return {
        (ds.value, tm.value): dict(models)
        for ds, by_tm in model_dicts.items()
        for tm, models in by_tm.items()
    }


def parse_name(rest: str) -> tuple[str, str, str]:
    """``"cifar10/Linf/Standard"`` or ``"Standard"`` -> (dataset, threat_model, name)."""
    parts = rest.split("/")
    if len(parts) == 1 and parts[0]:
        return DEFAULT_DATASET, DEFAULT_THREAT, parts[0]
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    raise ConfigError(
        f"robustbench models are named 'robustbench:<dataset>/<threat_model>/<name>' "
        f"(or 'robustbench:<name>' for cifar10/Linf), got 'robustbench:{rest}'"
    )


def list_models() -> list[str]:
    """Every zoo entry as ``robustbench:<dataset>/<threat_model>/<name>``."""
    return [f"{PREFIX}:{ds}/{tm}/{name}" for (ds, tm), models in zoo().items() for name in models]


def model_dirs() -> list[Path]:
    """Folders searched for RobustBench's ``<dataset>/<threat_model>/<name>.pt`` layout, in order."""
    dirs = [Path(os.environ[ENV_DIR]).expanduser()] if os.environ.get(ENV_DIR) else []
    return dirs + [freqbench_home() / "robustbench", Path("models")]


def weight_files(dataset: str, threat: str, name: str, entry: dict[str, Any]) -> list[str]:
    """Checkpoint file paths relative to a model_dir (RobustBench's naming, ensembles included)."""
    # RobustBench stores corruptions_3d models in the corruptions folder (robustbench.utils.load_model).
    base = f"{dataset}/{threat.replace('_3d', '')}/{name}.pt"
    ids = entry["gdrive_id"]
    return [f"{base}_m{i}.pt" for i in range(len(ids))] if isinstance(ids, list) else [base]


def _timm_name(dataset: str, threat: str, name: str) -> str:
    return f"{name.lower().replace('-', '_')}_{dataset.lower()}_{threat.replace('_3d', '').lower()}"


def _lookup(rest: str) -> tuple[str, str, str, dict[str, Any]]:
    dataset, threat, name = parse_name(rest)
    models = zoo().get((dataset, threat))
    if models is None:
        known = sorted({f"{d}/{t}" for d, t in zoo()})
        raise UnknownNameError(f"no RobustBench zoo for {dataset}/{threat}; known: {', '.join(known)}")
    if name not in models:
        import difflib

        close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(
            f"unknown RobustBench model {name!r} for {dataset}/{threat}.{hint} "
            f"See `freqbench ls models 'robustbench:{dataset}/{threat}/*'`."
        )
    return dataset, threat, name, models[name]


def build(cfg: ModelConfig) -> nn.Module:
    """The zoo architecture, randomly initialised (RobustBench's ``model_dicts[...]['model']()``)."""
    _, _, _, entry = _lookup(f"{cfg.extra['dataset']}/{cfg.extra['threat_model']}/{cfg.extra['zoo_name']}")
    return entry["model"]()


def files_source(root: Path, files: list[str]) -> WeightSource:
    """The :class:`WeightSource` of checkpoint ``files`` (relative to ``root``) as loaded.

    One file: its sha256. An ensemble: the sha256 of its members' ``<name> <sha256>`` lines, in order.
    """
    digests = [sha256_cached(root / f) for f in files]
    if len(files) == 1:
        return WeightSource(sha256=digests[0], filename=files[0])
    lines = "".join(f"{f} {d}\n" for f, d in zip(files, digests, strict=True))
    return WeightSource(sha256=hashlib.sha256(lines.encode()).hexdigest(), filename=" + ".join(files))


def _rb_load(cfg: ModelConfig, where: str, **kwargs: Any) -> nn.Module:
    """``robustbench.utils.load_model`` with any failure of a file that exists as a CheckpointError."""
    rb = import_robustbench()
    name = str(cfg.extra["zoo_name"])
    try:
        net: nn.Module = rb.utils.load_model(
            name, dataset=cfg.extra["dataset"], threat_model=cfg.extra["threat_model"], **kwargs
        )
    except (FreqbenchError, OSError):
        raise
    except Exception as exc:  # RobustBench's own layout handling: KeyError, RuntimeError (shapes)...
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise CheckpointError(
            f"{where} does not fit RobustBench's architecture for {cfg.name} ({type(exc).__name__}: "
            f"{detail}). The file is damaged or belongs to another model: delete it and fetch it again."
        ) from exc
    return net.eval()


def build_pretrained(cfg: ModelConfig) -> tuple[nn.Module, WeightSource]:
    """The zoo architecture with its weights, loaded by RobustBench from a local model_dir.

    Returns:
        (network, source of the file(s) loaded).

    Raises:
        MissingDataError: the checkpoint is in none of :func:`model_dirs` (or, for timm-served
            entries, neither in the Hugging Face cache nor downloadable).
        CheckpointError: a checkpoint carries pickled code, is corrupt, or does not fit.
    """
    dataset, threat, name = (str(cfg.extra[k]) for k in ("dataset", "threat_model", "zoo_name"))
    _, _, _, entry = _lookup(f"{dataset}/{threat}/{name}")
    import timm

    tname = _timm_name(dataset, threat, name)
    if timm.is_model(tname):
        try:
            net = _rb_load(cfg, f"the timm checkpoint of {tname}")
        except OSError as err:
            raise MissingDataError(
                f"RobustBench serves {cfg.name} through timm ({tname}) from the "
                f"Hugging Face hub, and it is not in the local hub cache ({err}). Download it once online "
                "(it is then cached) or set HF_HOME to a cache that holds it."
            ) from err
        pcfg = timm.models.get_pretrained_cfg(tname)
        path = cached_weight_file(pcfg.hf_hub_id, pcfg.hf_hub_filename) if pcfg and pcfg.hf_hub_id else None
        if path is None:
            raise MissingDataError(
                f"{cfg.name}: timm loaded {tname}, but its weight file is not in the Hugging Face cache "
                f"({pcfg.hf_hub_id if pcfg else 'no hub id'}), so the weights cannot be fingerprinted; "
                "set HF_HOME to the cache timm downloads into"
            )
        return net, weight_source(path)
    files = weight_files(dataset, threat, name, entry)
    for root in model_dirs():
        if all((root / f).is_file() for f in files):
            where = ", ".join(str(root / f) for f in files)
            try:
                net = _rb_load(cfg, where, model_dir=str(root))
            except OSError as err:
                raise CheckpointError(f"{where} cannot be read ({err}); check its permissions") from err
            return net, files_source(root, files)
    ids = entry["gdrive_id"] if isinstance(entry["gdrive_id"], list) else [entry["gdrive_id"]]
    target = model_dirs()[0]
    fetch = "; ".join(f"gdown {gid} -O {target / f}" for gid, f in zip(ids, files))
    searched = ", ".join(str(root / files[0]) for root in model_dirs())
    raise MissingDataError(
        f"RobustBench weights for {cfg.name} not found: looked for {searched}. "
        f"Fetch them online with `mkdir -p {(target / files[0]).parent} && {fetch}` "
        f"(or in Python: `from freqbench.models.robustbench import import_robustbench; "
        f"import_robustbench().utils.load_model({name!r}, model_dir={str(target)!r}, dataset={dataset!r}, "
        f"threat_model={threat!r})`), or set ${ENV_DIR} to a folder with that layout."
    )


def entry(rest: str) -> ModelEntry:
    """The ``robustbench:`` prefix factory."""
    dataset, threat, name, _ = _lookup(rest)
    num_classes, input_size = DATASETS[dataset]
    full = f"{PREFIX}:{dataset}/{threat}/{name}"
    cfg = ModelConfig(
        name=full,
        arch=name,
        dataset=dataset,
        num_classes=num_classes,
        input_size=input_size,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        weights=None,
        license="see the paper of the zoo entry (RobustBench model zoo)",
        paper=_PAPER,
        notes=f"RobustBench {dataset}/{threat} entry {name!r}; weights loaded by build_pretrained() from "
        f"<model_dir>/{dataset}/{threat.replace('_3d', '')}/{name}.pt; normalisation (if any) is inside "
        "the network.",
        extra={"dataset": dataset, "threat_model": threat, "zoo_name": name},
    )
    return ModelEntry(cfg=cfg, build=build, build_pretrained=build_pretrained)


MODELS.register_prefix(
    PREFIX,
    entry,
    lister=list_models,
    help="RobustBench zoo: robustbench:<dataset>/<threat_model>/<name> (default cifar10/Linf)",
)
