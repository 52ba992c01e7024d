"""Adversarial suites: ``adversarial``, ``autoattack`` and ``frequency_attacks``.

Names and parameters only; the attacks live in :mod:`freqbench.attacks` (issue 4, REFERENCE.md
section 7). Budgets suit CIFAR-size inputs in [0, 1]:

- ``adversarial``: FGSM and PGD-Linf at eps 1/255, 2/255, 4/255, 8/255, and PGD-L2 at 0.125, 0.25,
  0.5, 1.0 (the Linf grid is the usual CIFAR-10 ladder up to RobustBench's 8/255; the L2 grid doubles
  up to RobustBench's 0.5 and one step past it). PGD: 10 steps of eps/4 from one random start.
- ``autoattack``: the reference AutoAttack (pyautoattack, standard version) at Linf 8/255.
- ``frequency_attacks``: band-constrained PGD-Linf at 8/255 over low-pass r = 2, 4, 8, 12, high-pass
  r = 4, 8, 12 and bands (4, 8], (8, 12] (cycles per image, ideal masks: the frequency suite's).

**Overriding budgets** (``SuiteOptions.eps``, the CLI's ``--eps``): each value is a number or an exact
fraction as written (``"2/255"``, ``"0.5"``), optionally prefixed by its norm: ``Linf:`` or ``L2:``
(read by :func:`freqbench.budget.parse_budget`, the parser the attacks use too). Unprefixed values
are Linf. A norm that receives values has its grid *replaced* by them (in the order given); a norm
that receives none keeps its default grid in ``adversarial`` and is absent from the other two
suites' overrides. So ``--eps 2/255,8/255`` changes the FGSM/PGD-Linf ladder and keeps the L2 one,
``--eps L2:0.5`` changes only PGD-L2, and ``--eps 4/255,L2:0.5`` both. In ``autoattack`` and
``frequency_attacks`` Linf values give Linf conditions and ``L2:`` values add L2 ones
(``autoattack`` with norm L2, ``pgd_l2_band``); with no override they use Linf 8/255.

Condition keys carry eps as written (``pgd_linf@eps=8/255``, ``pgd_l2@eps=0.5``); tags are
``attack``, ``eps`` (as written), ``eps_value`` (float), ``norm`` and ``band`` (``full`` for
unconstrained attacks, else ``low:r=4``, ``high:r=8``, ``band:r=4-8``) for the summaries.
"""

from __future__ import annotations

from typing import Any

from freqbench.budget import Budget, parse_budget
from freqbench.config import SuiteOptions
from freqbench.errors import ConfigError
from freqbench.suites.base import CLEAN, SUITES, Condition, Kind, Suite, condition, format_value

LINF_EPS: tuple[str, ...] = ("1/255", "2/255", "4/255", "8/255")
L2_EPS: tuple[str, ...] = ("0.125", "0.25", "0.5", "1.0")
AUTOATTACK_EPS = "8/255"
FREQUENCY_EPS = "8/255"
PGD_STEPS = 10
#: (band, r) grid of ``frequency_attacks``
BANDS: tuple[tuple[str, float | tuple[float, float]], ...] = (
    ("low", 2),
    ("low", 4),
    ("low", 8),
    ("low", 12),
    ("high", 4),
    ("high", 8),
    ("high", 12),
    ("band", (4, 8)),
    ("band", (8, 12)),
)
SUMMARIES = ("robust_accuracy", "accuracy_vs_eps", "delta_spectrum")
#: the SuiteOptions these suites read
READS = ("eps",)


def budgets(options: SuiteOptions) -> dict[str, list[Budget]]:
    """The override values grouped by norm (empty lists where a norm got none)."""
    out: dict[str, list[Budget]] = {"Linf": [], "L2": []}
    for text in options.eps or ():
        b = parse_budget(text)
        if b.text in (o.text for o in out[b.norm]):
            raise ConfigError(f"eps {b.norm}:{b.text} given twice")
        out[b.norm].append(b)
    return out


def attack_condition(
    name: str,
    budget: Budget | None,
    *,
    band_tag: str = "full",
    shown: dict[str, Any] | None = None,
    **params: Any,
) -> Condition:
    """An attack condition whose key shows eps as written, with the summary tags."""
    key_params: dict[str, Any] = {} if budget is None else {"eps": budget.text}
    key_params.update(shown or {})
    if budget is not None:
        params = {"eps": budget.value, **params}
    norm = budget.norm if budget is not None else params.get("norm", "Linf")
    tags = {
        "attack": name,
        "eps": None if budget is None else budget.text,
        "eps_value": None if budget is None else budget.value,
        "norm": norm,
        "band": band_tag,
    }
    return condition(name, kind=Kind.ATTACK, key_params=key_params, tags=tags, **params)


def _pgd(norm: str, b: Budget) -> Condition:
    name = "pgd_linf" if norm == "Linf" else "pgd_l2"
    return attack_condition(name, b, steps=PGD_STEPS, alpha=b.value / 4, restarts=1)


def adversarial(options: SuiteOptions) -> Suite:
    """FGSM and PGD over a Linf ladder, PGD over an L2 ladder."""
    given = budgets(options)
    linf = given["Linf"] or [parse_budget(e) for e in LINF_EPS]
    l2 = given["L2"] or [parse_budget(e, norm="L2") for e in L2_EPS]
    conds = [CLEAN]
    conds += [attack_condition("fgsm", b) for b in linf]
    conds += [_pgd("Linf", b) for b in linf]
    conds += [_pgd("L2", b) for b in l2]
    return Suite(
        name="adversarial",
        version=1,
        conditions=tuple(conds),
        summaries=SUMMARIES,
        reads=READS,
        description="FGSM and PGD-Linf at eps 1-8/255, PGD-L2 at 0.125-1.0 (torchattacks)",
    )


def autoattack(options: SuiteOptions) -> Suite:
    """The reference AutoAttack (standard version) at Linf 8/255 or the given budgets."""
    given = budgets(options)
    chosen = given["Linf"] + given["L2"] or [parse_budget(AUTOATTACK_EPS)]
    conds = [CLEAN]
    for b in chosen:
        shown = {} if b.norm == "Linf" else {"norm": "L2"}
        conds.append(attack_condition("autoattack", b, shown=shown, norm=b.norm))
    return Suite(
        name="autoattack",
        version=1,
        conditions=tuple(conds),
        summaries=SUMMARIES,
        reads=READS,
        description="reference AutoAttack (pyautoattack 0.2.0, standard version) at Linf 8/255",
    )


def band_label(band: str, r: float | tuple[float, float]) -> str:
    """``low:r=4``, ``band:r=4-8``: the ``band`` tag of a band-constrained condition."""
    return f"{band}:r={format_value(list(r) if isinstance(r, tuple) else float(r))}"


def frequency_attacks(options: SuiteOptions) -> Suite:
    """Band-constrained PGD at a fixed budget over low-, high- and band-pass regions."""
    given = budgets(options)
    chosen = given["Linf"] + given["L2"] or [parse_budget(FREQUENCY_EPS)]
    conds = [CLEAN]
    for b in chosen:
        name = "pgd_linf_band" if b.norm == "Linf" else "pgd_l2_band"
        for band, r in BANDS:
            rr: Any = list(r) if isinstance(r, tuple) else r
            conds.append(
                attack_condition(
                    name,
                    b,
                    band_tag=band_label(band, r),
                    shown={"band": band, "r": rr},
                    band=band,
                    r=rr,
                    steps=PGD_STEPS,
                    alpha=b.value / 4,
                )
            )
    return Suite(
        name="frequency_attacks",
        version=1,
        conditions=tuple(conds),
        summaries=SUMMARIES,
        reads=READS,
        description="PGD-Linf at 8/255 confined to low-, high- and band-pass regions (Sharma et al. 2019)",
    )


SUITES.register("adversarial", adversarial)
SUITES.register("autoattack", autoattack)
SUITES.register("frequency_attacks", frequency_attacks)
