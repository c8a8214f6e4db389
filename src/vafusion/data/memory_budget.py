"""How much memory the in-RAM training windows would take, and whether to use them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vafusion.data.windows import n_windows
from vafusion.errors import ConfigError

if TYPE_CHECKING:
    from vafusion.data.sequences import FeatureSpec, VideoData


def feature_bytes(videos: list[VideoData], spec: FeatureSpec, length: int, stride: int) -> int:
    """Bytes the in-RAM :class:`WindowData` of ``videos`` would hold for the features.

    ``padded frames x sum(D) x 4`` (the masks and labels are not counted: they are small).
    """
    frames = sum(
        0 if (c := n_windows(v.n_frames, length, stride)) == 0 else (c - 1) * stride + length
        for v in videos
    )
    return frames * sum(spec.dims[m] for m in spec.modalities) * 4


def available_memory() -> int | None:
    """Memory the system can give without swapping (``MemAvailable``), in bytes; None if
    unknown (not Linux)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def choose_in_memory(mode: str, n_bytes: int, fraction: float = 0.5) -> bool:
    """Decide whether windows are packed in RAM.

    Parameters
    ----------
    mode : {"auto", "ram", "mmap"}
        ``auto``: in RAM when ``n_bytes`` is at most ``fraction`` of the available memory
        (or, when that is unknown, at most 4 GB).
    n_bytes : int
        From :func:`feature_bytes`.
    """
    if mode == "ram":
        return True
    if mode == "mmap":
        return False
    if mode != "auto":
        raise ConfigError(f"data memory mode must be auto, ram or mmap, got {mode!r}")
    avail = available_memory()
    budget = fraction * avail if avail is not None else 4 * 1024**3
    return n_bytes <= budget
