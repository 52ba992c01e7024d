"""Attacks: torchattacks adapters, the reference AutoAttack and frequency-constrained PGD.

Importing this package is cheap, and so is a lookup: the table below says which module registers each
name, so ``ATTACKS.get("pgd_linf_band")`` imports neither torchattacks nor pyautoattack, and listing
imports nothing. The modules register their entries themselves; the table is checked against them by
the tests.
"""

from freqbench.attacks.base import ATTACKS, Attack, Norm

#: module -> the names its import registers
_MODULES: dict[str, tuple[str, ...]] = {
    "freqbench.attacks.torchattacks_adapter": (
        "fgsm", "pgd_linf", "pgd_l2", "cw_l2", "deepfool", "square", "autoattack_torchattacks",
    ),
    "freqbench.attacks.reference_autoattack": ("autoattack",),
    "freqbench.attacks.band_pgd": ("pgd_linf_band", "pgd_l2_band"),
}  # fmt: skip
for _module, _names in _MODULES.items():
    ATTACKS.register_lazy_module(_module, _names)

__all__ = ["ATTACKS", "Attack", "Norm"]
