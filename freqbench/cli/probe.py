"""``freqbench probe NAME``: run a registered probe on models and a dataset into a run directory.

Thin wrapper over :func:`freqbench.api.probes.run_probe_config`. Probe options are given as
``--option KEY=VALUE`` (repeatable; ``freqbench ls probes`` lists the probes, each probe's module
documents its options), ``--eps`` is short for ``--option eps=...``. A probe that reads stored runs
instead of a model (``links``) takes ``--runs DIR`` (repeatable) and prints its table.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from freqbench.cli.main import (
    DataRootArg,
    DatasetArg,
    DeviceArg,
    ForceArg,
    LimitArg,
    ModelArg,
    SeedArg,
    SplitArg,
    ThreadsArg,
    _say,
    _slug,
    err,
    out,
)
from freqbench.config import DEFAULT_DATASET, PROBE_PREFIX, RunConfig
from freqbench.errors import ConfigError

if TYPE_CHECKING:
    from freqbench.probes.base import Probe


def _parse_options(values: list[str] | None, eps: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option takes KEY=VALUE, e.g. --option basis=cosine; got {item!r}")
        options[key.strip().replace("-", "_")] = value.strip()
    if eps is not None:
        if "eps" in options:
            raise ConfigError("give eps once: --eps or --option eps=..., not both")
        options["eps"] = eps
    return options


def probe(
    name: Annotated[str, typer.Argument(help="probe name (`freqbench ls probes`)")],
    model: ModelArg = None,
    dataset: DatasetArg = None,
    limit: LimitArg = None,
    seed: SeedArg = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="run directory (default runs/probe-<name>-<dataset>)")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="probe option KEY=VALUE, repeatable")
    ] = None,
    eps: Annotated[
        str | None, typer.Option(help="fourier_heatmap: L2 norm of the basis (default 4.0)")
    ] = None,
    runs: Annotated[
        list[Path] | None, typer.Option("--runs", help="links: a run directory to read, repeatable")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the probe run stored in --out with its stored settings")
    ] = False,
    force: ForceArg = False,
    data_root: DataRootArg = None,
    split: SplitArg = None,
    device: DeviceArg = None,
    threads: ThreadsArg = None,
) -> None:
    """Run probe NAME on each --model over --dataset; store it, print its records, write plots and report.md.

    Stored like `freqbench run` (one configuration per --out, resumable after a kill: --resume).
    """
    from freqbench import api
    from freqbench.api.probes import probe_config, run_probe_config, stored_probe_config
    from freqbench.engine.progress import RichProgress
    from freqbench.probes import PROBES

    if resume and force:
        raise ConfigError("--resume continues the stored run and --force deletes it: pass one of them")
    entry = PROBES.get(name)
    options = _parse_options(option, eps)
    if "runs" in entry.needs:
        _from_runs(entry, runs, options, out_dir, given=bool(model or dataset or resume or limit or seed))
        return
    if runs:
        raise ConfigError(f"--runs is for probes that read stored runs (links); {entry.name!r} reads a model")
    fields: dict[str, Any] = {
        "limit": limit,
        "seed": seed,
        "split": split,
        "device": device,
        "num_threads": threads,
        "data_root": None if data_root is None else data_root.expanduser().resolve(),
    }
    given = {k: v for k, v in fields.items() if v is not None}
    models = api.expand_models(model) if model else None
    if resume:
        if out_dir is None:
            raise ConfigError("--resume needs --out RUN_DIR (the directory of the probe run to continue)")
        stored = stored_probe_config(out_dir)
        if stored.suite != PROBE_PREFIX + entry.name:
            raise ConfigError(f"{out_dir} holds a run of {stored.suite}, not of probe {entry.name!r}")
        config = probe_config(
            entry.name,
            models=models if models is not None else stored.models,
            dataset=dataset or stored.dataset,
            options={**(stored.options.probe or {}), **options},
            **{**_run_fields(stored), **given, "out": out_dir},
        )
        if stored.result_differences(config):
            changed = "; ".join(stored.result_differences(config))
            raise ConfigError(
                f"--resume continues the probe run in {out_dir} with its stored settings, and these options "
                f"would change its results (stored vs given: {changed}); drop them, or start a new run "
                "with another --out"
            )
    else:
        ds = dataset or DEFAULT_DATASET
        config = probe_config(
            entry.name,
            models=models or (),
            dataset=ds,
            options=options,
            out=out_dir or Path("runs") / _slug(f"probe-{entry.name}-{ds}"),
            **given,
        )
    err.print(
        f"[bold]freqbench probe[/] {entry.name} models={', '.join(config.models) or '-'} "
        f"dataset={config.dataset} out={config.out}"
    )
    try:
        with RichProgress(err) as progress:
            result = run_probe_config(config, progress=progress, force=force)
    except KeyboardInterrupt:
        _say(
            err,
            f"interrupted: probe results stored in {config.out} are kept; resume with "
            f"`freqbench probe {entry.name} --resume --out {shlex.quote(str(config.out))}`",
            style="yellow",
        )
        raise typer.Exit(130) from None
    from freqbench.cli.main import _write_report

    _write_report(result.store, result.records, evaluated=result.evaluated, what="probe unit(s)")


def _run_fields(config: RunConfig) -> dict[str, Any]:
    """The fields of a stored probe run's config besides the probe, its models, dataset and options."""
    skip = {"suite", "models", "dataset", "options"}
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in skip}


def _from_runs(
    entry: Probe, runs: list[Path] | None, options: dict[str, Any], out_dir: Path | None, *, given: bool
) -> None:
    """A probe that reads stored runs (``links``): its table on the terminal, and in ``--out`` (a
    ``.md`` file, or ``DIR/<probe>.md``) when given."""
    from freqbench.probes.base import ProbeInputs
    from freqbench.report.render import markdown_table

    if given:
        raise ConfigError(
            f"{entry.name} reads stored runs only: pass --runs DIR (repeatable), and no model, dataset "
            "or --resume"
        )
    result = entry(ProbeInputs(runs=tuple(runs or ())), entry.configure(options))
    table = result.links.table  # type: ignore[attr-defined]
    text = "\n".join(markdown_table(table))
    out.print(text, markup=False, highlight=False, soft_wrap=True)
    if out_dir is not None:
        from freqbench.store.run import atomic_write_bytes

        target = out_dir if out_dir.suffix == ".md" else out_dir / f"{entry.name}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, text.encode())
        _say(err, f"{entry.name}: {target}")


__all__ = ["probe"]
