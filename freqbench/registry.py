"""A generic, lazily importing name registry.

One :class:`Registry` instance per domain (models, datasets, perturbations, attacks, suites). Entries
are registered with a decorator, as a lazy ``"package.module:attr"`` string (imported on first use, so
heavy optional dependencies load only when needed), or as a *prefix family* (``timm:NAME``,
``checkpoint:PATH``, ``imagefolder:PATH``) whose factory receives the text after the prefix.

Listing accepts fnmatch wildcards and sorts naturally (``resnet20`` before ``resnet110``); an unknown
name raises :class:`~freqbench.errors.UnknownNameError` with the closest registered names.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar, overload

from freqbench.errors import UnknownNameError

T = TypeVar("T")


def natural_key(text: str) -> list[object]:
    """Sort key that orders digit runs numerically: ``a2 < a10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def import_target(target: str) -> object:
    """Import ``"package.module:attr"`` and return the attribute."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"lazy target must look like 'package.module:attr', got {target!r}")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class _Prefix(Generic[T]):
    factory: Callable[[str], T]
    lister: Callable[[], list[str]] | None
    help: str


class Registry(Generic[T]):
    """Name -> object mapping with decorator, lazy and prefix registration.

    Example:
        >>> reg: Registry[int] = Registry("number")
        >>> _ = reg.register("two", 2)
        >>> reg.get("two")
        2
        >>> reg.names("t*")
        ['two']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._prefixes: dict[str, _Prefix[T]] = {}
        self._modules: list[str] = []

    # registration -----------------------------------------------------------------------------
    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; without ``obj`` return a decorator."""
        if obj is None:

            def decorator(target: T) -> T:
                self._add(name, target)
                return target

            return decorator
        self._add(name, obj)
        return obj

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"package.module:attr"``, imported the first time ``name`` is looked up."""
        self._check_free(name)
        self._lazy[name] = target

    def register_module(self, module: str) -> None:
        """Register a module whose import registers entries (imported before any lookup)."""
        self._modules.append(module)

    def register_prefix(
        self,
        prefix: str,
        factory: Callable[[str], T],
        *,
        lister: Callable[[], list[str]] | None = None,
        help: str = "",
    ) -> None:
        """Register a family ``prefix:REST``; ``factory(REST)`` builds the entry on lookup.

        ``lister`` (optional) returns the full names it can offer, for ``names('prefix:*')``.
        """
        self._prefixes[prefix] = _Prefix(factory, lister, help)

    def _check_free(self, name: str) -> None:
        if name in self._entries or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is already registered")

    def _add(self, name: str, obj: T) -> None:
        self._check_free(name)
        self._entries[name] = obj

    def _load_modules(self) -> None:
        while self._modules:
            importlib.import_module(self._modules[0])
            self._modules.pop(0)

    # lookup -----------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """Return the entry for ``name``, importing lazily, or raise with suggestions."""
        self._load_modules()
        if name in self._entries:
            return self._entries[name]
        if name in self._lazy:
            obj = import_target(self._lazy.pop(name))
            self._entries[name] = obj  # type: ignore[assignment]
            return self._entries[name]
        prefix, sep, rest = name.partition(":")
        if sep and prefix in self._prefixes:
            return self._prefixes[prefix].factory(rest)
        raise UnknownNameError(self._unknown_message(name))

    def __contains__(self, name: object) -> bool:
        self._load_modules()
        if not isinstance(name, str):
            return False
        prefix, sep, _ = name.partition(":")
        return name in self._entries or name in self._lazy or bool(sep and prefix in self._prefixes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching the fnmatch ``pattern``, naturally sorted.

        Prefix families contribute the names their lister offers when the pattern names the prefix
        (``'timm:*'``); otherwise they appear as ``'prefix:<...>'`` hints only with ``'*'``.
        """
        self._load_modules()
        names = set(self._entries) | set(self._lazy)
        for prefix, fam in self._prefixes.items():
            if pattern.startswith(prefix + ":") and fam.lister is not None:
                names.update(fam.lister())
        return sorted((n for n in names if fnmatch.fnmatchcase(n, pattern)), key=natural_key)

    def prefixes(self) -> dict[str, str]:
        """The prefix families and their help text."""
        return {p: f.help for p, f in self._prefixes.items()}

    def _unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        msg = f"unknown {self.kind} {name!r}."
        if close:
            msg += " Did you mean " + ", ".join(repr(c) for c in close) + "?"
        if self._prefixes:
            msg += " Families: " + ", ".join(f"'{p}:...'" for p in sorted(self._prefixes)) + "."
        msg += f" See `freqbench ls {self.kind}s`."
        return msg
