"""Suite specs: names and parameters only. Modules register on first lookup."""

from freqbench.suites.base import SUITES, Condition, Kind, Suite, condition

SUITES.register_module("freqbench.suites.frequency")
SUITES.register_module("freqbench.suites.adversarial")
SUITES.register_module("freqbench.suites.corruptions")

__all__ = ["SUITES", "Condition", "Kind", "Suite", "condition"]
