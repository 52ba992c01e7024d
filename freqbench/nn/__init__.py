"""nn package: layers built on the ops layer (normalisation, spectral pooling, spectral
parameterisation, wavelet pooling, frequency modulation)."""

from freqbench.nn.frequency_modulation import BandSplit, FrequencyModulation
from freqbench.nn.normalize import Classifier, Normalize
from freqbench.nn.spectral_conv import SpectralConv2d
from freqbench.nn.spectral_pool import SpectralPool2d, frequency_dropout_lower, spectral_pool2d
from freqbench.nn.wavelet_pool import WaveletPool2d, wavelet_pool2d

__all__ = [
    "BandSplit",
    "Classifier",
    "FrequencyModulation",
    "Normalize",
    "SpectralConv2d",
    "SpectralPool2d",
    "WaveletPool2d",
    "frequency_dropout_lower",
    "spectral_pool2d",
    "wavelet_pool2d",
]
