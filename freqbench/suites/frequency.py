"""The ``frequency`` suite: radial filters over a cutoff sweep, the seed study's blur and residual,
phase scrambling.

Cutoffs are in cycles per image (``freqbench.ops.masks``). The low-pass sweep ends at r = 23, beyond
the corner radius sqrt(2) N / 2 of the spectrum of N x N images (22.6 for 32x32, 19.8 for 28x28): the
ideal low-pass there keeps every bin and is the identity (its accuracy is the clean accuracy, a check
of the pipeline), while r = 16 is the Nyquist radius of 32x32 on the axes only and still removes the
corners. The Gaussian and Butterworth profiles attenuate every nonzero frequency at any finite r (r is
their scale, not a support), so their r = 23 is close to, not equal to, the identity. Gaussian sigmas
follow the seed study (REFERENCE.md section 4): blur sigma 1, 2, 4 and "original minus blur" residual
sigma 2, 4, 12, 20. Phase widths 30..180 degrees in steps of 30.

Signed conditions (high-pass, band-pass, Gaussian residual) feed the models values outside [0, 1];
their records carry the tag ``signed`` and reports mark them. Clamped conditions (low-pass, phase
scrambling) store per-sample ``clamped_fraction`` (and ``amplitude_error`` for phase scrambling),
shown by the ``clamping`` summary.

Adding r = 23 did not change any other condition, so the suite version (which enters every
condition's content key) stays 1 and stored results of the other conditions stay valid.
"""

from __future__ import annotations

from freqbench.config import SuiteOptions
from freqbench.suites.base import CLEAN, SUITES, Condition, Suite, condition

LOW_PASS_RADII = (1, 2, 4, 6, 8, 10, 12, 16, 23)
HIGH_PASS_RADII = (1, 2, 4, 6, 8, 12)
BANDS = ((1, 4), (4, 8), (8, 12), (12, 16))
PROFILES = ("ideal", "gaussian", "butterworth")
BLUR_SIGMAS = (1, 2, 4)
RESIDUAL_SIGMAS = (2, 4, 12, 20)
PHASE_WIDTHS = (30, 60, 90, 120, 150, 180)


def frequency_conditions() -> tuple[Condition, ...]:
    conds = [CLEAN]
    for profile in PROFILES:
        for r in LOW_PASS_RADII:
            conds.append(condition(f"low_pass_{profile}", r=r, tags={"group": f"low_pass_{profile}", "r": r}))
        for r in HIGH_PASS_RADII:
            conds.append(
                condition(f"high_pass_{profile}", r=r, tags={"group": f"high_pass_{profile}", "r": r})
            )
        for lo, hi in BANDS:
            conds.append(
                condition(
                    f"band_pass_{profile}",
                    r=[lo, hi],
                    tags={"group": f"band_pass_{profile}", "r": f"{lo}-{hi}"},
                )
            )
    conds += [
        condition("gaussian_filter", sigma=s, tags={"group": "gaussian_filter", "sigma": s})
        for s in BLUR_SIGMAS
    ]
    conds += [
        condition("gaussian_residual", sigma=s, tags={"group": "gaussian_residual", "sigma": s})
        for s in RESIDUAL_SIGMAS
    ]
    conds += [
        condition("phase_scramble", width=w, tags={"group": "phase_scramble", "width": w})
        for w in PHASE_WIDTHS
    ]
    return tuple(conds)


@SUITES.register("frequency")
def frequency_suite(options: SuiteOptions) -> Suite:
    """Radial low/high/band-pass (ideal, Gaussian, Butterworth), Gaussian blur and residual, phase."""
    return Suite(
        name="frequency",
        version=1,
        conditions=frequency_conditions(),
        summaries=("per_group", "clamping"),
        description="radial low/high/band-pass (3 profiles), Gaussian blur and residual, phase scrambling",
    )
