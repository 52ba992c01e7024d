"""Registry: decorator, lazy and prefix registration, natural sort, did-you-mean errors."""

from __future__ import annotations

import pytest

from freqbench.errors import UnknownNameError
from freqbench.registry import Registry, natural_key


def test_decorator_lazy_and_prefix() -> None:
    reg: Registry[object] = Registry("thing")

    @reg.register("alpha")
    def alpha() -> str:
        return "a"

    reg.register_lazy("joiner", "os.path:join")
    reg.register_prefix("upper", lambda rest: rest.upper(), lister=lambda: ["upper:x", "upper:y"])
    assert reg.get("alpha") is alpha
    import os.path

    assert reg.get("joiner") is os.path.join
    assert reg.get("upper:abc") == "ABC"
    assert "upper:whatever" in reg and "beta" not in reg
    assert reg.names("upper:*") == ["upper:x", "upper:y"]
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha", 1)


def test_natural_sort_and_wildcards() -> None:
    reg: Registry[int] = Registry("model")
    for name in ["resnet110_cifar10", "resnet20_cifar10", "resnet56_cifar10", "vgg11_cifar10"]:
        reg.register(name, 0)
    assert reg.names("resnet*") == ["resnet20_cifar10", "resnet56_cifar10", "resnet110_cifar10"]
    assert sorted(["a10", "a2", "a1"], key=natural_key) == ["a1", "a2", "a10"]


def test_unknown_name_suggests_closest() -> None:
    reg: Registry[int] = Registry("model")
    reg.register("resnet20_cifar10", 0)
    reg.register("resnet32_cifar10", 0)
    with pytest.raises(UnknownNameError, match="Did you mean .*'resnet20_cifar10'") as e:
        reg.get("resnet2_cifar10")
    assert "freqbench ls models" in str(e.value)
