"""Imported last by a :class:`~vafusion.parallel.local.ChunkPool`'s fork server.

The fork server imports the heavy libraries once (its preload list) and forks every worker
from itself. Importing this module, after them, freezes the server's heap
(``gc.freeze``), as Python's :mod:`gc` documentation advises for a process that forks
without exec: collections in the workers then skip the objects they inherited, so they do
not write to (and copy) those shared pages, and the server's own exit at the end of a run
skips walking them (~0.2 s of an otherwise finished ``predict`` whose output is read
through a pipe; ``benchmarks/predict_vs_commit.py``).

Do not import it anywhere else: it freezes whatever process imports it.
"""

import gc

gc.freeze()
