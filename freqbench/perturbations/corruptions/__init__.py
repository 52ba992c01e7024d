"""The 19 CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019), batched in torch.

Each corruption is a function ``name(x, severity, *, generator=None)`` on float images (B, C, H, W) in
[0, 1] and a :class:`~freqbench.perturbations.corruptions.base.Corruption` subclass registered in
``PERTURBATIONS`` under the same name (``PERTURBATIONS.get("fog")(severity=3)``). They follow the
reference generator ``make_cifar_c.py`` operation for operation, so that on 8-bit inputs with the same
random draws the outputs are the released data's levels. Modules:

- ``base``: the :class:`Corruption` module and its registration, the severity lookup and the 8-bit
  level helpers every family shares (read the input as 8-bit levels, truncate or round back to them);
- one module per family: ``noise`` (Gaussian, shot, impulse, speckle), ``blur`` (Gaussian, defocus,
  glass, motion, zoom), ``weather`` (snow, frost, fog) and ``spatter``, ``digital`` (brightness,
  contrast, saturate, pixelate, JPEG) and ``elastic`` (elastic transform), each with its severity
  tables and their source;
- the operations of the libraries the generator called, re-implemented with their exact arithmetic:
  ``scipy_ops`` (Gaussian filter, zoom, the pre-1.6 reflect border), ``opencv_ops`` (Gaussian taps,
  ``filter2D``, RGB to grey, Canny, distance transform, box filter, histogram equalisation),
  ``imagemagick_ops`` (motion blur) and ``pil_ops`` (BOX resize, ``convert('L')``).

The names and severities are listed once in :mod:`freqbench.corruption_names`; importing this package
registers nothing (``freqbench.perturbations`` imports the family modules on the first lookup).
"""
