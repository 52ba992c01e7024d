"""The ``freqbench`` command line: thin typer commands over :mod:`freqbench.api`.

``main`` holds the app and ``run``, ``ls``, ``report``, ``check``; ``data`` the ``freqbench data``
commands (cache listing, imports, ``make-c``); ``train`` the ``freqbench train`` command. Commands parse
options, call the facade and print; no evaluation logic lives here. ``python -m freqbench.cli`` is the
console script.
"""
