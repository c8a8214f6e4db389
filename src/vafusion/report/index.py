"""Many recordings at a glance: ``index.html`` and ``summary.csv`` of a predict folder.

One row per video and reported face: duration, face coverage, mean and spread of valence
and arousal, stress-zone share and episodes, and a link to the video's report. The page
shows the curves as small multiples (inline SVG, drawn here in Python: no script needed)
and its table sorts by any column when JavaScript is on (inline script, no network).
"""

from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from vafusion.fileio import atomic_write_text
from vafusion.report.player import face_color
from vafusion.report.stress import DISCLAIMER

#: Columns of ``summary.csv`` (one row per video and face; failed videos have ``error``).
SUMMARY_COLUMNS = (
    "video",
    "report",
    "face_id",
    "duration_s",
    "face_coverage",
    "valence_mean",
    "valence_sd",
    "arousal_mean",
    "arousal_sd",
    "stress_zone_share",
    "stress_episodes",
    "longest_stress_episode_s",
    "stress_index",
    "error",
)


def summary_rows(results: list, out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of ``summary.csv`` for the results of one predict run.

    Parameters
    ----------
    results : list of VideoResult
        From :func:`vafusion.predict.api.predict_to_folder`.
    out_dir : path
        The output folder (report links are relative to it).

    Returns
    -------
    list of dict
        Keys :data:`SUMMARY_COLUMNS`; None where a value does not exist.
    """
    rows: list[dict[str, Any]] = []
    for r in results:
        base = dict.fromkeys(SUMMARY_COLUMNS)
        base["video"] = str(r.video)
        if r.prediction is None or r.error:
            rows.append({**base, "error": r.error or "failed"})
            continue
        html_path = r.outputs.get("html")
        if html_path is not None:
            base["report"] = os.path.relpath(html_path, out_dir)
        base["duration_s"] = round(float(r.prediction.info.duration_s), 3)
        for fsum in r.summary.get("faces", []):
            st, sz = fsum["stats"], fsum["stress"]
            rows.append(
                {
                    **base,
                    "face_id": fsum["face_id"],
                    "face_coverage": st["valid_share"],
                    "valence_mean": st["valence_mean"],
                    "valence_sd": st["valence_sd"],
                    "arousal_mean": st["arousal_mean"],
                    "arousal_sd": st["arousal_sd"],
                    "stress_zone_share": sz.get("stress_zone_share"),
                    "stress_episodes": sz.get("stress_episodes"),
                    "longest_stress_episode_s": sz.get("longest_stress_episode_s"),
                    "stress_index": sz.get("stress_index"),
                }
            )
    return rows


def summary_csv(rows: list[dict[str, Any]]) -> str:
    """CSV text of the rows (floats with 4 decimals, empty for missing)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow(
            {
                k: (f"{v:.4f}" if isinstance(v, float) else ("" if v is None else v))
                for k, v in row.items()
            }  # fmt: skip
        )
    return buf.getvalue()


def sparkline(t: np.ndarray, v: np.ndarray, a: np.ndarray, color: str, points: int = 240) -> str:
    """Small inline SVG of valence (solid) and arousal (dashed) over time.

    Parameters
    ----------
    t : numpy.ndarray, shape (T,)
    v, a : numpy.ndarray, shape (T,)
        NaN where there is no face (the line breaks there).
    color : str
    points : int
        At most this many points per curve (evenly spaced frames).
    """
    w, h = 260.0, 64.0
    n = len(t)
    if n == 0:
        return ""
    idx = np.unique(np.linspace(0, n - 1, min(points, n)).astype(int))
    span = max(float(t[-1] - t[0]), 1e-6)
    xs = (t[idx] - t[0]) / span * w

    def path(y: np.ndarray) -> str:
        out, pen = [], "M"
        for x, val in zip(xs, y[idx], strict=True):
            if not np.isfinite(val):
                pen = "M"
                continue
            out.append(f"{pen}{x:.1f},{(1 - (val + 1) / 2) * h:.1f}")
            pen = "L"
        return "".join(out)

    return (
        f"<svg class='spark' viewBox='0 0 {w:.0f} {h:.0f}' width='{w:.0f}' height='{h:.0f}' "
        "role='img' aria-label='valence (solid) and arousal (dashed) over time'>"
        f"<line x1='0' y1='{h / 2}' x2='{w}' y2='{h / 2}' stroke='#bbb' stroke-width='0.6'/>"
        f"<path d='{path(v)}' fill='none' stroke='{color}' stroke-width='1.4'/>"
        f"<path d='{path(a)}' fill='none' stroke='{color}' stroke-width='1.1' "
        "stroke-dasharray='3 2' opacity='0.8'/></svg>"
    )


_SORT_JS = """
(function(){var t=document.getElementById('summary');if(!t)return;
var hs=t.tHead.rows[0].cells;Array.prototype.forEach.call(hs,function(h,i){
h.style.cursor='pointer';h.title='sort';h.addEventListener('click',function(){
var asc=h.dataset.dir!=='asc';Array.prototype.forEach.call(hs,function(o){delete o.dataset.dir;});
h.dataset.dir=asc?'asc':'desc';var b=t.tBodies[0],rs=Array.prototype.slice.call(b.rows);
rs.sort(function(x,y){var p=x.cells[i].dataset.v,q=y.cells[i].dataset.v;
var a=parseFloat(p),c=parseFloat(q),r;
if(!isNaN(a)&&!isNaN(c))r=a-c;else if(isNaN(a)&&isNaN(c))r=String(p).localeCompare(String(q));
else r=isNaN(a)?1:-1;return asc?r:-r;});rs.forEach(function(r){b.appendChild(r);});});});})();
"""

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;
max-width:1250px;color:#222;padding:0 16px}h1{font-size:1.5em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:4px 8px}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
th[data-dir=asc]:after{content:' \\25B2'}th[data-dir=desc]:after{content:' \\25BC'}
.grid{display:flex;flex-wrap:wrap;gap:14px;margin-top:1em}.grid figure{margin:0;
border:1px solid #ddd;border-radius:6px;padding:6px}.grid figcaption{font-size:.85em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;margin:12px 0}
.err{color:#b00020}.muted{color:#666;font-size:.9em}
"""


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "<td data-v=''>&ndash;</td>"
    if key == "report":
        href = quote(Path(value).as_posix())
        return f"<td data-v='{html.escape(str(value))}'><a href='{href}'>report</a></td>"
    if isinstance(value, float):
        shown = f"{100 * value:.1f}%" if key in ("face_coverage", "stress_zone_share") else (
            f"{value:.2f}" if key != "stress_index" else f"{value:.1f}")  # fmt: skip
        return f"<td class='n' data-v='{value!r}'>{shown}</td>"
    cls = " class='err'" if key == "error" else ""
    return f"<td{cls} data-v='{html.escape(str(value))}'>{html.escape(str(value))}</td>"


def render_index(rows: list[dict[str, Any]], results: list) -> str:
    """The ``index.html`` page: sortable table and small multiples of the curves."""
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in SUMMARY_COLUMNS)
    body = "".join(
        "<tr>" + "".join(_cell(k, row[k]) for k in SUMMARY_COLUMNS) + "</tr>" for row in rows
    )
    figures = []
    for r in results:
        pred = r.prediction
        if pred is None:
            continue
        href = quote(os.path.basename(str(r.outputs.get("html", ""))))
        for k, fc in enumerate(pred.faces):
            svg = sparkline(pred.timestamps, fc.va[:, 0], fc.va[:, 1], face_color(k))
            label = f"{Path(r.video).name}, face {fc.face_id}" if fc.face_id >= 0 else (
                f"{Path(r.video).name}: no face")  # fmt: skip
            figures.append(
                f"<figure><a href='{href}'>{svg}</a><figcaption>{html.escape(label)} "
                f"({pred.info.duration_s:.1f} s)</figcaption></figure>"
            )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>vafusion: {len(results)} videos</title><style>{_CSS}</style></head><body>"
        f"<h1>Valence and arousal: {len(results)} videos</h1>"
        f"<div class='note'>{html.escape(DISCLAIMER)}</div>"
        "<p class='muted'>One row per video and face; click a column title to sort. "
        "The same table is in summary.csv.</p>"
        f"<table id='summary'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "<h2>Curves</h2><p class='muted'>Valence solid, arousal dashed, from -1 to 1; click "
        f"a curve to open its report.</p><div class='grid'>{''.join(figures)}</div>"
        "<p class='muted'>Generated locally by vafusion; loads nothing from the network.</p>"
        f"<script>{_SORT_JS}</script></body></html>"
    )


def write_index(results: list, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``summary.csv`` and ``index.html`` of a predict run into ``out_dir``.

    Returns
    -------
    dict of str to Path
        ``{"summary": ..., "index": ...}``
    """
    out = Path(out_dir)
    rows = summary_rows(results, out)
    paths = {"summary": out / "summary.csv", "index": out / "index.html"}
    atomic_write_text(paths["summary"], summary_csv(rows))
    atomic_write_text(paths["index"], render_index(rows, results))
    return paths
