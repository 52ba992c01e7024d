"""The reference AutoAttack (Croce & Hein 2020, arXiv:2003.01690) from the PyPI package ``pyautoattack``.

``pyautoattack`` 0.2.0 has a keyword-only API (read from the installed package, REFERENCE.md section 7):
``AutoAttack(model, *, attacks=None, device=..., eps=..., norm=..., seed=..., version=...)`` and
``run_standard_evaluation(x, y, *, batch_size=..., state_path=...) -> (x_adv, y_adv)``.

Entries:

- ``autoattack``: the standard version: APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5000
  queries), 100 iterations each, as a cascade on the points still robust.
- the same entry with ``attacks="apgd-ce+apgd-t"``: a custom list, ``+``-separated in the order given
  (commas separate condition parameters, so the key reads ``autoattack@eps=8/255,attacks=apgd-ce+apgd-t``).
  Each listed attack keeps the *standard* version's settings (restarts, targets, queries): the object is
  built as the standard version and only its attack list is replaced.

Seeding: pyautoattack reseeds torch's global RNG with its ``seed`` before every attack; freqbench passes
:func:`~freqbench.attacks.base.batch_seed` of the batch and restores the caller's RNG state afterwards.
As with every attack driven by the global RNG, results depend on which samples share a batch.

Resumable state (``state_dir``, set by the engine to ``<run>/state/<content key>``, the key of the
condition, which covers the model's weights, the data and the attack spec, so state computed against
other weights is never reused): for each batch,
``batch-<key>-n<B>.json`` is pyautoattack's own state file (which attacks ran, robust flags), written as
the cascade progresses, and ``batch-<key>-n<B>.pt`` holds the finished adversarial images with a
fingerprint of the inputs and the attack spec. ``<key>`` is the 16-hex-digit stream key of the batch's
first sample, which the engine derives from (run seed, condition key, sample index), so it names the
batch's first sample. A rerun returns a finished batch from its ``.pt`` without attacking again. A batch
interrupted mid-cascade is *restarted*, with a warning: pyautoattack restores only the robust flags, and
returns clean images for the points broken before the interruption ("only the adversarial examples from
the current run are going to be returned"), which would count them as robust.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, get_args

import pyautoattack
import torch
from pyautoattack.autoattack import AttackName
from torch import nn

from freqbench.attacks.base import ATTACKS, AttackBase, Norm, batch_seed
from freqbench.budget import as_eps
from freqbench.errors import ConfigError, StoreError
from freqbench.ops.random import SampleGenerator
from freqbench.store.files import atomic_write_via

#: the attack names pyautoattack accepts, in its own spelling
KNOWN_ATTACKS: tuple[str, ...] = tuple(get_args(AttackName))


def parse_attack_list(attacks: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``"apgd-ce+apgd-t"`` (or a sequence) -> ``("apgd-ce", "apgd-t")``; None keeps the standard list.

    >>> parse_attack_list("apgd-ce+apgd-t")
    ('apgd-ce', 'apgd-t')
    """
    if attacks is None:
        return None
    names = tuple(a.strip() for a in (attacks.split("+") if isinstance(attacks, str) else attacks))
    bad = [a for a in names if a not in KNOWN_ATTACKS]
    if not names or bad or len(set(names)) != len(names):
        raise ConfigError(
            f"attacks must be distinct names from {list(KNOWN_ATTACKS)} joined by '+', got {attacks!r}"
        )
    return names


class ReferenceAutoAttack(AttackBase):
    """AutoAttack from pyautoattack.

    Args:
        eps: budget (number or exact fraction text).
        norm: ``Linf`` or ``L2``.
        attacks: ``None`` for the standard version, or a custom list (``"apgd-ce+apgd-t"``).
    """

    name = "autoattack"
    random = True
    uses_global_rng = True
    resumable = True

    def __init__(
        self,
        *,
        eps: float | str,
        norm: str = "Linf",
        attacks: str | list[str] | tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        self.eps = as_eps(eps)
        self.norm = Norm(norm)
        if self.norm is Norm.NONE:
            raise ConfigError("autoattack needs norm 'Linf' or 'L2'")
        self.attacks = parse_attack_list(attacks)
        version = "standard" if self.attacks is None else "custom"
        listed = "" if self.attacks is None else " [" + ", ".join(self.attacks) + "; standard settings]"
        self.implementation = f"pyautoattack {pyautoattack.__version__} {version}{listed}"

    def params(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "norm": str(self.norm),
            "attacks": None if self.attacks is None else "+".join(self.attacks),
        }

    def build(self, model: nn.Module, *, seed: int, device: torch.device) -> pyautoattack.AutoAttack:
        """The configured pyautoattack object (standard version, attack list replaced if custom)."""
        aa = pyautoattack.AutoAttack(
            model, device=device, eps=self.eps, norm=str(self.norm), seed=seed, version="standard"
        )
        if self.attacks is not None:
            aa.attacks_to_run = list(self.attacks)
            aa.version = "custom"
        return aa

    def _fingerprint(self, x: torch.Tensor, y: torch.Tensor) -> str:
        h = hashlib.sha256(json.dumps(self.spec(), sort_keys=True).encode())
        h.update(x.detach().cpu().contiguous().numpy().tobytes())
        h.update(y.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def state_paths(self, generator: SampleGenerator) -> tuple[Path, Path] | None:
        """(pyautoattack state file, finished-batch file) for this batch, or None without ``state_dir``."""
        if self.state_dir is None:
            return None
        first = int(generator.keys[0]) & 0xFFFFFFFFFFFFFFFF
        stem = Path(self.state_dir) / f"batch-{first:016x}-n{len(generator)}"
        return stem.with_suffix(".json"), stem.with_suffix(".pt")

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: SampleGenerator | None
    ) -> torch.Tensor:
        assert generator is not None  # AttackBase enforces it for random attacks
        paths = self.state_paths(generator)
        fingerprint = ""
        if paths is not None:
            state_path, done_path = paths
            fingerprint = self._fingerprint(x, y)
            if done_path.exists():
                saved = torch.load(done_path, map_location=x.device, weights_only=True)
                if saved["fingerprint"] != fingerprint:
                    raise StoreError(
                        f"{done_path} holds AutoAttack results for other images or another attack spec; "
                        "the state folder must belong to one (model, condition): use a fresh run directory "
                        "or delete that folder"
                    )
                return saved["x_adv"]
            if state_path.exists():
                warnings.warn(
                    f"restarting the interrupted AutoAttack batch {state_path.name}: pyautoattack cannot "
                    "resume inside a batch without losing the adversarial images found before the stop",
                    stacklevel=2,
                )
                state_path.unlink()
            state_path.parent.mkdir(parents=True, exist_ok=True)
        aa = self.build(model, seed=batch_seed(generator), device=x.device)
        x_adv, _ = aa.run_standard_evaluation(
            x, y, batch_size=x.shape[0], state_path=None if paths is None else paths[0]
        )
        if paths is not None:
            done = {"fingerprint": fingerprint, "x_adv": x_adv.detach().cpu()}
            atomic_write_via(paths[1], lambda f: torch.save(done, f))
        return x_adv


ATTACKS.register("autoattack", ReferenceAutoAttack)
