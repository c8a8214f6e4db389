"""``vafusion demo``: run vafusion on the bundled sample clip.

The sample clip (``WolfgangLanger_Pexels.mp4``, 19.7 s, one woman acting several emotions,
Pexels licence) ships inside the package, so the demo needs no download and no network.

When the face and expression stages are installed (the normal case) the demo runs
:func:`vafusion.predict.predict` with the built-in default model and writes the full report
(CSV, PNG, HTML, JSON). If they are not importable (a partial install) it falls back to an
audio-only demo: per-frame audio features, a plot and a short summary, so ``make demo``
always produces something to look at.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from contextlib import contextmanager
from pathlib import Path

from vafusion.log import get_logger

log = get_logger("demo")

SAMPLE_NAME = "WolfgangLanger_Pexels.mp4"


@contextmanager
def sample_clip():
    """Context manager yielding a filesystem path of the bundled sample clip."""
    ref = importlib.resources.files("vafusion") / "assets" / SAMPLE_NAME
    with importlib.resources.as_file(ref) as path:
        yield Path(path)


def _full_pipeline_available() -> bool:
    try:
        import vafusion.expression  # noqa: F401
        import vafusion.faces.tracker  # noqa: F401
        import vafusion.predict.api  # noqa: F401
    except ImportError as exc:
        log.debug("full pipeline unavailable: %s", exc)
        return False
    return True


def run_demo(out: Path = Path("vafusion-demo")) -> Path:
    """Predict valence and arousal for the bundled clip and write the report.

    Parameters
    ----------
    out : Path
        Output folder (created if needed).

    Returns
    -------
    Path
        The main result to open: the HTML report (full pipeline) or the summary JSON
        (audio-only fallback).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with sample_clip() as clip:
        if _full_pipeline_available():
            from vafusion.predict.api import predict_to_folder

            results = predict_to_folder([clip], out)
            report = results[0].outputs.get("html")
            if report is None:
                raise RuntimeError(results[0].error or "demo failed")
            return Path(report)
        return _audio_demo(clip, out)


def _audio_demo(clip: Path, out: Path) -> Path:
    """Interim demo without faces: per-frame loudness from the paper's audio features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from vafusion.extraction import Pipeline
    from vafusion.fileio import atomic_write_bytes, atomic_write_text

    with Pipeline("audio") as pipe:
        table = pipe.process(clip)["audio"]
    df = table.to_pandas()
    stem = clip.stem
    csv_path = out / f"{stem}_audio.csv"
    atomic_write_text(csv_path, df.to_csv(index=False))
    mel = table.values[:, table.columns.index("audio_mel_0") :]
    loud = np.nanmean(mel, axis=1)
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(table.timestamp, loud, lw=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mean log-mel (dB)")
    ax.set_title(f"{stem}: audio energy per video frame")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(out / f"{stem}_audio.png", buf.getvalue())
    summary = {
        "video": clip.name,
        "frames": int(table.n_rows),
        "audio_valid_frames": int(table.valid.sum()),
        "mean_log_mel_db": float(np.nanmean(loud)) if table.valid.any() else None,
        "note": "audio-only demo: face and expression stages are not installed",
    }
    summary_path = out / f"{stem}_summary.json"
    atomic_write_text(summary_path, json.dumps(summary, indent=2) + os.linesep)
    return summary_path
