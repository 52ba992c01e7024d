"""A generic, lazily importing name registry.

One :class:`Registry` instance per domain (models, datasets, perturbations, attacks, suites). Entries
are registered with a decorator, as a lazy ``"package.module:attr"`` string (imported on first use, so
heavy optional dependencies load only when needed), or as a *prefix family* (``timm:NAME``,
``checkpoint:PATH``, ``imagefolder:PATH``) whose factory receives the text after the prefix.

Laziness is per entry: a package declares which names each of its modules registers
(:meth:`Registry.register_lazy_module`), so looking up one name imports only the module that defines
it (``ATTACKS.get("pgd_linf_band")`` never imports pyautoattack), and listing imports nothing. The
modules themselves still register with the decorator; a declared name that its module does not
register, or that another module registers, is an error. :meth:`Registry.register_module` (import a
module before any lookup) remains for packages whose modules are all cheap.

An *alias* is a second, older spelling of a name (``resnet20_fmnist`` for ``resnet20_fashion_mnist``):
it is accepted everywhere and resolves to the canonical name (:meth:`Registry.canonical`), so both
spellings give one entry and one stored result; listings show it apart (:meth:`Registry.aliases`).

Listing accepts fnmatch wildcards and sorts naturally (``resnet20`` before ``resnet110``); an unknown
name raises :class:`~freqbench.errors.UnknownNameError` with the closest registered names.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
import sys
from collections.abc import Callable, Iterable, Iterator
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
        self._declared: dict[str, str] = {}  # name -> module whose import registers it
        self._aliases: dict[str, str] = {}  # alias -> canonical name
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

    def register_lazy_module(self, module: str, names: Iterable[str]) -> None:
        """Declare that importing ``module`` registers ``names``: a lookup of one imports only ``module``.

        The names are listed (and suggested) without importing anything.
        """
        for name in names:
            self._check_free(name)
            self._declared[name] = module

    def register_alias(self, alias: str, name: str) -> None:
        """Accept ``alias`` as another spelling of the registered (or declared) ``name``."""
        self._check_free(alias)
        if name in self._aliases:
            raise ValueError(
                f"{self.kind} alias {alias!r} must name a canonical entry, not an alias ({name!r})"
            )
        self._aliases[alias] = name

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
        if name in self._entries or name in self._lazy or name in self._declared or name in self._aliases:
            raise ValueError(f"{self.kind} {name!r} is already registered")

    def _add(self, name: str, obj: T) -> None:
        module = self._declared.get(name)
        if module is not None:
            # only the declared module's own import may fulfil its declaration
            if module not in sys.modules:
                raise ValueError(
                    f"{self.kind} {name!r} is declared to be registered by {module}, which is not imported; "
                    "fix the declaration in the package's __init__"
                )
            del self._declared[name]
        self._check_free(name)
        self._entries[name] = obj

    def _import_declared(self, name: str) -> None:
        module = self._declared[name]
        importlib.import_module(module)
        if name in self._declared:
            raise UnknownNameError(
                f"{self.kind} {name!r} is declared to be registered by {module}, but importing it did "
                "not register it; the declaration in the package's __init__ is out of date"
            )

    def load_all(self) -> None:
        """Import every declared and registered module (checks that each declaration is fulfilled)."""
        self._load_modules()
        while self._declared:
            self._import_declared(next(iter(self._declared)))

    def _load_modules(self) -> None:
        while self._modules:
            importlib.import_module(self._modules[0])
            self._modules.pop(0)

    # lookup -----------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """``name`` itself, or the canonical name when ``name`` is an alias."""
        self._load_modules()
        return self._aliases.get(name, name)

    def aliases(self) -> dict[str, str]:
        """Every alias and the canonical name it stands for."""
        self._load_modules()
        return dict(self._aliases)

    def get(self, name: str) -> T:
        """Return the entry for ``name`` (or for the name an alias stands for), importing lazily.

        Raises:
            UnknownNameError: no such name; the message suggests the closest ones.
        """
        self._load_modules()
        name = self.canonical(name)
        if name in self._declared:
            self._import_declared(name)
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
        name = self.canonical(name)
        prefix, sep, _ = name.partition(":")
        known = name in self._entries or name in self._lazy or name in self._declared
        return known or bool(sep and prefix in self._prefixes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching the fnmatch ``pattern``, naturally sorted.

        Prefix families contribute the names their lister offers when the pattern names the prefix
        (``'timm:*'``); otherwise they appear as ``'prefix:<...>'`` hints only with ``'*'``. Aliases are
        not listed (:meth:`aliases`); declared names are, without importing their modules.
        """
        self._load_modules()
        names = set(self._entries) | set(self._lazy) | set(self._declared)
        for prefix, fam in self._prefixes.items():
            if pattern.startswith(prefix + ":") and fam.lister is not None:
                names.update(fam.lister())
        return sorted((n for n in names if fnmatch.fnmatchcase(n, pattern)), key=natural_key)

    def prefixes(self) -> dict[str, str]:
        """The prefix families and their help text."""
        return {p: f.help for p, f in self._prefixes.items()}

    def _unknown_message(self, name: str) -> str:
        known = self.names() + sorted(self._aliases)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        msg = f"unknown {self.kind} {name!r}."
        if close:
            msg += " Did you mean " + ", ".join(repr(c) for c in close) + "?"
        if self._prefixes:
            msg += " Families: " + ", ".join(f"'{p}:...'" for p in sorted(self._prefixes)) + "."
        msg += f" See `freqbench ls {self.kind}s`."
        return msg
