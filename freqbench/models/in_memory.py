"""In-memory models: an ``nn.Module`` handed over by a notebook, described by a :class:`ModelConfig`.

A registered model carries its config next to the code that builds it; a module built by the caller
has none, so :meth:`InMemoryModel.build` makes one from the few facts the engine needs, as
RobustBench's ``benchmark`` does: the number of classes (given, or read from one forward pass), the
input size (the dataset's), and where the normalisation lives (inside the module, or given as
``mean`` / ``std``, in which case the module is wrapped in
:class:`~freqbench.nn.normalize.Classifier`).

Results of a registered model are keyed by the sha256 of its weight file; an in-memory module has no
file, so its key is :func:`state_dict_sha256`, a fingerprint of every tensor of its ``state_dict``.
Other weights under the same name therefore never reuse, or mix with, stored results.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from freqbench.errors import ConfigError, IncompatibleError
from freqbench.models.base import ModelConfig
from freqbench.nn.normalize import Classifier, Normalize

#: prefix of an in-memory model's weights fingerprint (a file's is its bare sha256)
WEIGHTS_PREFIX = "state_dict:sha256="


def state_dict_sha256(module: nn.Module) -> str:
    """sha256 over the name, dtype, shape and bytes of every tensor of ``module.state_dict()``.

    Tensors are hashed in ``state_dict`` order, as their CPU contiguous bytes (native byte order), so
    the digest follows the values and not the device or memory layout. Non-persistent buffers (such
    as :class:`~freqbench.nn.normalize.Normalize`'s mean and std) are not in a ``state_dict``.

    >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    >>> _ = b.load_state_dict(a.state_dict())
    >>> state_dict_sha256(a) == state_dict_sha256(b)
    True
    >>> with torch.no_grad():
    ...     _ = b.bias.add_(1e-6)
    >>> state_dict_sha256(a) == state_dict_sha256(b)
    False
    """
    h = hashlib.sha256()
    for name, value in module.state_dict().items():
        if not isinstance(value, torch.Tensor):  # extra_state objects: their repr is what we have
            h.update(f"{name}|extra|{value!r}\n".encode())
            continue
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(value.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
        h.update(b"\n")
    return h.hexdigest()


def _normalisation(
    mean: Sequence[float] | None, std: Sequence[float] | None, channels: int | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Checked ``(mean, std)`` (one value per channel when ``channels`` is known), or None for none."""
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise ConfigError(
            f"give both mean and std, or neither (normalisation inside the module); got "
            f"mean={mean!r}, std={std!r}"
        )
    try:
        m, s = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    except (TypeError, ValueError):
        raise ConfigError(f"mean and std must be sequences of numbers, got {mean!r} and {std!r}") from None
    if not m or not all(math.isfinite(v) for v in m) or not all(math.isfinite(v) and v > 0 for v in s):
        raise ConfigError(f"mean must be finite and std finite and positive, got mean={m}, std={s}")
    if channels is not None and (len(m) != channels or len(s) != channels):
        raise ConfigError(
            f"mean and std need one value per channel ({channels}), got {len(m)} and {len(s)} values"
        )
    return m, s


@dataclass(frozen=True, eq=False)
class InMemoryModel:
    """A caller's ``nn.Module`` and the facts freqbench cannot read from it.

    The module takes float images in [0, 1] of shape (B, C, H, W) and returns logits (B, K); with
    ``mean`` and ``std`` it takes normalised images and freqbench normalises for it.

    Attributes:
        module: the network. Evaluation puts it in eval mode and moves it to the run's device.
        name: the name its results are stored under (default ``module:<ClassName>``).
        num_classes: number of logits (default: read from one forward pass on the first image).
        mean, std: per-channel normalisation to apply before ``module`` (default: none, the module
            normalises its [0, 1] input itself).
    """

    module: nn.Module
    name: str | None = None
    num_classes: int | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.module, nn.Module):
            raise ConfigError(f"expected a torch nn.Module, got {type(self.module).__name__}")
        if self.name is not None and not self.name.strip():
            raise ConfigError("name must be a non-empty string; omit it for module:<ClassName>")
        k = self.num_classes
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ConfigError(f"num_classes must be a positive integer, got {self.num_classes!r}")
        _normalisation(self.mean, self.std)  # the channel count is checked against the data in build

    @property
    def label(self) -> str:
        """The stored name: ``name``, or ``module:<ClassName>``."""
        return self.name if self.name is not None else f"module:{type(self.module).__name__}"

    def build(
        self, *, dataset: str, input_size: tuple[int, int, int], sample: torch.Tensor
    ) -> tuple[nn.Module, ModelConfig, str]:
        """The module to evaluate, its config and its weights fingerprint.

        Args:
            dataset: name of the dataset it is evaluated on (the config's ``dataset``).
            input_size: (C, H, W) of that dataset's images.
            sample: one image (1, C, H, W) in [0, 1], on the device to run the forward pass on when
                ``num_classes`` must be read from the module.

        Returns:
            (module in eval mode, behind :class:`Classifier` when mean/std are given; its
            :class:`ModelConfig`, whose ``extra`` holds the fingerprint, so the result spec does;
            ``state_dict:sha256=<fingerprint>``).

        Raises:
            ConfigError: mean/std that do not fit the channels.
            IncompatibleError: the module fails on, or returns no (1, K) logits for, the sample.
        """
        c = input_size[0]
        norm = _normalisation(self.mean, self.std, c)
        fingerprint = state_dict_sha256(self.module)  # before any forward pass can touch a buffer
        net = self.module.eval()
        module: nn.Module = net if norm is None else Classifier(Normalize(*norm), net).eval()
        num_classes = self.num_classes or self._count_classes(module, sample)
        mean, std = norm if norm is not None else ((0.0,) * c, (1.0,) * c)
        where = "inside the module" if norm is None else "by freqbench with the given mean/std"
        cfg = ModelConfig(
            name=self.label,
            arch=type(self.module).__name__,
            dataset=dataset,
            num_classes=num_classes,
            input_size=input_size,
            mean=mean,
            std=std,
            notes=f"in-memory {type(self.module).__qualname__}; inputs normalised {where}",
            extra={"state_dict_sha256": fingerprint, "normalisation": "given" if norm else "inside"},
        )
        return module, cfg, WEIGHTS_PREFIX + fingerprint

    def _count_classes(self, module: nn.Module, sample: torch.Tensor) -> int:
        try:
            with torch.no_grad():
                out = module.to(sample.device)(sample)
        except Exception as exc:
            raise IncompatibleError(
                f"{self.label} failed on one image of shape {tuple(sample.shape)} in [0, 1] "
                f"({type(exc).__name__}: {exc}); it must map (B, C, H, W) images to (B, K) logits"
            ) from exc
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise IncompatibleError(
                f"{self.label} returned {shape} for one image of shape {tuple(sample.shape)}, "
                "expected logits of shape (1, K)"
            )
        return int(out.shape[1])


__all__ = ["WEIGHTS_PREFIX", "InMemoryModel", "state_dict_sha256"]
