"""Per-sample, counter-based random numbers that do not depend on batch size.

A :class:`SampleGenerator` holds one 64-bit key per sample. Every draw hashes (key, call counter,
element index) with a 32-bit integer mixer (Wellons' *lowbias32*), so sample *i* receives the same
numbers whether it is evaluated alone, in a batch of 7 or of 256, on the CPU or a GPU, and however the
work is split across processes. Each call advances a per-generator counter, so successive draws are
independent streams.

Keys are derived from ``(run seed, condition key, sample index)`` with :func:`sample_keys`.

Shape:
    keys: (B,) int64. ``uniform(shape)`` returns (B, *shape).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch

_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on int64 tensors holding values in [0, 2**32); the constants are < 2**31 so no
    product overflows int64."""
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & _M32
    return x ^ (x >> 15)


def stable_hash(*parts: object) -> int:
    """A 63-bit integer hash of ``parts`` that is identical across processes and machines."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def sample_keys(seed: int, stream: str, indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """One key per sample from ``(seed, stream, sample index)``.

    Args:
        seed: the run seed.
        stream: a name that separates streams, usually the condition key.
        indices: stable sample indices (B,).

    Shape:
        returns (B,) int64 on the device of ``indices`` (CPU for a sequence).
    """
    idx = torch.as_tensor(indices, dtype=torch.int64)
    base = stable_hash(seed, stream)
    lo = torch.full_like(idx, base & _M32)
    hi = torch.full_like(idx, (base >> 32) & 0x7FFFFFFF)
    a = _mix32(lo ^ _mix32(idx & _M32))
    b = _mix32(hi ^ _mix32((idx >> 32) ^ a))
    return (b << 31) ^ a


class SampleGenerator:
    """Counter-based random streams, one per sample.

    Args:
        keys: (B,) int64 per-sample keys, see :func:`sample_keys`.

    Example:
        >>> g = SampleGenerator.from_seed(0, 4)
        >>> g.uniform((2,)).shape
        torch.Size([4, 2])
        >>> a = SampleGenerator.from_seed(0, 4).normal((3,))
        >>> b = SampleGenerator.from_seed(0, [2, 3]).normal((3,))
        >>> bool(torch.equal(a[2:], b))
        True
    """

    def __init__(self, keys: torch.Tensor, *, counter: int = 0) -> None:
        if keys.dim() != 1 or keys.dtype != torch.int64:
            raise ValueError(f"keys must be a 1-D int64 tensor, got {tuple(keys.shape)} {keys.dtype}")
        self.keys = keys
        self.counter = counter

    @classmethod
    def from_seed(
        cls, seed: int, indices: int | torch.Tensor | Sequence[int], *, stream: str = ""
    ) -> SampleGenerator:
        """Generator for samples ``indices`` (or ``range(indices)`` for an int)."""
        idx = torch.arange(indices) if isinstance(indices, int) else indices
        return cls(sample_keys(seed, stream, idx))

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def to(self, device: torch.device | str) -> SampleGenerator:
        return SampleGenerator(self.keys.to(device), counter=self.counter)

    def __getitem__(self, item: slice | torch.Tensor) -> SampleGenerator:
        """The streams of a subset of the samples, at the same counter (for batch splitting)."""
        return SampleGenerator(self.keys[item], counter=self.counter)

    def fork(self, name: str) -> SampleGenerator:
        """An independent generator for a named sub-stream (e.g. one per corruption step)."""
        salt = stable_hash("fork", name)
        k = self.keys ^ torch.as_tensor(salt, dtype=torch.int64, device=self.keys.device)
        return SampleGenerator(k, counter=0)

    # raw bits -----------------------------------------------------------------------------------
    def bits(self, shape: Sequence[int] | int = ()) -> torch.Tensor:
        """Uniform 32-bit integers in [0, 2**32) as int64, shape (B, *shape)."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        n = math.prod(shape)
        if self.counter + n > _M32:
            raise ValueError("a SampleGenerator can give at most 2**32 numbers per sample; fork() it")
        dev = self.keys.device
        ctr = torch.arange(self.counter, self.counter + n, dtype=torch.int64, device=dev)
        self.counter += n
        k_lo = (self.keys & _M32)[:, None]
        k_hi = ((self.keys >> 32) & _M32)[:, None]
        h = _mix32(_mix32(ctr[None, :] ^ k_lo) ^ k_hi)
        return h.reshape(len(self), *shape)

    # distributions ------------------------------------------------------------------------------
    def uniform(
        self,
        shape: Sequence[int] | int = (),
        *,
        low: float = 0.0,
        high: float = 1.0,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """U[low, high) with 24 bits of resolution (open at 0 by half a step: never exactly 0)."""
        u = ((self.bits(shape) >> 8).to(torch.float64) + 0.5) * (1.0 / (1 << 24))
        return (low + (high - low) * u).to(dtype)

    def normal(
        self, shape: Sequence[int] | int = (), *, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """Standard normal by Box-Muller."""
        u1 = self.uniform(shape, dtype=torch.float64)
        u2 = self.uniform(shape, dtype=torch.float64)
        z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)
        return z.to(dtype)

    def integers(self, low: int, high: int, shape: Sequence[int] | int = ()) -> torch.Tensor:
        """Uniform integers in [low, high) (int64)."""
        span = high - low
        if span <= 0:
            raise ValueError(f"empty range [{low}, {high})")
        return low + (self.uniform(shape, dtype=torch.float64) * span).floor().long().clamp_(max=span - 1)

    def choice(self, n: int, shape: Sequence[int] | int = ()) -> torch.Tensor:
        """Uniform indices in [0, n)."""
        return self.integers(0, n, shape)

    def sign(self, shape: Sequence[int] | int = (), *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Random +-1."""
        return ((self.bits(shape) & 1) * 2 - 1).to(dtype)
