"""Training data: frame-level features joined with labels, windows, normalisation."""

from vafusion.data.normalize import Normalizer
from vafusion.data.sequences import MODALITIES, FeatureSpec, VideoData, WindowData, fit_normalizer
from vafusion.data.windows import average_windows, n_windows, window_frame_index, window_starts

__all__ = [
    "MODALITIES",
    "FeatureSpec",
    "Normalizer",
    "VideoData",
    "WindowData",
    "average_windows",
    "fit_normalizer",
    "n_windows",
    "window_frame_index",
    "window_starts",
]
