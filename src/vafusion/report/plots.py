"""Static figures of a prediction (matplotlib, Agg backend: no display needed).

:func:`va_figure` draws valence and arousal over time (face-missing spans grey, stress
episodes red) next to the trajectory of each face in the circumplex plane (time as colour,
with a colour bar), and returns PNG bytes.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

#: Quadrant labels of the circumplex panel (Russell 1980).
_QUADRANT_LABELS = (
    (0.55, 0.9, "excited / happy"),
    (-0.55, 0.9, "tense / angry"),
    (-0.55, -0.9, "sad / tired"),
    (0.55, -0.9, "calm / content"),
)


def new_figure(**kwargs):
    """A matplotlib ``Figure`` outside pyplot (``kwargs``: ``figsize``, ``dpi``, ...).

    No pyplot: nothing global to close, safe in any thread, and pyplot's import is not
    paid; ``savefig`` renders with Agg.
    """
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def missing_spans(timestamps: np.ndarray, valid: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) times of runs of frames without a face.

    Parameters
    ----------
    timestamps : numpy.ndarray, shape (T,)
    valid : numpy.ndarray, shape (T,), bool

    Returns
    -------
    list of (float, float)
        Each span covers its frames fully (end = time of the next frame).
    """
    t = np.asarray(timestamps, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool)
    if len(t) == 0:
        return []
    step = np.diff(t).mean() if len(t) > 1 else 0.04
    ends = np.append(t[1:], t[-1] + step)
    spans: list[tuple[float, float]] = []
    start = None
    for i in range(len(t)):
        if not ok[i] and start is None:
            start = t[i]
        if ok[i] and start is not None:
            spans.append((start, t[i]))
            start = None
    if start is not None:
        spans.append((start, ends[-1]))
    return spans


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def va_figure(
    df: pd.DataFrame,
    title: str = "",
    dpi: int = 100,
    episodes: list[tuple[float, float]] | None = None,
) -> bytes:
    """Plot per-frame valence/arousal of one video.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``timestamp, face_id, face_valid, valence, arousal`` (one row per frame per
        reported face, as :func:`vafusion.predict.predict` returns) and optionally
        ``confidence`` in [0, 1]: the curve fades where it is low.
    title : str
    dpi : int
    episodes : list of (start_s, end_s), optional
        Stress episodes, shaded red on the time panels.

    Returns
    -------
    bytes
        PNG image.
    """
    from matplotlib.artist import setp
    from matplotlib.patches import Circle

    fig = new_figure(figsize=(12, 4.6), dpi=dpi)
    # fixed margins instead of bbox_inches="tight" (which draws the figure twice)
    gs = fig.add_gridspec(
        2,
        2,
        width_ratios=(2.6, 1.0),
        hspace=0.12,
        wspace=0.18,
        left=0.06,
        right=0.985,
        bottom=0.11,
        top=0.9 if title else 0.95,
    )
    ax_v = fig.add_subplot(gs[0, 0])
    ax_a = fig.add_subplot(gs[1, 0], sharex=ax_v)
    ax_c = fig.add_subplot(gs[:, 1])
    from vafusion.report.player import face_color

    faces = _faces(df)
    # shade spans where *no* reported face is valid
    by_frame = df.groupby("frame", sort=True).agg(
        timestamp=("timestamp", "first"), valid=("face_valid", "max")
    )
    for s, e in missing_spans(by_frame["timestamp"].to_numpy(), by_frame["valid"].to_numpy() > 0):
        for ax in (ax_v, ax_a):
            ax.axvspan(s, e, color="0.85", lw=0, zorder=0)
    for s, e in episodes or []:
        for ax in (ax_v, ax_a):
            ax.axvspan(s, e, color="#d93025", alpha=0.13, lw=0, zorder=0)
    t_all = df["timestamp"].to_numpy()
    t_range = (float(t_all.min()), float(t_all.max())) if len(t_all) else (0.0, 1.0)
    points = None
    for k, (fid, sub) in enumerate(faces):
        c = face_color(k)
        label = f"face {fid}" if fid >= 0 else None
        t = sub["timestamp"].to_numpy()
        conf = sub["confidence"].to_numpy() if "confidence" in sub else None
        for ax, col in ((ax_v, "valence"), (ax_a, "arousal")):
            _faded_line(ax, t, sub[col].to_numpy(), conf, c, label if ax is ax_v else None)
        ok = sub["face_valid"].to_numpy() > 0
        if ok.any():  # one trajectory per face: its colour, its marker; time by colour map
            v, a = sub["valence"].to_numpy()[ok], sub["arousal"].to_numpy()[ok]
            m = _MARKERS[k % len(_MARKERS)]
            ax_c.plot(v, a, color=c, lw=1.0, alpha=0.6, label=label)
            points = ax_c.scatter(
                v, a, c=t[ok], cmap="viridis", vmin=t_range[0], vmax=t_range[1], s=7,
                marker=m, edgecolors=c, linewidths=0.4, zorder=3,
            )  # fmt: skip
            ax_c.plot(v[:1], a[:1], m, mfc="none", mec="k", ms=9, zorder=4)
    for ax, name in ((ax_v, "valence"), (ax_a, "arousal")):
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    ax_a.set_xlabel("time (s)")
    setp(ax_v.get_xticklabels(), visible=False)
    if len(faces) > 1:
        ax_v.legend(loc="upper right", fontsize=8)
    ax_c.add_patch(Circle((0, 0), 1.0, fill=False, color="0.6", lw=0.8))
    ax_c.axhline(0, color="0.5", lw=0.6)
    ax_c.axvline(0, color="0.5", lw=0.6)
    for x, y, text in _QUADRANT_LABELS:
        ax_c.text(x, y, text, ha="center", va="center", fontsize=8, color="0.35")
    ax_c.set_xlim(-1.05, 1.05)
    ax_c.set_ylim(-1.05, 1.05)
    ax_c.set_aspect("equal")
    ax_c.set_xlabel("valence")
    ax_c.set_ylabel("arousal")
    ax_c.set_title("trajectory (open marker: start)", fontsize=9)
    if points is not None:
        bar = fig.colorbar(points, ax=ax_c, orientation="horizontal", fraction=0.05, pad=0.13)
        bar.set_label("time (s)", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    if len(faces) > 1:
        ax_c.legend(loc="lower left", fontsize=7, framealpha=0.8)
    if title:
        fig.suptitle(title, fontsize=11)
    if not len(faces) or not (df["face_valid"] > 0).any():
        ax_c.text(0, 0.2, "no face found", ha="center", fontsize=12, color="C3")
    return _png(fig)


def _faded_line(ax, t, y, conf, color: str, label: str | None) -> None:
    """The curve, each segment as opaque as the model's confidence there (0.15-1)."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    if conf is None:
        ax.plot(t, y, color=color, lw=1.3, label=label)
        return
    seg = np.stack([np.column_stack([t[:-1], y[:-1]]), np.column_stack([t[1:], y[1:]])], 1)
    alpha = 0.15 + 0.85 * np.clip(np.nan_to_num(conf[1:], nan=0.0), 0, 1)
    rgba = np.tile(to_rgba(color), (len(seg), 1))
    rgba[:, 3] = alpha
    ax.add_collection(LineCollection(seg, colors=rgba, linewidths=1.3))
    ax.plot([], [], color=color, lw=1.3, label=label)  # legend entry
    ax.autoscale_view()


def _png(fig) -> bytes:
    """PNG bytes of a figure (fast zlib level: the plots are small)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _faces(df: pd.DataFrame) -> list[tuple[int, pd.DataFrame]]:
    if df.empty:
        return []
    return [(int(fid), sub) for fid, sub in df.groupby("face_id", sort=True)]


def minute_figure(per_minute: list[dict], dpi: int = 100) -> bytes | None:
    """Bar chart of the per-window stress index and stress-zone share (None if empty)."""
    rows = [r for r in per_minute if r.get("stress_index") is not None]
    if not rows:
        return None
    fig = new_figure(figsize=(8, 2.4), dpi=dpi)
    ax = fig.subplots()
    x = np.arange(len(rows))
    ax.bar(x, [r["stress_index"] for r in rows], color="C3", alpha=0.8)
    ax.set_xticks(x, [f"{r['start_s'] / 60:.0f}" for r in rows])
    ax.set_xlabel("minute")
    ax.set_ylabel("stress index")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.95)
    return _png(fig)
