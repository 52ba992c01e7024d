"""Wavelet pooling: the low-pass (LL) subband of a one-level 2-D discrete wavelet transform.

The space-localised alternative to spectral pooling named in the seed project (REFERENCE.md section
3): a map is downsampled to the approximation coefficients ``cA`` of ``pywt.dwt2``, i.e. filtered with
the wavelet's decomposition low-pass filter along H and along W and subsampled by 2. The filters come
from PyWavelets (``pywt.Wavelet(name).dec_lo``; Lee et al., "PyWavelets: A Python package for wavelet
analysis", JOSS 2019), so every discrete wavelet PyWavelets knows works (``haar``, ``db1``..``db38``,
``sym*``, ``coif*``, ``bior*``, ...), and the result equals ``pywt.dwt2(x, wavelet, mode=mode)[0]``.

**Boundary modes** (PyWavelets' names and output sizes, for a length-N axis and a filter of length L):

- ``periodization`` (default): ``ceil(N / 2)`` outputs, exactly N/2 for even N, so it is a drop-in
  for a stride-2 downsampling. ``cA[i] = sum_j dec_lo[j] x[(2i + L/2 - j) mod N']`` where for odd N
  the signal is first extended by repeating its last sample (N' = N + 1), as PyWavelets does.
- ``zero``, ``constant`` (edge value), ``symmetric`` (half-sample mirror, PyWavelets' default),
  ``reflect`` (whole-sample mirror), ``periodic``: ``floor((N + L - 1) / 2)`` outputs,
  ``cA[i] = (x_ext * dec_lo)[2i + 1]``, the odd samples of the full convolution of the signal
  extended by L - 1 samples on each side.

Each mode is an entry of :data:`EXTENSIONS` (an index map into the signal, or zero padding), not a
branch in the layer. PyWavelets' ``smooth``, ``antisymmetric`` and ``antireflect`` extrapolate
values instead of indexing them and are not offered.

**Amplitude.** The DWT is orthonormal (for orthogonal wavelets): ``sum(dec_lo) = sqrt(2)``, so LL of a
constant map c is 2c. ``mean_preserving=True`` divides by ``sum(dec_lo)^2`` (= 2), so that a constant
pools to the same constant, as :class:`~freqbench.nn.spectral_pool.SpectralPool2d` does.

Shape:
    (B, C, H, W) -> (B, C, H', W') with H', W' as above.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from freqbench.errors import ConfigError, DependencyError

#: mode -> index map ``(t, n) -> index into a length-n signal`` for the positions t of the extension
IndexMap = Callable[[torch.Tensor, int], torch.Tensor]


def _symmetric(t: torch.Tensor, n: int) -> torch.Tensor:
    t = t % (2 * n)
    return torch.where(t >= n, 2 * n - 1 - t, t)


def _reflect(t: torch.Tensor, n: int) -> torch.Tensor:
    if n == 1:
        return torch.zeros_like(t)
    period = 2 * n - 2
    t = t % period
    return torch.where(t >= n, period - t, t)


def _periodic(t: torch.Tensor, n: int) -> torch.Tensor:
    return t % n


def _constant(t: torch.Tensor, n: int) -> torch.Tensor:
    return t.clamp(0, n - 1)


#: PyWavelets' boundary modes that index the signal (``zero`` pads with zeros: None)
EXTENSIONS: dict[str, IndexMap | None] = {
    "zero": None,
    "constant": _constant,
    "symmetric": _symmetric,
    "reflect": _reflect,
    "periodic": _periodic,
}
PERIODIZATION = "periodization"
MODES = (PERIODIZATION, *EXTENSIONS)


@functools.lru_cache(maxsize=64)
def wavelet_lowpass(name: str) -> tuple[float, ...]:
    """The decomposition low-pass filter ``pywt.Wavelet(name).dec_lo`` of a discrete wavelet.

    >>> [round(v, 6) for v in wavelet_lowpass("haar")]
    [0.707107, 0.707107]
    """
    try:
        import pywt
    except ImportError as exc:
        raise DependencyError(
            "wavelet pooling needs PyWavelets, which is not importable; run `pip install PyWavelets`"
        ) from exc
    names = pywt.wavelist(kind="discrete")
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5)
        raise ConfigError(
            f"unknown discrete wavelet {name!r}; closest PyWavelets names: {close} "
            "(see pywt.wavelist(kind='discrete'))"
        )
    return tuple(float(v) for v in pywt.Wavelet(name).dec_lo)


def output_length(n: int, filter_length: int, mode: str) -> int:
    """Length of ``cA`` along an axis of length n, as ``pywt.dwt_coeff_len``.

    >>> output_length(32, 4, "periodization"), output_length(32, 4, "symmetric")
    (16, 17)
    """
    return math.ceil(n / 2) if mode == PERIODIZATION else (n + filter_length - 1) // 2


def _gather_index(n: int, length: int, mode: str, device: torch.device) -> torch.Tensor | None:
    """Indices into the signal of the extended signal that a stride-2 correlation with the reversed
    filter reads (module docstring); None for zero padding."""
    if mode == PERIODIZATION:
        n_ext = n + n % 2
        t = torch.arange(-(length // 2 - 1), n_ext + length // 2 - 1, device=device) % n_ext
        return t.clamp(max=n - 1)  # odd n: position n is the repeated last sample
    index_map = EXTENSIONS[mode]
    if index_map is None:
        return None
    # the odd samples of the full convolution are a correlation, from position -(L - 2) on
    return index_map(torch.arange(-(length - 2), n + length - 1, device=device), n)


def _extend(x: torch.Tensor, length: int, mode: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    if mode == "zero":
        # left L - 2 and right L - 1 zeros: the full-convolution frame, less its unused first sample
        return F.pad(x, (length - 2, length - 1, length - 2, length - 1))
    rows = _gather_index(h, length, mode, x.device)
    cols = _gather_index(w, length, mode, x.device)
    assert rows is not None and cols is not None
    return x.index_select(-2, rows).index_select(-1, cols)


def wavelet_pool2d(
    x: torch.Tensor, wavelet: str = "haar", *, mode: str = PERIODIZATION, mean_preserving: bool = False
) -> torch.Tensor:
    """The LL subband of a one-level 2-D DWT, equal to ``pywt.dwt2(x, wavelet, mode=mode)[0]``.

    Args:
        x: real maps (B, C, H, W).
        wavelet: a PyWavelets discrete wavelet name.
        mode: a boundary mode of :data:`MODES` (module docstring).
        mean_preserving: divide by ``sum(dec_lo)^2`` so constants pool to themselves.

    Shape:
        (B, C, H, W) -> (B, C, H', W').
    """
    if mode not in MODES:
        raise ConfigError(f"unknown wavelet boundary mode {mode!r}; expected one of {MODES}")
    if x.dim() != 4 or not x.is_floating_point():
        raise ConfigError(
            f"wavelet_pool2d needs real floating maps (B, C, H, W), got {tuple(x.shape)} {x.dtype}"
        )
    lowpass = torch.tensor(wavelet_lowpass(wavelet), dtype=torch.float64)
    return _pool(x, lowpass, mode=mode, mean_preserving=mean_preserving)


def _pool(x: torch.Tensor, lowpass: torch.Tensor, *, mode: str, mean_preserving: bool) -> torch.Tensor:
    length = lowpass.numel()
    if mode == PERIODIZATION and length % 2:
        raise ConfigError(f"periodization needs an even filter length, got {length}")
    if mode == "reflect" and min(x.shape[-2:]) < 2:
        raise ConfigError(f"reflect mode needs H and W of at least 2, got {tuple(x.shape[-2:])}")
    taps = lowpass.flip(0)  # conv2d correlates; the DWT convolves
    kernel = torch.outer(taps, taps)
    if mean_preserving:
        kernel = kernel / lowpass.sum() ** 2
    channels = x.shape[1]
    weight = kernel.to(device=x.device, dtype=x.dtype).expand(channels, 1, length, length)
    out = F.conv2d(_extend(x, length, mode), weight, stride=2, groups=channels)
    h, w = (output_length(n, length, mode) for n in x.shape[-2:])
    return out[..., :h, :w]


class WaveletPool2d(nn.Module):
    """Downsampling to the LL subband of a one-level 2-D DWT (:func:`wavelet_pool2d`).

    Args:
        wavelet: a PyWavelets discrete wavelet name (``"haar"``, ``"db2"``, ...).
        mode: a boundary mode of :data:`MODES`; ``periodization`` (default) halves even sizes exactly.
        mean_preserving: divide by ``sum(dec_lo)^2`` so constants pool to themselves.

    The filter is a non-persistent float64 buffer (it follows ``.to(device)``; it is fixed by
    ``wavelet`` and never enters a ``state_dict``).

    Shape:
        x: (B, C, H, W) -> (B, C, H', W').
    """

    lowpass: torch.Tensor

    def __init__(
        self, wavelet: str = "haar", *, mode: str = PERIODIZATION, mean_preserving: bool = False
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"unknown wavelet boundary mode {mode!r}; expected one of {MODES}")
        self.wavelet, self.mode, self.mean_preserving = wavelet, mode, mean_preserving
        self.register_buffer(
            "lowpass", torch.tensor(wavelet_lowpass(wavelet), dtype=torch.float64), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or not x.is_floating_point():
            raise ConfigError(
                f"WaveletPool2d needs real floating maps (B, C, H, W), got {tuple(x.shape)} {x.dtype}"
            )
        return _pool(x, self.lowpass, mode=self.mode, mean_preserving=self.mean_preserving)

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet!r}, mode={self.mode!r}, mean_preserving={self.mean_preserving}"
