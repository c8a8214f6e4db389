"""Memory maps of feature-store arrays through one bounded LRU cache.

A ``numpy.memmap`` holds an open file descriptor for as long as it lives (Python's
:class:`mmap.mmap` duplicates the descriptor), so a training set that kept one map per video
and feature set would hold ``videos x sets`` descriptors: about 1,200 for Aff-Wild2's VA
track, above the common ``ulimit -n`` of 1,024. Here a split's feature arrays are
:class:`MappedArray` objects that know their file, offset, shape and dtype but hold no map;
each read goes through a process-wide :class:`MapCache` that keeps at most ``max_maps``
maps open (least recently used dropped first; :func:`default_max_maps`). Open descriptors
and mapped memory are then bounded whatever the number of videos; the cost of a miss is one
``open`` + ``mmap`` of an already-parsed file (the ``.npy`` header is read once, when the
array is described).

Hand-written rather than :func:`functools.lru_cache` because entries must be looked up by
file and evicted explicitly, and the bound must be changeable at run time (tests, the
benchmark).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from vafusion.errors import StoreError


def default_max_maps() -> int:
    """Default bound of simultaneously open maps: ``VAFUSION_MAX_MAPS``, else a quarter of
    the soft ``RLIMIT_NOFILE`` capped at 256 (256 under the common 1,024; 64 under macOS's
    256), leaving the rest of the descriptors to everything else."""
    env = os.environ.get("VAFUSION_MAX_MAPS")
    if env:
        return max(1, int(env))
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY or soft <= 0:
            soft = 1024
    except (ImportError, OSError, ValueError):  # not Unix
        soft = 1024
    return max(8, min(256, soft // 4))


class MapCache:
    """Bounded LRU cache of read-only memory maps, keyed by file path.

    Parameters
    ----------
    max_maps : int
        Maps kept open at most (>= 1).
    """

    def __init__(self, max_maps: int | None = None) -> None:
        self.max_maps = max(1, int(max_maps if max_maps is not None else default_max_maps()))
        self._maps: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.opened = 0  # maps opened so far (misses), for tests and the benchmark

    def get(self, array: MappedArray) -> np.ndarray:
        """The read-only mapped array of ``array`` (mapped if not cached; the oldest map is
        dropped, and unmapped once no view of it remains)."""
        with self._lock:
            mm = self._maps.get(array.path)
            if mm is not None:
                self._maps.move_to_end(array.path)
                return mm
            mm = _map(array)
            self.opened += 1
            self._maps[array.path] = mm
            while len(self._maps) > self.max_maps:
                self._maps.popitem(last=False)  # unmapped (fd closed) when no view remains
            return mm

    def resize(self, max_maps: int) -> None:
        """Change the bound (drops the oldest maps if needed)."""
        with self._lock:
            self.max_maps = max(1, int(max_maps))
            while len(self._maps) > self.max_maps:
                self._maps.popitem(last=False)

    def clear(self) -> None:
        """Drop every map."""
        with self._lock:
            self._maps.clear()

    def __len__(self) -> int:
        return len(self._maps)


#: The process-wide cache every :class:`MappedArray` reads through.
MAPS = MapCache()


def _map(array: MappedArray) -> np.ndarray:
    """``mmap`` + ``np.frombuffer``: the same read-only map as ``np.memmap``, about 40 %
    cheaper to open (it skips ``memmap``'s Python-level checks), which matters because
    a training batch may open dozens of maps."""
    import mmap

    n_bytes = array.offset + array.shape[0] * array.shape[1] * array.dtype.itemsize
    try:
        fd = os.open(array.path, os.O_RDONLY)
        try:
            mm = mmap.mmap(fd, n_bytes, access=mmap.ACCESS_READ) if n_bytes else b""
        finally:
            os.close(fd)  # the map keeps its own duplicate while it lives
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot map feature array ({exc})", array.path) from None
    count = array.shape[0] * array.shape[1]
    flat = np.frombuffer(mm, dtype=array.dtype, count=count, offset=array.offset)
    return flat.reshape(array.shape)


class MappedArray:
    """A 2-D ``.npy`` array on disk, read through :data:`MAPS` (no map held between reads).

    Supports what :class:`~vafusion.data.frame_rows.FrameRows` needs: ``shape``, ``ndim``,
    ``dtype``, ``len`` and indexing (slices and integer arrays, returning copies or views
    that are only used immediately).

    Parameters
    ----------
    path : path
        A ``.npy`` file (C order, version 1-3 header).
    shape : tuple of int, optional
        Expected shape (checked against the header, e.g. the store's ``entry.json``).
    cache : MapCache, optional
        Defaults to :data:`MAPS`.

    Raises
    ------
    StoreError
        Unreadable header, Fortran order, or a shape other than the expected one.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        shape: tuple[int, ...] | None = None,
        cache: MapCache | None = None,
    ) -> None:
        self.path = str(Path(path))
        self.cache = cache if cache is not None else MAPS
        try:
            with open(self.path, "rb") as fh:
                fmt = np.lib.format
                version = fmt.read_magic(fh)
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                hdr = read(fh)  # (shape, fortran_order, dtype)
                self.offset = fh.tell()
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read array header ({exc})", self.path) from None
        file_shape, fortran, dtype = hdr
        if fortran or len(file_shape) != 2:
            raise StoreError(f"expected a 2-D C-order array, got shape {file_shape}", self.path)
        if shape is not None and tuple(shape) != tuple(file_shape):
            raise StoreError(f"array has shape {file_shape}, expected {tuple(shape)}", self.path)
        self.shape: tuple[int, int] = (int(file_shape[0]), int(file_shape[1]))
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        """Always 2."""
        return 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        return self.cache.get(self)[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.array(self.cache.get(self))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"MappedArray({self.path!r}, shape={self.shape}, dtype={self.dtype})"
