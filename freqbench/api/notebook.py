"""Notebooks: :func:`evaluate`, ``freqbench run`` for one model name or in-memory ``nn.Module``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from freqbench.api.names import expand_models, get_suite
from freqbench.api.runs import RunResult, run
from freqbench.config import RunConfig, SuiteOptions
from freqbench.engine.progress import Progress
from freqbench.errors import ConfigError
from freqbench.models.in_memory import InMemoryModel


def _as_tuple(value: Any, convert: Callable[[Any], Any]) -> tuple[Any, ...] | None:
    """``None``, one value or a sequence of values as a tuple (a string is one value)."""
    if value is None:
        return None
    items = [value] if isinstance(value, (str, int, float)) else list(value)
    return tuple(convert(v) for v in items)


def _severity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"severities are integers 1..5, got {value!r}")
    return value


def evaluate(
    model: str | nn.Module,
    *,
    dataset: str,
    suite: str,
    limit: int | None = None,
    out: Path | str | None = None,
    name: str | None = None,
    num_classes: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    split: str = "test",
    data_root: Path | str | None = None,
    seed: int = 0,
    batch_size: int = 256,
    device: str = "auto",
    threads: int | None = None,
    eps: str | float | Sequence[str | float] | None = None,
    corruptions: str | Sequence[str] | None = None,
    severities: int | Sequence[int] | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> RunResult:
    """Evaluate one model on ``dataset`` under ``suite``: ``freqbench run`` for notebooks.

    ``model`` is a model specification (a registered name, ``timm:...``, ``MODEL+FILTER``; a pattern
    evaluates every match) or an in-memory ``nn.Module`` taking [0, 1] images (B, C, H, W) and
    returning logits (B, K), as RobustBench's ``benchmark`` takes one. For a module, ``name`` is the
    name its results are stored under (default ``module:<ClassName>``), ``num_classes`` its number of
    logits (default: read from one forward pass on the dataset's first image), and ``mean`` / ``std``
    the normalisation freqbench applies before it (default: none, the module normalises its input).
    The input size is the dataset's. The module is put in eval mode and moved to ``device``; its
    ``state_dict`` fingerprint (:func:`freqbench.models.in_memory.state_dict_sha256`) enters the
    manifest and every result key.

    The other options are :class:`~freqbench.config.RunConfig`'s and
    :class:`~freqbench.config.SuiteOptions`' (``threads`` is ``num_threads``; ``eps``, ``corruptions``
    and ``severities`` take one value or several); the config is built once, here, and handed to
    :func:`run`, the one run path.

    ``out`` persists the run: a directory that holds this configuration is resumed (stored conditions
    are skipped), one that holds another configuration, or the same name with other weights, is
    refused unless ``force`` (which deletes it). With ``out=None`` the run goes to a new temporary
    directory (``tempfile.mkdtemp(prefix="freqbench-")``, in the system's temporary folder), which is
    left in place so that ``result.store`` stays readable (a run that fails removes it).

    Returns:
        The :class:`RunResult`; ``result.to_pandas()`` is the tidy table of its records.

    Raises:
        ConfigError: bad options, or ``name``/``num_classes``/``mean``/``std`` with a registered model.
        IncompatibleError: a model that does not fit the dataset (channels, size, classes).
        StoreError: ``out`` holds another configuration or other weights under the same name.
    """
    facts = {"name": name, "num_classes": num_classes, "mean": mean, "std": std}
    modules: tuple[InMemoryModel, ...] = ()
    names: tuple[str, ...]
    if isinstance(model, nn.Module):
        modules = (InMemoryModel(model, name=name, num_classes=num_classes, mean=mean, std=std),)
        names = (modules[0].label,)
    elif isinstance(model, str):
        given = [k for k, v in facts.items() if v is not None]
        if given:
            raise ConfigError(
                f"{', '.join(given)} describe an in-memory nn.Module; the model {model!r} has its own "
                "config (`freqbench ls models`): drop them"
            )
        names = expand_models([model])
    else:
        raise ConfigError(
            f"model must be a model name (`freqbench ls models`) or a torch nn.Module, got "
            f"{type(model).__name__}"
        )
    options = SuiteOptions(
        eps=_as_tuple(eps, str),
        corruptions=_as_tuple(corruptions, str),
        severities=_as_tuple(severities, _severity),
    )
    config = RunConfig(
        suite=suite,
        models=names,
        dataset=dataset,
        split=split,
        limit=limit,
        batch_size=batch_size,
        device=device,
        seed=seed,
        out=Path(out).expanduser() if out is not None else Path(),
        data_root=None if data_root is None else Path(data_root).expanduser().resolve(),
        options=options,
        num_threads=threads,
    )
    get_suite(config.suite, config.options)  # refuse bad options before a directory is made
    if out is not None:
        return run(config, progress=progress, force=force, modules=modules)
    config = config.replace(out=Path(tempfile.mkdtemp(prefix="freqbench-")))
    try:
        return run(config, progress=progress, force=force, modules=modules)
    except BaseException:
        shutil.rmtree(config.out, ignore_errors=True)  # nobody else knows this directory
        raise
