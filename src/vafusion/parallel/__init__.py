"""Speed on the hardware: one video on several cores, chunks as tasks.

- :mod:`vafusion.parallel.chunks`: time chunks at keyframes, face tracking of one chunk
  (the task of a worker process);
- :mod:`vafusion.parallel.stitch`: chunks back into one stream (face ids, frame indices);
- :mod:`vafusion.parallel.local`: :class:`~vafusion.parallel.local.ChunkPool` and
  :func:`~vafusion.parallel.local.process_chunked`.
"""
