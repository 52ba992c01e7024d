"""perturbations package."""
