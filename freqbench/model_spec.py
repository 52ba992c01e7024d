"""The grammar of model specifications: what ``--model`` (and ``api.build_model``) accepts.

::

    SPEC    := BASE [ "+" FILTER ]
    BASE    := NAME                     a registered model: resnet20_fashion_mnist
             | PATTERN                  fnmatch wildcards * ? [...] over registered names: 'resnet*_cifar10'
             | SOURCE ":" REST          a source family, taken literally: timm:resnet18?pretrained=false,
                                        robustbench:cifar10/Linf/Standard, checkpoint:runs/x/model.pt
             | SOURCE ":" "'" TEXT "'"  the same with REST quoted: checkpoint:'runs/a+b.pt' ('' is one ')
    FILTER  := PERTURBATION [ "@" SEVERITY | "@" KEY "=" VALUE { "," KEY "=" VALUE } ]
                                        a condition key: low_pass_butterworth@r=8,order=2

Rules, in full:

* The first ``+`` outside quotes starts the filter; there is at most one filter. A ``+`` that belongs
  to a path must be quoted: ``checkpoint:'runs/a+b.pt'+low_pass_ideal@r=8``.
* Wildcards apply only to names without a source prefix; after ``SOURCE:`` every character is literal,
  so ``timm:NAME?pretrained=false`` and ``checkpoint:run[1].pt`` are not patterns.
* One specification per ``--model``: repeat the option for several models. Commas are never split, so
  they are free for filter parameters and paths; a comma in a plain name is refused with that hint.

Leaf module (no torch): the CLI, the API and the report all parse specifications here.

>>> parse_model_spec("resnet20_cifar10+low_pass_butterworth@r=8,order=2").filter
'low_pass_butterworth@r=8,order=2'
>>> parse_model_spec("checkpoint:'a+b,c.pt'+gaussian_filter@sigma=1").base
'checkpoint:a+b,c.pt'
>>> parse_model_spec("timm:resnet18?pretrained=false").is_pattern
False
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from freqbench.errors import ConfigError

#: separates a model from the filter placed in front of it
FILTER_SEP = "+"
QUOTE = "'"
WILDCARDS = frozenset("*?[")
_SOURCE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*:")
_FILTER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(@.*)?\Z", re.DOTALL)

GRAMMAR_HINT = (
    "write MODEL[+FILTER], e.g. resnet20_cifar10+low_pass_butterworth@r=8,order=2 or "
    "checkpoint:'runs/a+b.pt' (README: model specifications)"
)


@dataclass(frozen=True)
class ModelSpec:
    """One parsed model specification.

    Attributes:
        text: the specification as written (it names the model in records and tables).
        base: the registry name, quotes removed (``checkpoint:a+b.pt``).
        filter: the condition key of the filter in front of the model, or None.
        source: the source prefix (``timm``, ``checkpoint``...) or None for a registered name.
    """

    text: str
    base: str
    filter: str | None = None
    source: str | None = None

    @property
    def is_pattern(self) -> bool:
        """Whether ``base`` holds wildcards to expand (never for a source prefix)."""
        return self.source is None and any(ch in WILDCARDS for ch in self.base)


def _fail(text: str, problem: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"model specification {text!r}: {problem}; {hint or GRAMMAR_HINT}")


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The literal between quotes opening at ``start`` and the index after the closing quote."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        if text[i] == QUOTE:
            if text.startswith(QUOTE * 2, i):
                out.append(QUOTE)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    raise _fail(text, "the quote opened after the source prefix is never closed")


def parse_model_spec(text: str) -> ModelSpec:
    """Parse ``text`` by the grammar of this module.

    Raises:
        ConfigError: empty parts, an unclosed quote, text after a closing quote, a second filter, a
            filter that is not ``NAME[@PARAMETERS]`` or a comma in a plain model name.
    """
    if not text.strip():
        raise _fail(text, "it is empty")
    match = _SOURCE.match(text)
    source = match.group()[:-1] if match else None
    pos = match.end() if match else 0
    quoted = source is not None and text.startswith(QUOTE, pos)
    if quoted:
        rest, pos = _read_quoted(text, pos)
        if not rest:
            raise _fail(text, f"the quoted part after {source}: is empty")
        base, tail = f"{source}:{rest}", text[pos:]
        if tail and not tail.startswith(FILTER_SEP):
            raise _fail(text, f"{tail!r} follows the closing quote; only +FILTER may")
        filt = tail[1:] if tail else None
    else:
        base, sep, after = text.partition(FILTER_SEP)
        filt = after if sep else None
        if not base:
            raise _fail(text, "the model name before '+' is empty")
        if source is not None and base == f"{source}:":
            raise _fail(text, f"nothing follows {source}:")
        if source is not None and QUOTE in base:
            raise _fail(text, f"a quote may only open right after {source}: and close the name")
    if filt is not None:
        if not filt:
            raise _fail(text, "the filter after '+' is empty")
        if FILTER_SEP in filt or not _FILTER.match(filt):
            problem = (
                "only one +FILTER may follow a model"
                if FILTER_SEP in filt
                else f"{filt!r} is not a filter (NAME or NAME@PARAMETERS)"
            )
            hint = None
            if source is not None and not quoted:
                head, _, last = text.rpartition(FILTER_SEP)
                fixed = format_model_spec(head, last) if _FILTER.match(last) else format_model_spec(text)
                hint = f"if '+' belongs to the path, quote it: {fixed}"
            raise _fail(text, problem, hint)
    if source is None and "," in base:
        raise _fail(text, "a model name holds no comma", "give each model its own --model")
    return ModelSpec(text=text, base=base, filter=filt, source=source)


def format_model_spec(base: str, filter: str | None = None) -> str:
    """The specification text for ``base`` (a registry name) and an optional filter key.

    The inverse of :func:`parse_model_spec`: a source's rest is quoted when it holds ``+`` or a quote.

    >>> format_model_spec("checkpoint:a+b.pt", "low_pass_ideal@r=8")
    "checkpoint:'a+b.pt'+low_pass_ideal@r=8"
    """
    match = _SOURCE.match(base)
    text = base
    if match:
        rest = base[match.end() :]
        if FILTER_SEP in rest or rest.startswith(QUOTE):
            text = match.group() + QUOTE + rest.replace(QUOTE, QUOTE * 2) + QUOTE
    return text if filter is None else f"{text}{FILTER_SEP}{filter}"


__all__ = ["FILTER_SEP", "ModelSpec", "format_model_spec", "parse_model_spec"]
