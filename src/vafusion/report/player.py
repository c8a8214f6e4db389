"""The interactive part of the HTML report: the video in sync with the curves.

The report stays one self-contained file that loads nothing from the network: the data
is a JSON block, the script (``player.js``, written for vafusion, no library) is inlined,
and the video is embedded as a ``data:`` URI (or linked with ``video="link"``, or left out
with ``video="none"``; videos above ``max_embed_mb`` are linked instead, with a note).
The embedded video is never held in memory as a whole: :func:`write_page` streams its
base64 text into the file in blocks (a 40 MB video would otherwise be held as ~5
copies of its 53 MB of base64 text while the page is assembled and encoded).
Without JavaScript the player stays hidden and the static figure and tables remain.
"""

from __future__ import annotations

import base64
import html
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import numpy as np

from vafusion.errors import ConfigError
from vafusion.fileio import atomic_path

#: Colour of face k (matplotlib's tab10), shared by the static figure and the player.
FACE_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
)
#: Colours of the expression classes in the probability strip.
EXPRESSION_COLORS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#f2c12e",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#bdbdbd",
}
VIDEO_MODES = ("embed", "link", "none")
#: Default cap on the size of an embedded video file.
MAX_EMBED_MB = 40.0
_MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm",
         ".ogv": "video/ogg", ".mkv": "video/webm"}  # fmt: skip
_SCRIPT = Path(__file__).with_name("player.js")


@dataclass(frozen=True)
class ReportOptions:
    """How the HTML report carries the video.

    Attributes
    ----------
    video : {"embed", "link", "none"}
        Embed the file (default), link to it (relative path), or leave it out.
    max_embed_mb : float
        Videos larger than this are linked instead of embedded (with a note).
    explain : bool
        Write the model's per-cue contributions as ``contrib_*`` CSV columns.
    """

    video: str = "embed"
    max_embed_mb: float = MAX_EMBED_MB
    explain: bool = False

    def __post_init__(self) -> None:
        if self.video not in VIDEO_MODES:
            raise ConfigError(f"video must be one of {', '.join(VIDEO_MODES)}, got {self.video!r}")
        if not self.max_embed_mb >= 0:
            raise ConfigError(f"max_embed_mb must be >= 0, got {self.max_embed_mb}")


@dataclass(frozen=True)
class EmbeddedVideo:
    """A video file to embed in the page as a base64 ``data:`` URI, read when written.

    :func:`render_player` puts :attr:`marker` where the URI goes; :func:`write_page`
    replaces it with the URI, streamed from the file.
    """

    path: Path
    mime: str
    marker: str = field(default_factory=lambda: f"vafusion-embedded-video-{uuid.uuid4().hex}")

    #: bytes read per block; a multiple of 3, so the blocks' base64 texts join into one
    BLOCK = 3 << 20

    def write_uri(self, out: TextIO) -> None:
        """Write ``data:<mime>;base64,<the file>`` to ``out`` block by block."""
        out.write(f"data:{self.mime};base64,")
        with open(self.path, "rb") as f:
            # BufferedReader.read(n) returns n bytes until the end of a regular file
            while block := f.read(self.BLOCK):
                out.write(base64.b64encode(block).decode("ascii"))


def write_page(path: str | os.PathLike, page: str, video: EmbeddedVideo | None = None) -> None:
    """Write an HTML page atomically, with ``video``'s ``data:`` URI in place of its marker.

    Parameters
    ----------
    path : path
        The file to write (published only once complete).
    page : str
        The HTML text (:func:`vafusion.report.html.render_report`).
    video : EmbeddedVideo, optional
        The video whose :attr:`~EmbeddedVideo.marker` occurs once in ``page``.
    """
    head, tail = page, ""
    if video is not None:
        head, sep, tail = page.partition(video.marker)
        if not sep:
            raise ValueError("the page does not contain the embedded video's marker")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write(head)
        if video is not None:
            video.write_uri(out)
            out.write(tail)


def face_color(k: int) -> str:
    """Colour of the k-th reported face."""
    return FACE_COLORS[k % len(FACE_COLORS)]


def _num(x: np.ndarray, digits: int) -> list:
    """Rounded floats with None for NaN (JSON null)."""
    r = np.round(np.asarray(x, dtype=np.float64), digits)
    return [None if not np.isfinite(v) else float(v) for v in r]


def player_data(pred, summary: dict[str, Any]) -> dict[str, Any]:
    """The JSON the player draws from.

    Parameters
    ----------
    pred : VideoPrediction
    summary : dict
        :func:`vafusion.predict.outputs.build_summary` of ``pred`` (stress episodes).

    Returns
    -------
    dict
        ``t`` (T seconds), ``duration``, ``faces`` (``id, color, v, a, c`` (confidence or
        None), ``box`` (4 lists of T coordinates in [0, 1] of the frame, or None),
        ``episodes``, ``expr`` (class names and T rows of probabilities, or None)),
        ``thresholds``.
    """
    info = pred.info
    w, h = max(int(info.width), 1), max(int(info.height), 1)
    faces = []
    for k, (fc, fsum) in enumerate(zip(pred.faces, summary["faces"], strict=True)):
        conf = getattr(fc, "confidence", None)
        box = np.asarray(fc.bbox, dtype=np.float64) / np.array([w, h, w, h])
        expr = getattr(fc, "expressions", None)
        faces.append(
            {
                "id": int(fc.face_id),
                "color": face_color(k),
                "v": _num(fc.va[:, 0], 3),
                "a": _num(fc.va[:, 1], 3),
                "c": None if conf is None else _num(np.clip(conf, 0, 1), 2),
                "box": None if fc.face_id < 0 else [_num(box[:, j], 4) for j in range(4)],
                "episodes": fsum["stress"].get("episodes", []),
                "expr": None if expr is None else _expr_rows(expr),
            }
        )
    thr = summary["faces"][0]["stress"]["thresholds"] if summary["faces"] else {}
    return {
        "t": _num(pred.timestamps, 3),
        "duration": float(info.duration_s),
        "faces": faces,
        "thresholds": {"v": thr.get("valence_below"), "a": thr.get("arousal_above")},
        "expr_colors": EXPRESSION_COLORS,
    }


def _expr_rows(probs: np.ndarray) -> dict[str, Any]:
    from vafusion.predict.circumplex import EMOTIONS

    p = np.round(np.asarray(probs, dtype=np.float64), 2)
    rows = [None if not np.isfinite(r).all() else [float(x) for x in r] for r in p]
    return {"names": list(EMOTIONS), "p": rows}


def video_source(
    video: str | os.PathLike,
    out_dir: str | os.PathLike,
    mode: str = "embed",
    max_embed_mb: float = MAX_EMBED_MB,
) -> tuple[str | EmbeddedVideo | None, str | None]:
    """Where the report's player takes the video from.

    Parameters
    ----------
    video : path
        The analysed video.
    out_dir : path
        Folder of the report (links are relative to it).
    mode : {"embed", "link", "none"}
    max_embed_mb : float
        Larger files are linked instead of embedded.

    Returns
    -------
    src : str, EmbeddedVideo or None
        The video to embed (its ``data:`` URI is written by :func:`write_page`), a
        relative (or ``file:``) link, or None for no video.
    note : str or None
        What the reader should know (linked because too large, or not included).
    """
    if mode not in VIDEO_MODES:
        raise ConfigError(f"video mode must be one of {', '.join(VIDEO_MODES)}, got {mode!r}")
    if mode == "none":
        return None, "The video is not included in this report (--no-video)."
    path = Path(video).resolve()
    note = None
    size_mb = path.stat().st_size / 1e6
    if mode == "embed" and size_mb > max_embed_mb:
        mode = "link"
        note = (
            f"The video ({size_mb:.0f} MB) is larger than the embedding cap "
            f"({max_embed_mb:g} MB, --max-embed-mb): it is linked, not embedded; keep "
            f"{path.name} where it is to play it here."
        )
    if mode == "embed":
        mime = _MIME.get(path.suffix.lower(), "video/mp4")
        return EmbeddedVideo(path, mime), note
    try:
        rel = os.path.relpath(path, Path(out_dir).resolve())
        src = quote(Path(rel).as_posix())
    except ValueError:  # another drive (Windows): an absolute file URI
        src = path.as_uri()
    return src, note or f"The video is linked ({path.name}), not embedded."


def render_player(data: dict[str, Any], src: str | EmbeddedVideo | None, note: str | None) -> str:
    """HTML of the player section (hidden until its inline script runs).

    An :class:`EmbeddedVideo` ``src`` leaves its marker in the HTML: write the page with
    :func:`write_page`.
    """
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    # the marker and base64 text need no escaping (letters, digits, "-+/=")
    attr = src.marker if isinstance(src, EmbeddedVideo) else html.escape(src or "", quote=True)
    video = (
        "<div class='stage'><video id='va-video' controls preload='auto' playsinline "
        f"src='{attr}'></video><canvas id='va-boxes'></canvas></div>"
        if src
        else ""
    )
    toggle = (
        "<label class='toggle'><input type='checkbox' id='va-show-boxes' checked> "
        "face boxes</label>"
        if src and any(f["box"] is not None for f in data["faces"])
        else ""
    )
    note_html = f"<div class='note'>{html.escape(note)}</div>" if note else ""
    legend = ""
    if any(f["expr"] is not None for f in data["faces"]):
        legend = (
            "<p class='legend muted'>expression probabilities (first face): "
            + "".join(
                f"<span><i style='background:{c}'></i>{html.escape(name)}</span>"
                for name, c in EXPRESSION_COLORS.items()
            )
            + "</p>"
        )
    return (
        "<section id='va-player' hidden>"
        f"{note_html}<div class='player'>{video}"
        "<canvas id='va-circle' width='340' height='390' "
        "aria-label='trajectory in the valence-arousal plane'></canvas></div>"
        f"{toggle}<span class='muted' id='va-clock'></span>"
        "<canvas id='va-curves' aria-label='valence and arousal over time'></canvas>"
        f"{legend}<p class='muted'>Click the curves or a moment to jump there. Grey: no face; red "
        "shade: stress episodes; faint line: low confidence.</p></section>"
        "<noscript><p class='muted'>Turn on JavaScript to play the video in sync with the "
        "curves; the figure and tables below need none.</p></noscript>"
        f"<script type='application/json' id='va-data'>{payload}</script>"
        f"<script>{_SCRIPT.read_text(encoding='utf-8')}</script>"
    )


PLAYER_CSS = """
.player{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}
.stage{position:relative;flex:1 1 520px;max-width:760px;background:#000}
.stage video{display:block;width:100%;max-height:460px}
#va-boxes{position:absolute;left:0;top:0;pointer-events:none}
#va-curves{display:block;width:100%;height:auto;margin-top:8px;cursor:crosshair}
#va-circle{flex:0 0 auto;width:340px;height:390px}
.toggle{margin-right:16px;font-size:.9em}
a.moment{color:inherit;text-decoration:none;cursor:pointer}
.legend span{margin-right:12px;white-space:nowrap}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
"""
