"""Writing one prediction's files: the CSV, the figure, the HTML report, the JSON summary.

:func:`build_summary` makes the JSON summary (video facts, per-face statistics and
moments, the stress summary, processing statistics); :func:`write_outputs` writes every
file of one video atomically (see :mod:`vafusion.predict.api` for the list).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from vafusion import __version__
from vafusion.fileio import atomic_write_bytes, atomic_write_text, confined, json_text, safe_stem
from vafusion.predict.types import VideoPrediction
from vafusion.report.player import ReportOptions
from vafusion.report.stress import StressConfig, stress_summary


def _face_stats(va: np.ndarray, valid: np.ndarray) -> dict[str, Any]:
    def stat(fn, x):
        return float(fn(x)) if len(x) else None

    v, a = va[valid, 0], va[valid, 1]
    return {
        "frames": int(len(valid)),
        "valid_frames": int(valid.sum()),
        "valid_share": float(valid.mean()) if len(valid) else 0.0,
        "valence_mean": stat(np.mean, v),
        "valence_sd": stat(np.std, v),
        "valence_min": stat(np.min, v),
        "valence_max": stat(np.max, v),
        "arousal_mean": stat(np.mean, a),
        "arousal_sd": stat(np.std, a),
        "arousal_min": stat(np.min, a),
        "arousal_max": stat(np.max, a),
    }


def _confident(fc) -> np.ndarray:
    """(T,) bool: frames with a face and, if the model estimates it, enough confidence."""
    from vafusion.predict.fusion import CONFIDENT

    valid = np.asarray(fc.valid, bool)
    if fc.confidence is None:
        return valid
    return valid & (np.asarray(fc.confidence) >= CONFIDENT)


def _face_moments(fc, t: np.ndarray) -> list[dict[str, Any]]:
    """:func:`_moments` over confident frames (all face frames if none), with each
    moment's per-cue contributions when the model gives them."""
    sure = _confident(fc)
    moments = _moments(fc.va, sure if sure.any() else np.asarray(fc.valid, bool), t)
    for m in moments:
        i = m["frame"]
        m["contributions"] = {
            k: float(v[i]) for k, v in (fc.contributions or {}).items() if np.isfinite(v[i])
        }
    return moments


def _moments(
    va: np.ndarray, valid: np.ndarray, t: np.ndarray, min_gap_s: float = 3.0
) -> list[dict[str, Any]]:
    """Key moments (most positive, most negative, most aroused), at least a gap apart.

    The gap is ``min_gap_s``, or a quarter of the video if that is shorter; a moment with
    no frame far enough from the ones already chosen is left out.
    """
    if not valid.any():
        return []
    span = float(t[-1] - t[0]) if len(t) > 1 else 0.0
    gap = min(min_gap_s, span / 4)
    idx = np.flatnonzero(valid)
    order = {
        "most positive": idx[np.argsort(-va[idx, 0], kind="stable")],
        "most negative": idx[np.argsort(va[idx, 0], kind="stable")],
        "most aroused": idx[np.argsort(-va[idx, 1], kind="stable")],
    }
    chosen: list[tuple[str, int]] = []
    for label, candidates in order.items():
        taken = np.array([t[i] for _, i in chosen])
        ok = np.all(np.abs(t[candidates][:, None] - taken[None, :]) >= gap, axis=1)
        if ok.any():
            chosen.append((label, int(candidates[np.argmax(ok)])))
    return [
        {
            "label": label,
            "frame": int(i),
            "timestamp": float(t[i]),
            "valence": float(va[i, 0]),
            "arousal": float(va[i, 1]),
        }
        for label, i in chosen
    ]


def build_summary(
    pred: VideoPrediction,
    model: Any,
    face: str | int,
    stress: StressConfig | None = None,
) -> dict[str, Any]:
    """JSON summary of one prediction (what ``<stem>.json`` holds).

    Returns
    -------
    dict
        ``video, n_frames, duration_s, fps, face_selection, model, faces`` (each with
        ``face_id, stats, stress, thumbnails``), ``processing``, ``warnings``.
    """
    info, t = pred.info, pred.timestamps
    faces = []
    for fc in pred.faces:
        # the stress summary counts confident frames only (uncertain ones as missing)
        sure = _confident(fc)
        entry = {
            "face_id": fc.face_id,
            "stats": _face_stats(fc.va, fc.valid),
            "stress": stress_summary(
                t, np.where(sure, fc.va[:, 0], np.nan), np.where(sure, fc.va[:, 1], np.nan), stress
            ),
            "thumbnails": _face_moments(fc, t),
        }
        if fc.confidence is not None:
            entry["confident_share"] = float(sure.mean()) if len(sure) else 0.0
        if fc.source is not None:
            src = np.asarray(fc.source, dtype=object)
            entry["source_share"] = {
                s: float(np.mean(src == s)) for s in ("face", "voice", "face+voice")
            }
        if fc.contributions:
            entry["contributions_mean"] = {
                k: float(np.nanmean(v)) if np.isfinite(v).any() else None
                for k, v in fc.contributions.items()
            }
        faces.append(entry)
    process_s = float(pred.stats.get("process_s", 0.0))
    describe = model.describe() if hasattr(model, "describe") else {"name": str(model)}
    return {
        "video": Path(info.path).name,
        "n_frames": int(info.n_frames),
        "duration_s": float(info.duration_s),
        "fps": float(info.fps),
        "width": int(info.width),
        "height": int(info.height),
        "face_selection": str(face),
        "model": describe,
        "faces": faces,
        "processing": {
            **{k: v for k, v in pred.stats.items() if isinstance(v, (int, float))},
            "realtime_factor": (info.duration_s / process_s) if process_s > 0 else None,
        },
        "warnings": list(pred.warnings),
        "vafusion_version": __version__,
    }


def write_outputs(
    pred: VideoPrediction,
    out_dir: Path,
    stem: str,
    model: Any,
    face: str | int = "main",
    stress: StressConfig | None = None,
    overlay: bool = False,
    *,
    report: ReportOptions | None = None,
    summary: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the CSV, PNG, HTML and JSON (and overlay MP4) of one prediction.

    ``summary`` is :func:`build_summary` of the prediction (computed here if not given).

    Returns
    -------
    dict of str to Path
    """
    from vafusion.io.grab import grab_frames
    from vafusion.report.html import data_uri, render_report
    from vafusion.report.player import (
        EmbeddedVideo,
        player_data,
        render_player,
        video_source,
        write_page,
    )
    from vafusion.report.plots import minute_figure, va_figure
    from vafusion.report.thumbnails import crop_face, jpeg_bytes

    t0 = time.perf_counter()
    stem = safe_stem(stem)
    paths = {ext: confined(out_dir, f"{stem}.{ext}") for ext in ("csv", "png", "html", "json")}
    if summary is None:
        summary = build_summary(pred, model, face, stress)
    # thumbnails of the key moments: a few frames fetched again by seeking, in a thread
    # (FFmpeg decodes without the GIL) while the table and the plot are written
    wanted = [th["timestamp"] for f in summary["faces"] for th in f["thumbnails"]]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vafusion-thumbs") as pool:
        grabbing = pool.submit(grab_frames, pred.info.path, wanted)
        df = pred.to_frame()
        csv = df.to_csv(index=False, na_rep="NaN", float_format="%.5f")
        atomic_write_text(paths["csv"], csv)
        episodes = [tuple(e) for f in summary["faces"] for e in f["stress"].get("episodes", [])]
        png = va_figure(
            df.reset_index(drop=True), title=Path(pred.info.path).name, episodes=episodes
        )
        atomic_write_bytes(paths["png"], png)
        grabbed = grabbing.result()
    html_summary = json.loads(json.dumps(summary))
    for fsum, fc in zip(html_summary["faces"], pred.faces, strict=True):
        for th in fsum["thumbnails"]:
            got = grabbed.get(th["timestamp"])
            if got is not None:
                image, scale = got
                th["uri"] = data_uri(
                    jpeg_bytes(crop_face(image, fc.bbox[th["frame"]], scale)), "image/jpeg"
                )
        fsum["thumbnails"] = [th for th in fsum["thumbnails"] if "uri" in th]
        if len(fsum["stress"]["per_minute"]) > 1:  # one bar is no chart: not drawn
            mp = minute_figure(fsum["stress"]["per_minute"])
            if mp is not None:
                fsum["minute_plot_uri"] = data_uri(mp, "image/png")
    summary["processing"]["report_s"] = time.perf_counter() - t0
    html_summary["processing"] = summary["processing"]
    opts = report or ReportOptions()
    src, note = video_source(pred.info.path, out_dir, opts.video, opts.max_embed_mb)
    player = render_player(player_data(pred, summary), src, note)
    embedded = src if isinstance(src, EmbeddedVideo) else None
    write_page(paths["html"], render_report(html_summary, png, player), embedded)
    if overlay:
        from vafusion.predict.overlay import write_overlay

        paths["overlay"] = write_overlay(pred, confined(out_dir, f"{stem}_overlay.mp4"))
    atomic_write_text(paths["json"], json_text(summary))
    return paths
