"""A per-frame view of a table's rows without copying them (e.g. a feature-store memmap)."""

from __future__ import annotations

import numpy as np

from vafusion.errors import ModelError

#: Frames per chunk when statistics are computed over memory-mapped features.
CHUNK_FRAMES = 8192


class FrameRows:
    """Per-frame view of a table's rows without copying them (e.g. a store memmap).

    Frame ``i`` is row ``rows[i]`` of ``values``, or missing when ``rows[i] < 0``. This is
    how a long-form face table (several faces per frame) is seen as one subject's dense
    ``(n_frames, D)`` array, and how a per-frame table is read lazily.

    Parameters
    ----------
    values : numpy.ndarray, shape (R, D)
        Table rows; usually a read-only ``numpy.memmap`` of the store's ``values.npy``.
    rows : numpy.ndarray, shape (N,), int64
        Row of ``values`` for each frame; -1 where the frame has no row.
    """

    def __init__(self, values: np.ndarray, rows: np.ndarray) -> None:
        if values.ndim != 2:
            raise ModelError(f"FrameRows needs 2-D values, got shape {values.shape}")
        self.values = values
        self.rows = np.asarray(rows, dtype=np.int64)
        if self.rows.size and int(self.rows.max()) >= values.shape[0]:
            raise ModelError("FrameRows: a row index is past the end of the table")

    @classmethod
    def of(cls, x: np.ndarray | FrameRows) -> FrameRows:
        """``x`` itself if already a view, else the identity view of a dense (N, D) array."""
        if isinstance(x, FrameRows):
            return x
        return cls(np.asarray(x), np.arange(len(x), dtype=np.int64))

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, D)``: frames x columns, as the dense array would be."""
        return (len(self.rows), int(self.values.shape[1]))

    @property
    def dtype(self) -> np.dtype:
        """dtype of the values."""
        return self.values.dtype

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Rows of the given frames.

        Parameters
        ----------
        frames : numpy.ndarray, shape (K,), int64
            Frame indices; values outside ``[0, N)`` are padding.
        out : numpy.ndarray, shape (K, D), float32, optional
            Filled in place.

        Returns
        -------
        numpy.ndarray, shape (K, D), float32
            NaN for frames without a row (and padding).
        """
        frames = np.asarray(frames, dtype=np.int64)
        n = len(self.rows)
        inside = (frames >= 0) & (frames < n)
        r = np.full(len(frames), -1, dtype=np.int64)
        r[inside] = self.rows[frames[inside]]
        ok = r >= 0
        if out is None:
            out = np.empty((len(frames), self.values.shape[1]), dtype=np.float32)
        if ok.all():
            if len(r) and r[-1] - r[0] == len(r) - 1 and (np.diff(r) == 1).all():
                out[:] = self.values[r[0] : r[-1] + 1]  # contiguous rows: a plain slice
            else:
                out[:] = self.values[r]
            return out
        out[:] = np.nan
        if ok.any():
            out[ok] = self.values[r[ok]]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Materialise the dense ``(N, D)`` array (NaN where a frame has no row)."""
        dense = self.take(np.arange(len(self.rows)))
        return dense if dtype is None else dense.astype(dtype, copy=False)

    def chunks(self, valid: np.ndarray, size: int = CHUNK_FRAMES):
        """Yield ``(values (k, D), valid (k,))`` over the frames in chunks of ``size``.

        Lets statistics stream over a long video without materialising it.
        """
        valid = np.asarray(valid, dtype=bool)
        for a in range(0, len(self.rows), size):
            b = min(a + size, len(self.rows))
            yield self.take(np.arange(a, b)), valid[a:b]
