"""Pure tensor functions, below every layer that builds models or transforms images.

Frequency tools: ``masks`` (radial grids and filter masks on the ``rfft2`` half plane), ``spectral_mask``
and its ``matmul`` / ``triton`` backends (the fused FFT-mask operator), ``real_dft`` (the orthonormal
real DFT basis), ``spectrum`` (radial power spectra, band energy fractions), ``filter_stats`` (the
radial statistic of learned kernels), ``kernels`` (Gaussian taps with SciPy's arithmetic). Support:
``random`` (per-sample counter-based random numbers), ``scoring`` (per-sample scores of logits),
``device`` (device selection, threads, out-of-memory back-off). No file I/O: that is in
:mod:`freqbench.store`.
"""
