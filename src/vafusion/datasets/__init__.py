"""Datasets: Aff-Wild2 (VA track), AFEW-VA and a generic CSV layout, behind one type.

Public API
----------
:func:`load_dataset` (``root, layout="auto"``) -> :class:`Dataset` with ``.entries(split)``
    returning :class:`VideoEntry` (``name, video, video_path, split, subject, labels``;
    ``labels`` (N, 2) float32 valence/arousal, NaN = not annotated, None for test).
:func:`parse_va_txt`, :func:`parse_va_csv`
    Strict annotation parsers (:class:`~vafusion.errors.AnnotationError` with file and line).
:func:`reconcile`, :func:`align_labels`, :class:`Tolerance`, :class:`Reconciliation`
    Annotation rows vs decoded frames: report, align by frame index, refuse beyond
    ``max(5 frames, 1 %)``.
:func:`scan_images`, :func:`is_image_sequence`
    AFEW-VA frame folders as a frame source for extraction.

See ``docs/datasets.md``.
"""

from vafusion.datasets.annotations import parse_va_csv, parse_va_txt, read_name_list
from vafusion.datasets.imageseq import is_image_sequence, scan_images
from vafusion.datasets.layouts import (
    VIDEO_EXTENSIONS,
    detect_layout,
    find_videos,
    load_afew_va,
    load_affwild2,
    load_csv_dataset,
    load_dataset,
    split_subject,
)
from vafusion.datasets.reconcile import (
    Reconciliation,
    Tolerance,
    align_labels,
    count_frames,
    reconcile,
    reconcile_entry,
)
from vafusion.datasets.types import SPLITS, Dataset, VideoEntry

__all__ = [
    "SPLITS",
    "VIDEO_EXTENSIONS",
    "Dataset",
    "Reconciliation",
    "Tolerance",
    "VideoEntry",
    "align_labels",
    "count_frames",
    "detect_layout",
    "find_videos",
    "is_image_sequence",
    "load_affwild2",
    "load_afew_va",
    "load_csv_dataset",
    "load_dataset",
    "parse_va_csv",
    "parse_va_txt",
    "read_name_list",
    "reconcile",
    "reconcile_entry",
    "scan_images",
    "split_subject",
]
