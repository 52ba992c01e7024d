"""freqbench's file I/O, torch-free: run directories, the atomic-write rule, the download cache.

``run`` is the run directory (manifest, records, commit markers, per-sample arrays; resume, one writer)
and the :class:`~freqbench.store.run.Record` type reports read; ``aggregate`` turns per-sample results
into records with confidence intervals. ``files`` is the one atomic-write rule every layer follows;
``download`` the verified, checksum-pinned cache shared by datasets and model weights; ``fingerprint``
the cached content digests of large inputs. It sits below ``ops``, so data, models, training and
attacks all write files the same way.
"""
