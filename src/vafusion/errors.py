"""The one exception hierarchy of vafusion.

Every error a user can cause (bad file, bad annotation, bad config) is a
:class:`VafusionError`; the CLI prints it as one line ``error: <path>: <problem>`` and
exits non-zero. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from os import PathLike


class VafusionError(Exception):
    """Base class of every user-facing vafusion error.

    Parameters
    ----------
    message : str
        What went wrong, in one line, phrased for the user.
    path : str or PathLike, optional
        The file or folder the problem is about; printed before the message.
    """

    exit_code: int = 1

    def __init__(self, message: str, path: str | PathLike | None = None) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __reduce__(self):
        # keep message and path apart across processes (Dask, vafusion.isolation)
        return (type(self), (self.message, self.path))


class MediaError(VafusionError):
    """A media file cannot be opened, decoded or has no usable stream."""


class AnnotationError(VafusionError):
    """Annotation files are missing, malformed or do not match the video."""


class ConfigError(VafusionError):
    """A configuration file or option is invalid."""


class ModelError(VafusionError):
    """A model or checkpoint cannot be loaded or does not fit the data."""


class StoreError(VafusionError):
    """The feature store is missing, corrupt or lacks the requested entry."""
