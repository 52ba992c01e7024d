"""Per-entry laziness (declared names per module) and aliases of the registry.

A lookup imports only the module that registers the name looked up; the packages' declaration tables
must say exactly what their modules register.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from freqbench.errors import UnknownNameError
from freqbench.registry import Registry

HEAVY = ("torchattacks", "pyautoattack", "autoattack", "torchvision", "PIL")


def _imported_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    script = code + f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_band_pgd_lookup_imports_neither_torchattacks_nor_pyautoattack() -> None:
    code = "from freqbench.attacks import ATTACKS\nATTACKS.get('pgd_linf_band')(eps='8/255', band='low', r=4)"
    assert _imported_after(code) == []


def test_frequency_filter_lookup_does_not_import_torchvision() -> None:
    code = "from freqbench.perturbations import PERTURBATIONS\nPERTURBATIONS.get('low_pass_ideal')(r=8)"
    assert _imported_after(code) == []


def test_listing_imports_no_family_module() -> None:
    code = textwrap.dedent(
        """
        import sys
        from freqbench.attacks import ATTACKS
        from freqbench.perturbations import PERTURBATIONS
        assert 'autoattack' in ATTACKS.names() and 'jpeg_compression' in PERTURBATIONS.names()
        assert 'fog' in PERTURBATIONS and 'pgd_l2' in ATTACKS
        loaded = [m for m in sys.modules if m.startswith(('freqbench.attacks.', 'freqbench.perturbations.'))]
        assert set(loaded) <= {'freqbench.attacks.base', 'freqbench.perturbations.base',
                               'freqbench.perturbations.params'}, loaded
        """
    )
    assert _imported_after(code) == []


@pytest.mark.parametrize("package", ["freqbench.attacks", "freqbench.perturbations"])
def test_declarations_match_what_the_modules_register(package: str) -> None:
    code = textwrap.dedent(
        f"""
        import importlib, json
        pkg = importlib.import_module({package!r})
        reg = pkg.ATTACKS if hasattr(pkg, 'ATTACKS') else pkg.PERTURBATIONS
        declared = reg.names()
        reg.load_all()  # raises when a declared name is not registered by its module
        print(json.dumps([declared, reg.names()]))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    declared, registered = json.loads(out.stdout.strip().splitlines()[-1])
    assert declared == registered  # no module registers a name its package does not declare


@pytest.fixture
def family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry[object]:
    """A registry in a throw-away package ``fam`` with two modules, declared per name."""
    pkg = tmp_path / "fam"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from freqbench.registry import Registry\nREG = Registry('thing')\n"
        "REG.register_lazy_module('fam.cheap', ['a', 'b'])\n"
        "REG.register_lazy_module('fam.heavy', ['h'])\n"
        "REG.register_lazy_module('fam.liar', ['promised'])\n"
    )
    (pkg / "cheap.py").write_text("from fam import REG\nREG.register('a', 1)\nREG.register('b', 2)\n")
    (pkg / "heavy.py").write_text("from fam import REG\nREG.register('h', 3)\n")
    (pkg / "liar.py").write_text("from fam import REG\n")
    (pkg / "thief.py").write_text("from fam import REG\nREG.register('h', 4)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "fam" or m.startswith("fam.")]:
        monkeypatch.delitem(sys.modules, name)
    import fam  # type: ignore[import-not-found]

    yield fam.REG
    for name in [m for m in sys.modules if m == "fam" or m.startswith("fam.")]:
        del sys.modules[name]


def test_a_lookup_imports_only_the_declaring_module(family: Registry[object]) -> None:
    assert family.names() == ["a", "b", "h", "promised"] and "fam.cheap" not in sys.modules
    assert family.get("b") == 2
    assert "fam.cheap" in sys.modules and "fam.heavy" not in sys.modules
    assert family.get("h") == 3


def test_a_broken_declaration_is_an_error(family: Registry[object]) -> None:
    with pytest.raises(UnknownNameError, match="declared to be registered by fam.liar, but importing it"):
        family.get("promised")


def test_another_module_cannot_fulfil_a_declaration(family: Registry[object]) -> None:
    with pytest.raises(
        ValueError, match="'h' is declared to be registered by fam.heavy, which is not imported"
    ):
        import fam.thief  # type: ignore[import-not-found]  # noqa: F401
    assert family.get("h") == 3


def test_an_alias_resolves_to_its_entry_and_is_listed_apart() -> None:
    reg: Registry[int] = Registry("model")
    reg.register("resnet20_fashion_mnist", 7)
    reg.register_alias("resnet20_fmnist", "resnet20_fashion_mnist")
    assert reg.get("resnet20_fmnist") == 7 and "resnet20_fmnist" in reg
    assert reg.canonical("resnet20_fmnist") == "resnet20_fashion_mnist"
    assert reg.canonical("resnet20_fashion_mnist") == "resnet20_fashion_mnist"
    assert reg.names() == ["resnet20_fashion_mnist"]
    assert reg.aliases() == {"resnet20_fmnist": "resnet20_fashion_mnist"}
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet20_fmnist'"):
        reg.get("resnet20_fmnst")
    with pytest.raises(ValueError, match="already registered"):
        reg.register_alias("resnet20_fmnist", "resnet20_fashion_mnist")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("resnet20_fmnist", 1)
    with pytest.raises(ValueError, match="not an alias"):
        reg.register_alias("r20", "resnet20_fmnist")
