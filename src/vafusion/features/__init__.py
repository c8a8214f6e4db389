"""Feature extractors. Each produces a :class:`~vafusion.features.base.FeatureTable`."""

from vafusion.features.base import FeatureTable

__all__ = ["FeatureTable"]
