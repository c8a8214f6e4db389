"""Self-contained HTML report: one file, no network, no external resource.

Images (plots and face thumbnails) and the video are embedded as base64 ``data:`` URIs,
the style and the player script (:mod:`vafusion.report.player`) are inline, so the report
opens the same from a USB stick, an e-mail attachment or an air-gapped machine. Without
JavaScript the static figure and the tables remain. Every text value is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from vafusion.report.player import PLAYER_CSS
from vafusion.report.stress import DISCLAIMER

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;
max-width:1150px;color:#222;background:#fff;padding:0 16px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.92em;margin:.4em 0}
td,th{border:1px solid #ddd;padding:4px 9px;text-align:left}th{background:#f4f4f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;margin:12px 0}
.warn{background:#fdecea;border-left:4px solid #d93025;padding:8px 12px;margin:12px 0}
.thumbs{display:flex;gap:18px;flex-wrap:wrap}.thumbs figure{margin:0;text-align:center}
.thumbs img{width:160px;height:160px;object-fit:cover;border-radius:6px;border:1px solid #ccc}
figcaption{font-size:.85em;color:#555;margin-top:4px}
img.plot{max-width:100%;height:auto}
.muted{color:#666;font-size:.9em}
"""


def data_uri(data: bytes, mime: str) -> str:
    """``data:`` URI of ``data`` (base64)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return "&ndash;" if value is None else f"{100 * value:.1f}%"


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td class='n'>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _face_section(face: dict[str, Any]) -> str:
    stats = face.get("stats", {})
    stress = face.get("stress", {})
    rows = [
        ("frames with this face", f"{stats.get('valid_frames', 0)} / {stats.get('frames', 0)}"),
        (
            "valence mean (sd)",
            f"{_fmt(stats.get('valence_mean'))} ({_fmt(stats.get('valence_sd'))})",
        ),
        (
            "arousal mean (sd)",
            f"{_fmt(stats.get('arousal_mean'))} ({_fmt(stats.get('arousal_sd'))})",
        ),
    ]
    q = stress.get("quadrant_share") or {}
    for key, label in (
        ("high_arousal_positive", "time excited / happy (v&ge;0, a&ge;0)"),
        ("high_arousal_negative", "time tense / angry (v&lt;0, a&ge;0)"),
        ("low_arousal_negative", "time sad / tired (v&lt;0, a&lt;0)"),
        ("low_arousal_positive", "time calm / content (v&ge;0, a&lt;0)"),
    ):
        rows.append((html.unescape(label), _pct(q.get(key))))
    thr = stress.get("thresholds", {})
    rows += [
        (
            f"stress zone share (v < {thr.get('valence_below')}, a > {thr.get('arousal_above')})",
            _pct(stress.get("stress_zone_share")),
        ),
        ("stress episodes", _fmt(stress.get("stress_episodes"))),
        ("longest stress episode", f"{_fmt(stress.get('longest_stress_episode_s'), 1)} s"),
        ("stress index (0-100)", _fmt(stress.get("stress_index"), 1)),
    ]
    out = [f"<h2>Face {html.escape(str(face.get('face_id')))}</h2>", _table(rows)]
    thumbs = face.get("thumbnails") or []
    if thumbs:
        out.append("<h3>Moments</h3><div class='thumbs'>")
        for th in thumbs:
            cap = (
                f"{html.escape(th['label'])}<br>t = {th['timestamp']:.2f} s, "
                f"v = {th['valence']:+.2f}, a = {th['arousal']:+.2f}"
            )
            out.append(
                f"<a class='moment' href='#va-player' data-t='{th['timestamp']:.3f}'><figure>"
                f"<img alt='{html.escape(th['label'])}' src='{th['uri']}'>"
                f"<figcaption>{cap}</figcaption></figure></a>"
            )
        out.append("</div>")
    minutes = stress.get("per_minute") or []
    if minutes:
        out.append(
            "<h3>Per minute</h3><table><tr><th>from (s)</th><th>to (s)</th><th>face</th>"
            "<th>valence</th><th>arousal</th><th>stress zone</th><th>stress index</th></tr>"
        )
        for r in minutes:
            out.append(
                f"<tr><td class='n'>{r['start_s']:.0f}</td><td class='n'>{r['end_s']:.1f}</td>"
                f"<td class='n'>{_pct(r['face_share'])}</td>"
                f"<td class='n'>{_fmt(r['valence_mean'])}</td>"
                f"<td class='n'>{_fmt(r['arousal_mean'])}</td>"
                f"<td class='n'>{_pct(r['stress_zone_share'])}</td>"
                f"<td class='n'>{_fmt(r['stress_index'], 1)}</td></tr>"
            )
        out.append("</table>")
        if face.get("minute_plot_uri"):
            out.append(
                f"<img class='plot' alt='stress per minute' src='{face['minute_plot_uri']}'>"
            )
    return "\n".join(out)


def render_report(summary: dict[str, Any], plot_png: bytes, player: str = "") -> str:
    """Build the HTML report of one video.

    Parameters
    ----------
    summary : dict
        The JSON summary (see :func:`vafusion.predict.outputs.build_summary`), where each
        ``faces[i]["thumbnails"][j]`` may carry an extra ``uri`` (data URI of a JPEG) and
        ``faces[i]["minute_plot_uri"]`` a data URI of the per-minute plot.
    plot_png : bytes
        The valence/arousal figure.
    player : str
        HTML of the interactive player (:func:`vafusion.report.player.render_player`), or
        empty for a static report.

    Returns
    -------
    str
        A complete HTML document with no external reference.
    """
    video = html.escape(str(summary.get("video", "")))
    proc = summary.get("processing", {})
    model = summary.get("model", {})
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>vafusion report: {video}</title><style>{_CSS}{PLAYER_CSS}</style></head><body>",
        f"<h1>Valence and arousal: {video}</h1>",
        f"<p class='muted'>{_fmt(summary.get('n_frames'))} frames, "
        f"{_fmt(summary.get('duration_s'), 1)} s at {_fmt(summary.get('fps'), 2)} fps; "
        f"model: {html.escape(str(model.get('name', '')))}; faces reported: "
        f"{html.escape(str(summary.get('face_selection', '')))}</p>",
        f"<div class='note'>{html.escape(DISCLAIMER)}</div>",
    ]
    for w in summary.get("warnings", []):
        parts.append(f"<div class='warn'>{html.escape(str(w))}</div>")
    parts.append(player)
    plot_uri = data_uri(plot_png, "image/png")
    parts.append(
        f"<img class='plot' id='va-static' alt='valence and arousal over time' src='{plot_uri}'>"
        "<p class='muted'>Grey bands: no face; red bands: stress episodes; faint curve: low "
        "confidence. Right: the path of each face through the valence-arousal plane (colour: "
        "time; open marker: start).</p>"
    )
    for face in summary.get("faces", []):
        parts.append(_face_section(face))
    parts.append("<h2>Processing</h2>")
    rows = [
        ("model", html.escape(str(model.get("name", "")))),
        ("model description", html.escape(str(model.get("description", "")))),
        ("model load time", f"{_fmt(proc.get('model_load_s'), 2)} s"),
        ("processing time", f"{_fmt(proc.get('process_s'), 2)} s"),
        ("real-time factor", f"{_fmt(proc.get('realtime_factor'), 1)}x"),
        ("frames decoded", _fmt(summary.get("n_frames"))),
        ("frames with a face", _fmt(proc.get("frames_with_face"))),
        ("vafusion version", _fmt(summary.get("vafusion_version"))),
    ]
    parts.append(_table(rows))
    parts.append(
        "<p class='muted'>Generated locally by vafusion. This file loads nothing from the "
        "network; its only script is inline.</p></body></html>"
    )
    return "\n".join(parts)
