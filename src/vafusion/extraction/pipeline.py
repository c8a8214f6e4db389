"""The extraction :class:`Pipeline`: one decode pass per video for every feature set.

A pipeline is built from a :class:`~vafusion.extraction.config.PipelineConfig`. It owns the
loaded feature sets (config and weights, shareable) and one face tracker (MediaPipe graphs,
stateful, closed with the pipeline: use it as a context manager). For each video it makes
fresh per-video accumulators, so nothing per-video is ever shared between threads; one
pipeline processes one video at a time, and :meth:`Pipeline.fork` gives another thread its
own tracker around the same loaded sets.

Frame-based sets see every decoded frame together with the faces the tracker found in it;
audio sets need only the frame timestamps of that pass. So ``audio,facepose,expression``
decodes the video once and runs face tracking once, as three overlapped stages
(decode | track | features, :func:`run_overlapped`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vafusion.errors import ConfigError, VafusionError
from vafusion.extraction.config import PipelineConfig, set_key, set_provenance
from vafusion.extraction.overlap import run_overlapped
from vafusion.extraction.registry import feature_set_class
from vafusion.features.base import Accumulator, FeatureSet, FeatureTable
from vafusion.io.media import FrameSource, Video, VideoFrame, VideoInfo
from vafusion.log import expected_frames, progress_bar


@dataclass
class VideoFeatures:
    """What one pass over one video gives.

    Attributes
    ----------
    info : VideoInfo
    timestamps : numpy.ndarray, shape (n_frames,), float64
        Time of every decoded frame on the video time axis.
    tables : dict of str to FeatureTable
        One table per feature set (and per extra accumulator, by its table name).
    keys : dict of str to str
        Store key of each feature set's table (see :func:`~vafusion.extraction.config.set_key`).
    """

    info: VideoInfo
    timestamps: np.ndarray
    tables: dict[str, FeatureTable] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> FeatureTable:
        try:
            return self.tables[name]
        except KeyError:
            raise ConfigError(
                f"no {name!r} table in this result (it has {', '.join(self.tables)})"
            ) from None

    def to_frame(self, face: str | int = "main"):
        """Every set side by side: the front door's time-indexed DataFrame.

        Parameters
        ----------
        face : {"main", "left", "right"} or int
            Subject of the face sets (see :func:`vafusion.faces.subjects.choose_track`).

        Returns
        -------
        pandas.DataFrame
            ``n_frames`` rows indexed by ``time`` (seconds on the video time axis), columns
            ``frame``, then per set its validity column and its features: NaN rows (validity
            0) where a face or the audio is missing, never dropped rows.
        """
        from vafusion.faces.subjects import per_frame_frame

        df = per_frame_frame(self.tables, self.info.n_frames, self.timestamps, face)
        return df.set_index("timestamp").rename_axis("time")


class Pipeline:
    """Decode | track faces | feature sets, for one video at a time.

    Parameters
    ----------
    config : PipelineConfig or str or sequence of str, optional
        The settings; a feature-set spec such as ``"audio,facepose"`` means those sets with
        their default settings. Default: ``PipelineConfig()`` (the ``audio`` set).
    feature_sets : mapping of str to FeatureSet, optional
        Already loaded sets to use instead of loading them (they must have the config's
        settings); how forks and models share loaded weights.

    Examples
    --------
    >>> with Pipeline("audio,expression") as pipe:  # doctest: +SKIP
    ...     result = pipe.process("clip.mp4")
    >>> result["expression"].values.shape  # doctest: +SKIP
    (472, 135)
    """

    def __init__(
        self,
        config: PipelineConfig | str | Sequence[str] | None = None,
        *,
        feature_sets: Mapping[str, FeatureSet] | None = None,
    ) -> None:
        if config is None:
            config = PipelineConfig()
        elif not isinstance(config, PipelineConfig):
            config = PipelineConfig.of(config)
        self.config = config
        given = dict(feature_sets or {})
        self.sets: dict[str, FeatureSet] = {}
        for name in config.features:
            fs = given.get(name)
            if fs is None:
                fs = feature_set_class(name)(config.sets[name])
            elif fs.config != config.sets[name]:
                raise VafusionError(f"feature set {name!r} was loaded with other settings")
            self.sets[name] = fs
        self._owns_sets = not given
        self._tracker: Any = None
        self._busy = threading.Lock()
        self._keys = {name: set_key(fs, config) for name, fs in self.sets.items()}

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the face tracker (and the sets' resources if this pipeline loaded them)."""
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
        if self._owns_sets:
            for fs in self.sets.values():
                fs.close()

    def fork(self) -> Pipeline:
        """A pipeline with the same loaded sets and its own tracker (for another thread)."""
        return Pipeline(self.config, feature_sets=self.sets)

    # ------------------------------------------------------------------ properties
    @property
    def needs_faces(self) -> bool:
        """Whether a pass runs the face tracker."""
        return any(fs.needs_faces for fs in self.sets.values())

    @property
    def needs_frames(self) -> bool:
        """Whether a pass converts frames to pixels (else it only counts them)."""
        return any(fs.needs_frames or fs.needs_faces for fs in self.sets.values())

    def keys(self) -> dict[str, str]:
        """Store key of each set (covers every setting it depends on)."""
        return dict(self._keys)

    def provenance(self, name: str) -> dict[str, Any]:
        """What set ``name``'s key covers (recorded next to stored features)."""
        return set_provenance(self.sets[name], self.config)

    @property
    def tracker(self):
        """The face tracker (created on first use)."""
        if self._tracker is None:
            from vafusion.faces.tracker import FaceTracker

            self._tracker = FaceTracker(self.config.faces)
        return self._tracker

    def source(self, path: str | os.PathLike) -> FrameSource:
        """The frame source of ``path`` with this pipeline's decoder settings."""
        return Video(path, max_side=self.config.decoder.size_cap)

    # ------------------------------------------------------------------ work
    def process(
        self,
        source: str | os.PathLike | FrameSource,
        *,
        extra: Sequence[Accumulator] = (),
    ) -> VideoFeatures:
        """Run every feature set on one video in a single decode pass.

        Parameters
        ----------
        source : path or FrameSource
            A media file (decoded with this pipeline's decoder settings) or a source such
            as :class:`vafusion.datasets.imageseq.ImageSequence`.
        extra : sequence of Accumulator
            More per-video accumulators fed in the same pass (e.g. predict's face boxes);
            each needs a ``name`` attribute, the key of its table.

        Returns
        -------
        VideoFeatures

        Raises
        ------
        MediaError
            The video cannot be decoded.
        VafusionError
            The pipeline is already processing a video in another thread.
        """
        if not self._busy.acquire(blocking=False):
            raise VafusionError(
                "this Pipeline is processing another video; use Pipeline.fork() per thread"
            )
        try:
            return self._process(source, extra)
        finally:
            self._busy.release()

    def _process(self, source: Any, extra: Sequence[Accumulator]) -> VideoFeatures:
        if not hasattr(source, "scan"):
            source = self.source(source)
        accs = {name: fs.accumulator(source) for name, fs in self.sets.items()}
        feeds = [accs[n] for n, fs in self.sets.items() if fs.needs_frames or fs.needs_faces]
        feeds += list(extra)
        track = self.needs_faces or any(acc.needs_faces for acc in extra)
        label = os.path.basename(str(source.path))
        total = expected_frames(source.path)
        with progress_bar(label, total=total, unit="frames") as advance:

            def consume(frame: VideoFrame, faces: list) -> None:
                for acc in feeds:
                    acc.push(frame, faces)
                advance()

            if track:
                tracker = self.tracker
                tracker.reset()
                info, timestamps = run_overlapped(source.scan, tracker.process, consume)
            elif feeds:
                info, timestamps = source.scan(lambda f: consume(f, []))
            else:
                info, timestamps = source.scan(None)
        tables = {name: acc.finish(info, timestamps) for name, acc in accs.items()}
        for acc in extra:
            tables[acc.name] = acc.finish(info, timestamps)
        return VideoFeatures(info, np.asarray(timestamps), tables, self.keys())


class PipelinePool:
    """Pipelines sharing one set of loaded feature sets, one per concurrent thread.

    Parameters
    ----------
    pipeline : Pipeline
        The first pipeline; others are its :meth:`~Pipeline.fork` (same loaded sets, own
        face tracker), made when several threads process videos at once.

    Examples
    --------
    >>> pool = PipelinePool(Pipeline("expression"))  # doctest: +SKIP
    >>> with pool.acquire() as pipe:  # doctest: +SKIP
    ...     result = pipe.process("clip.mp4")
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.first = pipeline
        self._idle = [pipeline]
        self._all = [pipeline]
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def acquire(self) -> Iterator[Pipeline]:
        """A pipeline no other thread uses until the block ends."""
        with self._lock:
            if self._idle:
                pipe = self._idle.pop()
            else:
                pipe = self.first.fork()
                self._all.append(pipe)
        try:
            yield pipe
        finally:
            with self._lock:
                self._idle.append(pipe)

    def close(self) -> None:
        """Close every pipeline of the pool (the first one last: it owns the sets)."""
        with self._lock:
            for pipe in reversed(self._all):
                pipe.close()
            self._idle, self._all = [], []
