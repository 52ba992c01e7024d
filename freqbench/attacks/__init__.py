"""Attacks: torchattacks adapters, the reference AutoAttack and frequency-constrained PGD.

Importing this package is cheap; the modules that register entries (and import torchattacks or
pyautoattack) are imported on the first registry lookup.
"""

from freqbench.attacks.base import ATTACKS, Attack, Norm

for _module in (
    "freqbench.attacks.torchattacks_adapter",
    "freqbench.attacks.reference_autoattack",
    "freqbench.attacks.band_pgd",
):
    ATTACKS.register_module(_module)

__all__ = ["ATTACKS", "Attack", "Norm"]
