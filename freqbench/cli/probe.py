"""``freqbench probe NAME``: run a registered probe on models and a dataset into a run directory.

Thin wrapper over :func:`freqbench.api.probes.run_probe_config`. Probe options are given as
``--option KEY=VALUE`` (repeatable; ``freqbench ls probes`` lists the probes, each probe's module
documents its options), ``--eps`` is short for ``--option eps=...``. A probe that reads stored runs
instead of a model (``links``) takes ``--runs DIR`` (repeatable) and prints its table.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

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
from freqbench.config import DEFAULT_DATASET
from freqbench.errors import ConfigError


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
        _links(runs, out_dir, given=bool(model or dataset or options or resume))
        return
    if runs:
        raise ConfigError(f"--runs is for probes that read stored runs (links); {entry.name!r} reads a model")
    if resume:
        if out_dir is None:
            raise ConfigError("--resume needs --out RUN_DIR (the directory of the probe run to continue)")
        config = stored_probe_config(out_dir)
        changes = {"device": device, "num_threads": threads}
        config = config.replace(**{k: v for k, v in changes.items() if v is not None})
        if model or dataset or limit is not None or seed is not None or options or split or data_root:
            raise ConfigError(
                f"--resume continues the probe run in {out_dir} with its stored settings; drop the options "
                "that would change its results (only --device and --threads may change)"
            )
    else:
        ds = dataset or DEFAULT_DATASET
        fields: dict[str, Any] = {
            "limit": limit,
            "seed": seed,
            "split": split,
            "device": device,
            "num_threads": threads,
            "data_root": None if data_root is None else data_root.expanduser().resolve(),
        }
        config = probe_config(
            entry.name,
            models=api.expand_models(model) if model else (),
            dataset=ds,
            options=options,
            out=out_dir or Path("runs") / _slug(f"probe-{entry.name}-{ds}"),
            **{k: v for k, v in fields.items() if v is not None},
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


def _links(runs: list[Path] | None, out_dir: Path | None, *, given: bool) -> None:
    """``freqbench probe links --runs DIR...``: the cross-model table on the terminal (and in --out)."""
    from freqbench.report.frame import read_run
    from freqbench.report.links import links
    from freqbench.report.render import markdown_table

    if given:
        raise ConfigError(
            "links reads stored runs only: pass --runs DIR (repeatable), and no model or dataset"
        )
    if not runs:
        raise ConfigError("links needs the run directories to compare: --runs DIR (repeatable)")
    table = links([read_run(r) for r in runs]).table()
    text = "\n".join(markdown_table(table))
    out.print(text, markup=False, highlight=False, soft_wrap=True)
    if out_dir is not None:
        from freqbench.store.run import atomic_write_bytes

        target = out_dir if out_dir.suffix else out_dir / "links.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, text.encode())
        _say(err, f"links: {target}")


__all__ = ["probe"]
