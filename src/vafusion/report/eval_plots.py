"""Figures of an evaluation (``vafusion evaluate`` / ``ablate``): predicted vs true.

:func:`video_figure` draws one video's predicted and annotated valence and arousal over
time; :func:`scatter_figure` the predicted against the true values of every annotated frame
of a split (a 2-D histogram: a split has hundreds of thousands of frames);
:func:`ablation_figure` the paper's and our CCC per Table I row. All return PNG bytes.
"""

from __future__ import annotations

import numpy as np

from vafusion.report.plots import _png, new_figure


def video_figure(
    times: np.ndarray, pred: np.ndarray, true: np.ndarray, title: str = "", dpi: int = 90
) -> bytes:
    """Predicted (solid) and true (black) valence and arousal of one video.

    Parameters
    ----------
    times : numpy.ndarray, shape (T,)
        Seconds.
    pred, true : numpy.ndarray, shape (T, 2)
        Valence and arousal; ``true`` is NaN where not annotated.
    """
    fig = new_figure(figsize=(10, 3.8), dpi=dpi)
    axes = fig.subplots(2, 1, sharex=True)
    for k, (ax, name, c) in enumerate(zip(axes, ("valence", "arousal"), ("C0", "C3"), strict=True)):
        ax.axhline(0, color="0.6", lw=0.5, zorder=1)
        ax.plot(times, true[:, k], color="k", lw=1.0, label="annotation", zorder=2)
        ax.plot(times, pred[:, k], color=c, lw=1.4, label="predicted", zorder=3)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].set_xlabel("time (s)")
    if title:
        axes[0].set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9 if title else 0.96, bottom=0.13)
    return _png(fig)


def scatter_figure(pred: np.ndarray, true: np.ndarray, title: str = "", dpi: int = 90) -> bytes:
    """Predicted against true valence and arousal of all annotated frames (2-D histograms).

    Parameters
    ----------
    pred, true : numpy.ndarray, shape (N, 2)
        Frames with NaN in ``true`` are left out.
    """
    fig = new_figure(figsize=(9, 4.2), dpi=dpi)
    axes = fig.subplots(1, 2)
    for k, (ax, name) in enumerate(zip(axes, ("valence", "arousal"), strict=True)):
        ok = np.isfinite(true[:, k]) & np.isfinite(pred[:, k])
        ax.hist2d(true[ok, k], pred[ok, k], bins=60, range=[[-1, 1], [-1, 1]], cmap="viridis",
                  cmin=1)  # fmt: skip
        ax.plot([-1, 1], [-1, 1], color="0.4", lw=0.8, ls="--")
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"predicted {name}")
        ax.set_aspect("equal")
        ax.set_title(f"{name} ({int(ok.sum())} frames)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.86, bottom=0.13, wspace=0.3)
    return _png(fig)


def ablation_figure(rows: list[dict], dpi: int = 90) -> bytes:
    """Bars of CCC per Table I row: paper (hatched) and ours, valence and arousal."""
    fig = new_figure(figsize=(max(6, 1.6 * len(rows)), 3.6), dpi=dpi)
    ax = fig.subplots()
    x = np.arange(len(rows))
    w = 0.2
    bars = (
        ("paper_valence", "paper valence", "C0", "//", -1.5),
        ("ours_valence", "ours valence", "C0", None, -0.5),
        ("paper_arousal", "paper arousal", "C3", "//", 0.5),
        ("ours_arousal", "ours arousal", "C3", None, 1.5),
    )
    for key, label, c, hatch, off in bars:
        vals = [np.nan if r.get(key) is None else r[key] for r in rows]
        ax.bar(x + off * w, vals, w, label=label, color="white" if hatch else c,
               edgecolor=c, hatch=hatch)  # fmt: skip
    ax.set_xticks(x, [r["features"] for r in rows], fontsize=8, rotation=15, ha="right")
    ax.set_ylabel("CCC (validation)")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.28)
    return _png(fig)
