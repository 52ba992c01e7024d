"""Probes: analyses that look inside a model or a dataset (input and filter spectra, Fourier heat maps,
Fourier masks). ``PROBES`` maps a name to a :class:`Probe`; the probe modules register on first lookup,
so importing this package computes nothing."""

from freqbench.probes.base import PROBES, Probe, ProbeInputs, ProbeResult

PROBES.register_module("freqbench.probes.input_spectrum")
PROBES.register_module("freqbench.probes.filter_spectrum")
PROBES.register_module("freqbench.probes.fourier_heatmap")
PROBES.register_module("freqbench.probes.fourier_mask")
PROBES.register_module("freqbench.probes.links")

__all__ = ["PROBES", "Probe", "ProbeInputs", "ProbeResult"]
