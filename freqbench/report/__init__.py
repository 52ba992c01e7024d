"""Reports rebuilt from stored records only: tables, plots, HTML, the regression gate; no torch.

``tables`` and ``summaries`` turn records into tables (rows are models; columns conditions or the
summaries a suite names: mCE, per-severity, robust accuracy...); ``render`` writes them as rich
console, markdown, CSV, JSON, LaTeX or HTML (``html``); ``plots`` and ``plot_index`` draw a run's plots
from its records and arrays; ``frame`` gives a pandas DataFrame; ``gate`` compares a run with committed
baseline records (``freqbench check``).
"""
