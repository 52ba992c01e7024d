"""Helpers shared by the tests that drive the CLI in-process and check that nothing stored changed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def run_main(*args: str) -> int:
    """``freqbench ARGS`` through ``main()`` (which turns freqbench errors into exit code 2)."""
    from freqbench.cli.main import main

    old = sys.argv
    sys.argv = ["freqbench", *args]
    try:
        with pytest.raises(SystemExit) as e:
            main()
    finally:
        sys.argv = old
    return int(e.value.code or 0)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, to compare before and after a refused command."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
