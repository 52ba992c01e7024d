"""Per-sample, counter-based random numbers that do not depend on batch size.

A :class:`SampleGenerator` holds one 64-bit key per sample. Every draw hashes (key, call counter,
element index) with a 32-bit integer mixer (Wellons' *lowbias32*), so sample *i* receives the same
numbers whether it is evaluated alone, in a batch of 7 or of 256, on the CPU or a GPU, and however the
work is split across processes. Each call advances a per-generator counter, so successive draws are
independent streams.

Keys are derived from ``(run seed, condition key, sample index)`` with :func:`sample_keys`.

The hashing of draws runs on int32 tensors holding the 32-bit words (two's complement): half the
memory traffic of int64 with the same bits (see :func:`_lowbias32_int32_`).

Shape:
    keys: (B,) int64. ``uniform(shape)`` returns (B, *shape).
"""

from __future__ import annotations

import functools
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


def _to_int32(x: torch.Tensor) -> torch.Tensor:
    """int64 values in [0, 2**32) as int32 with the same 32 bits (two's complement)."""
    return (x - ((x >> 31) << 32)).to(torch.int32)


def _lowbias32_int32_(x: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """:func:`_mix32` in place on int32 tensors that hold the 32 bits as two's complement.

    Half the memory traffic of the int64 form, same bits: the products wrap modulo 2**32 (the
    two's-complement multiply PyTorch's CPU and CUDA kernels emit), and the logical right shifts are
    arithmetic shifts with the sign-extended bits masked off. ``tmp`` is scratch of ``x``'s shape.
    """
    torch.bitwise_right_shift(x, 16, out=tmp).bitwise_and_(0xFFFF)
    x.bitwise_xor_(tmp).mul_(0x21F0AAAD)
    torch.bitwise_right_shift(x, 15, out=tmp).bitwise_and_(0x1FFFF)
    x.bitwise_xor_(tmp).mul_(0x735A2D97)
    torch.bitwise_right_shift(x, 15, out=tmp).bitwise_and_(0x1FFFF)
    return x.bitwise_xor_(tmp)


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


@functools.lru_cache(maxsize=64)
def _dtype_bounds(low: float, high: float, dtype: torch.dtype) -> tuple[float, float]:
    """The smallest ``dtype`` number >= ``low`` and the largest < ``high``."""
    if not low < high:
        raise ValueError(f"uniform needs low < high, got [{low}, {high})")
    lo = torch.tensor(low, dtype=torch.float64).to(dtype)
    if float(lo) < low:
        lo = torch.nextafter(lo, torch.tensor(math.inf, dtype=dtype))
    hi = torch.tensor(high, dtype=torch.float64).to(dtype)
    if float(hi) >= high:
        hi = torch.nextafter(hi, torch.tensor(-math.inf, dtype=dtype))
    if float(lo) > float(hi):
        raise ValueError(f"[{low}, {high}) holds no {dtype} number; widen the range or use float64")
    return float(lo), float(hi)


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

    # raw bits -----------------------------------------------------------------------------------
    def _bits_int32(self, n: int) -> torch.Tensor:
        """The next ``n`` hashes per sample as int32 bit patterns, shape (B, n); advances the counter."""
        if self.counter + n > _M32:
            raise ValueError(
                "a SampleGenerator can give at most 2**32 numbers per sample; draw the rest from "
                "another stream (sample_keys with another stream name)"
            )
        dev = self.keys.device
        ctr = _to_int32(torch.arange(self.counter, self.counter + n, dtype=torch.int64, device=dev))
        self.counter += n
        k_lo = _to_int32(self.keys & _M32)[:, None]
        k_hi = _to_int32((self.keys >> 32) & _M32)[:, None]
        h = torch.bitwise_xor(ctr[None, :], k_lo)
        tmp = torch.empty_like(h)
        return _lowbias32_int32_(_lowbias32_int32_(h, tmp).bitwise_xor_(k_hi), tmp)

    def bits24(self, shape: Sequence[int] | int = ()) -> torch.Tensor:
        """The integers ``k`` in [0, 2**24) that :meth:`uniform` maps to ``(k + 0.5) / 2**24``.

        The top 24 bits of the next hashes as int32, for tests on a uniform that need no floating
        point (e.g. ``u < p`` is ``k < ceil(p 2**24 - 1/2)``); consumes the same counters as
        ``uniform(shape)``.

        Shape:
            returns (B, *shape) int32.
        """
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        h = self._bits_int32(math.prod(shape))
        return h.bitwise_right_shift_(8).bitwise_and_(0xFFFFFF).reshape(len(self), *shape)

    # distributions ------------------------------------------------------------------------------
    def _unit(self, shape: Sequence[int] | int, dtype: torch.dtype) -> torch.Tensor:
        """``(k + 0.5) / 2**24`` for the next 24-bit integers ``k`` (:meth:`bits24`), rounded to
        float32 or float64: in (0, 1], never 0; in float32 the top value ``1 - 2**-25`` rounds to 1.

        (k + 0.5) / 2**24 rounds the same when computed in float32 as when computed in float64 and
        cast down, so both paths give the same float32 values.
        """
        return self.bits24(shape).to(dtype).add_(0.5).mul_(1.0 / (1 << 24))

    def uniform(
        self,
        shape: Sequence[int] | int = (),
        *,
        low: float = 0.0,
        high: float = 1.0,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """U[low, high) with 24 bits of resolution (open at ``low`` by half a step).

        ``low + (high - low) (k + 0.5) / 2**24`` for 24-bit integers ``k``, rounded to ``dtype`` and
        kept inside [low, high) in that dtype: where rounding reaches ``high`` (in float32, the top
        ``k`` of U[0, 1) rounds to 1.0) the value is the largest ``dtype`` number below ``high``
        instead; every other value is the rounded formula.
        """
        lo, hi = _dtype_bounds(float(low), float(high), dtype)
        if dtype == torch.float32 and (low, high) == (0.0, 1.0):
            u = self._unit(shape, torch.float32)
        else:
            u = self._unit(shape, torch.float64)
            if (low, high) != (0.0, 1.0):
                # u * (high - low) + low is the same two roundings as low + (high - low) * u
                u.mul_(high - low).add_(low)
            u = u.to(dtype)
        return u.clamp_(lo, hi)

    def normal(self, shape: Sequence[int] | int = (), *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normal by Box-Muller, using both outputs of each pair (cos and sin halves).

        Computed in float64 for float64 output, else in float32 (24-bit uniforms carry no more).
        """
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        n = math.prod(shape)
        half = (n + 1) // 2
        work = torch.float64 if dtype == torch.float64 else torch.float32
        # u1 in (0, 1] is what Box-Muller needs (log u1 finite; u1 = 1 gives r = 0)
        u1 = self._unit(half, work)
        u2 = self._unit(half, work).mul_(2.0 * math.pi)
        r = u1.log_().mul_(-2.0).sqrt_()
        # [r cos(u2) | r sin(u2)] per sample, written in place instead of concatenated
        z = torch.empty(len(self), 2 * half, dtype=work, device=r.device)
        torch.cos(u2, out=z[:, :half]).mul_(r)
        torch.sin(u2, out=z[:, half:]).mul_(r)
        return z[:, :n].reshape(len(self), *shape).to(dtype)

    def integers(self, low: int, high: int, shape: Sequence[int] | int = ()) -> torch.Tensor:
        """Uniform integers in [low, high) (int64)."""
        span = high - low
        if span <= 0:
            raise ValueError(f"empty range [{low}, {high})")
        return low + (self.uniform(shape, dtype=torch.float64) * span).floor().long().clamp_(max=span - 1)

    def poisson_levels(self, index: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
        """Poisson samples with rate ``rates[index]``, fast when there are few distinct rates.

        ``k`` is the smallest integer with ``P(X <= k) >= u`` for ``u = self.uniform(index.shape[1:],
        dtype=torch.float64)``, the quantile ``scipy.stats.poisson.ppf(u, rates[index])`` gives: one
        uniform per element, so the counter advances the same way whatever the rates (batch-size
        invariant). The CDF is read from a table per level (cumulative sum of the probability mass
        function in float64, relative error ~1e-13), with a guide table (Chen & Asau 1974) that gives
        for ``u`` a start ``k`` never above the answer, and a short upward search. Use it when rates
        come from a small set, e.g. 8-bit pixel values times a constant (shot noise).

        Args:
            index: int64 level of each element, values in ``[0, L)``, shape (B, *shape).
            rates: the L non-negative finite rates, shape (L,).

        Returns:
            The counts as floats in ``rates``' dtype.

        Shape:
            index: (B, *shape), rates: (L,) -> (B, *shape).
        """
        if index.dim() == 0 or index.shape[0] != len(self) or index.dtype != torch.int64:
            raise ValueError(
                f"index must be int64 of shape (B={len(self)}, ...), got {tuple(index.shape)} {index.dtype}"
            )
        lam = rates.to(device=index.device, dtype=torch.float64)
        if lam.dim() != 1 or not bool(torch.isfinite(lam).all()) or bool((lam < 0).any()):
            raise ValueError("rates must be a 1-D tensor of finite, non-negative values")
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= lam.shape[0]):
            raise ValueError(f"index values must lie in [0, {lam.shape[0]})")
        u = self.uniform(tuple(index.shape[1:]), dtype=torch.float64).to(index.device)
        # the table must reach P(X <= K) >= the largest possible u = 1 - 2**-25 at every level;
        # 10 standard deviations + 40 is far beyond that for any rate, and is checked below
        top = float(lam.max()) if lam.numel() else 0.0
        n_k = int(math.ceil(top + 10.0 * math.sqrt(top) + 40.0))
        k = torch.arange(n_k + 1, dtype=torch.float64, device=lam.device)
        pmf = torch.exp(torch.special.xlogy(k, lam[:, None]) - lam[:, None] - torch.lgamma(k + 1.0))
        cdf = pmf.cumsum(dim=1)
        if bool((cdf[:, -1] < 1.0 - 2.0**-26).any()):
            raise RuntimeError("Poisson table too short; this indicates a bug in poisson_levels")
        # the last entry is the upper end of the support as far as u can tell: make it catch every u
        cdf[:, -1] = 1.0
        # guide[l, m] = smallest k with P(X <= k) >= m / n_bins, so for u in bin m the answer lies in
        # [guide[l, m], guide[l, m + 1]]; most bins hold one or two values of k
        n_bins = n_k + 1
        edges = torch.arange(n_bins + 1, dtype=torch.float64, device=lam.device) / n_bins
        guide = torch.searchsorted(cdf, edges.expand(lam.shape[0], -1).contiguous()).flatten()
        flat_cdf = cdf.flatten()
        row = index.flatten() * (n_k + 1)
        uf = u.flatten()
        start = index.flatten() * (n_bins + 1) + (uf * n_bins).long().clamp_(max=n_bins - 1)
        kk = guide[start]
        # bisection over the few elements whose answer is not the guide's start
        todo = (flat_cdf[row + kk] < uf).nonzero().squeeze(1)
        lo, hi = kk[todo] + 1, guide[start[todo] + 1]
        row_t, u_t = row[todo], uf[todo]
        while bool((lo < hi).any()):
            mid = (lo + hi) // 2
            right = flat_cdf[row_t + mid] >= u_t
            hi = torch.where(right, mid, hi)
            lo = torch.where(right, lo, mid + 1)
        kk[todo] = lo
        return kk.reshape(index.shape).to(rates.dtype)
