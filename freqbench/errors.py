"""Typed errors of freqbench.

Every error says what was expected, what was found and what to do. They all derive from
:class:`FreqbenchError`, so a caller (the CLI) can turn any of them into a clean one-line message and a
non-zero exit code without a traceback.
"""

from __future__ import annotations


class FreqbenchError(Exception):
    """Base class of every error freqbench raises on purpose."""


class UnknownNameError(FreqbenchError, LookupError):
    """A registry lookup failed; the message lists the closest registered names."""


class ConfigError(FreqbenchError, ValueError):
    """An option or a condition string is malformed or out of range."""


class MissingDataError(FreqbenchError, FileNotFoundError):
    """A dataset or weight file is not on disk (and could not be downloaded)."""


class DataFormatError(FreqbenchError, ValueError):
    """A dataset file exists but is not in the expected format (truncated, wrong magic, wrong shape)."""


class ChecksumError(FreqbenchError):
    """A file's sha256 differs from the pinned one."""


class CheckpointError(FreqbenchError):
    """A checkpoint cannot be loaded safely or does not fit the architecture."""


class IncompatibleError(FreqbenchError, ValueError):
    """A model and a dataset (or an input) disagree on channels, size or class count."""


class BackendError(FreqbenchError, ValueError):
    """A compute backend asked for by name cannot serve the request (device, dtype or size)."""


class NonFiniteError(FreqbenchError, ArithmeticError):
    """A model returned NaN or infinite logits (broken weights or inputs): no accuracy is counted."""


class MissingResultError(FreqbenchError, LookupError):
    """A summary needs records the run does not hold (a model's clean accuracy, a corruption condition)."""


class DependencyError(FreqbenchError, ImportError):
    """An optional third-party package is missing or cannot be imported."""


class StoreError(FreqbenchError):
    """A run directory is unreadable or belongs to a different configuration."""


class RegressionError(FreqbenchError):
    """A run fell below its committed baseline (raised by ``freqbench check``)."""


class DistributedError(FreqbenchError):
    """The processes of a sharded run (torchrun) cannot join, or disagree on what they evaluate."""
