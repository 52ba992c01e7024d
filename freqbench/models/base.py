"""The model contract, model configs and the model registry.

A model takes float images in [0, 1] (B, C, H, W) and returns logits (B, K); normalisation lives
inside it (:class:`freqbench.nn.normalize.Normalize`). Each entry carries a :class:`ModelConfig` next to
the code that builds it (timm's pretrained-cfg idea): dataset, classes, input size, mean/std, weight
source with sha256, licence and paper. Checkpoint quirks (a ``module.`` prefix, the key that holds the
state dict) live in :class:`WeightSource`, never in ``if name == ...`` branches of a loader.

``MODELS`` maps names ``<arch>_<dataset>[.<weights-tag>]`` to :class:`ModelEntry`; ``timm:``,
``checkpoint:`` and ``robustbench:`` are prefix families.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from freqbench.registry import Registry


@dataclass(frozen=True)
class WeightSource:
    """Where pretrained weights come from and how the checkpoint is laid out.

    Attributes:
        url: public download URL (None for weights shipped inside the package).
        sha256: pinned checksum of the file.
        filename: file name in the cache (``$FREQBENCH_HOME/weights/<filename>``).
        state_dict_key: key of the state dict inside a dict checkpoint (None: the file is the state dict).
        strip_prefix: prefix removed from every key (``module.`` for DataParallel checkpoints).
        package_resource: path inside the freqbench package for bundled weights.
    """

    sha256: str
    filename: str
    url: str | None = None
    state_dict_key: str | None = None
    strip_prefix: str = ""
    package_resource: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """Everything known about a model entry.

    Attributes:
        name: registry name.
        arch: architecture name.
        dataset: dataset it was trained on.
        num_classes: number of logits.
        input_size: (C, H, W) it expects (H, W may be None for size-agnostic nets).
        mean, std: normalisation applied inside the model, per channel.
        weights: pretrained weight source (None: no pretrained weights).
        license, paper, notes: provenance.
        adaptable: the builder honours any ``num_classes`` / ``input_size`` put in the config, so
            :func:`freqbench.models.loading.adapt` may change them (timm models).
    """

    name: str
    arch: str
    dataset: str
    num_classes: int
    input_size: tuple[int, int | None, int | None]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: WeightSource | None = None
    license: str = ""
    paper: str = ""
    notes: str = ""
    adaptable: bool = False
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def result_spec(self) -> dict[str, Any]:
        """JSON-stable description of everything in the config that decides a model's outputs.

        Architecture, classes, input size and channels, normalisation, the builder's parameters
        (``extra``) and the weights (sha256 of the file loaded and its layout quirks). Provenance that
        cannot change an output (name, dataset trained on, licence, paper, notes, URL, file name) is left
        out, so editing it keeps every stored result valid. This dict enters the result keys.

        >>> cfg = ModelConfig("m", "resnet20", "cifar10", 10, (3, 32, 32), (0.5,) * 3, (0.25,) * 3)
        >>> cfg.result_spec()["mean"], cfg.result_spec()["weights"]
        ([0.5, 0.5, 0.5], None)
        """
        w = self.weights
        spec = {
            "arch": self.arch,
            "num_classes": self.num_classes,
            "input_size": list(self.input_size),
            "mean": [float(m) for m in self.mean],
            "std": [float(s) for s in self.std],
            "weights": None
            if w is None
            else {"sha256": w.sha256, "state_dict_key": w.state_dict_key, "strip_prefix": w.strip_prefix},
            "extra": self.extra,
        }
        # canonical JSON (tuples as lists, keys sorted); repr() for anything JSON has no type for
        out: dict[str, Any] = json.loads(json.dumps(spec, sort_keys=True, default=repr))
        return out


PretrainedBuilder = Callable[[ModelConfig], tuple[nn.Module, WeightSource]]
"""``cfg -> (network with its weights, the WeightSource of the file(s) actually loaded)``."""


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its config and a builder of the bare architecture (no normalisation).

    ``build(cfg)`` returns the network whose ``state_dict`` the weight file fills.
    ``build_pretrained(cfg)`` (optional) returns the network with its pretrained weights already in
    place, for families whose weights do not come from ``cfg.weights`` (a local checkpoint file, the
    Hugging Face cache, a RobustBench model_dir), together with the :class:`WeightSource` of what it
    loaded (its sha256 is the fingerprint of the file actually read, which enters the result keys);
    ``load_model`` prefers it when pretrained weights are asked for.
    ``random_init``: the entry is a random initialisation by its very name (``timm:X?pretrained=false``),
    so building it without weights is what was asked for, not a fallback worth a warning.
    """

    cfg: ModelConfig
    build: Callable[[ModelConfig], nn.Module]
    build_pretrained: PretrainedBuilder | None = None
    random_init: bool = False


MODELS: Registry[ModelEntry] = Registry("model")
