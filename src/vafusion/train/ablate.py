"""The paper's Table I: audio-only, video-only and fusion models, side by side with the
paper's validation numbers."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from vafusion.fileio import atomic_write_text, check_output_folder
from vafusion.log import get_logger
from vafusion.train.config import TrainConfig
from vafusion.train.run import evaluate, train

log = get_logger("ablate")

#: (label, model name, paper row, paper valence, paper arousal)
TABLE_I = (
    ("Baseline", None, "White paper", 0.14, 0.24),
    ("Audio only", "audio", "GRU layers", 0.14, 0.21),
    ("Video only (mini-Xception; paper: ExpNet)", "expression", "GRU layers", 0.18, 0.29),
    ("FacePose only", "facepose", "(not in the paper)", None, None),
    ("Audio+Video", "fusion-gru", "Figure 1", 0.22, 0.34),
)

#: Labels of rows trained only when asked for (``models=``); any other model name asked
#: for gets a row labelled with its name.
EXTRA_LABELS = {
    "blendshapes": "Blendshapes only",
    "audio+blendshapes+facepose": "Audio+Blendshapes+FacePose",
}


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}" if abs(x) >= 0.005 or x == 0 else f"{x:.3f}"


def ablate(
    config: TrainConfig,
    data_root: str | os.PathLike,
    store_root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    models: tuple[str, ...] | None = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """Train and evaluate each Table I model on the validation split; write the table.

    ``models`` picks rows (default: the paper's four models); names not in Table I (e.g.
    ``blendshapes``, ``audio+blendshapes+facepose``) are added as rows of their own.

    Each model is trained with ``config`` (only ``model.name`` changes) into
    ``out/runs/<model>`` and evaluated into ``out/eval/<model>`` (with its plots). Writes
    ``out/table1.md``, ``out/table1.csv`` and ``out/table1.png`` with the paper's numbers
    beside ours.

    Returns
    -------
    list of dict
        One row per table line: ``features, model, paper_valence, paper_arousal,
        ours_valence, ours_arousal, ours_mean``.
    """
    out = check_output_folder(out)  # before any work: one line, not a traceback
    wanted = models or tuple(m for _, m, *_ in TABLE_I if m)
    extra = tuple(
        (EXTRA_LABELS.get(m, m), m, "(not in the paper)", None, None)
        for m in wanted
        if m not in {row[1] for row in TABLE_I}
    )
    rows: list[dict[str, Any]] = []
    for label, name, paper_model, pv, pa in TABLE_I + extra:
        if name is not None and name not in wanted:
            continue
        row: dict[str, Any] = {
            "features": label,
            "model": paper_model if name is None else name,
            "paper_valence": pv,
            "paper_arousal": pa,
            "ours_valence": None,
            "ours_arousal": None,
            "ours_mean": None,
        }
        if name is not None:
            log.info("ablation: training %s", name)
            cfg = replace(config, model=replace(config.model, name=name))
            run = out / "runs" / name
            train(cfg, data_root, store_root, run, resume=resume)
            m = evaluate(run, data_root, store_root, cfg.data.val_split, out / "eval" / name)
            row.update(
                ours_valence=m["ccc_valence"],
                ours_arousal=m["ccc_arousal"],
                ours_mean=m["ccc_mean"],
            )
        rows.append(row)
    write_table(rows, out)
    return rows


def write_table(rows: list[dict[str, Any]], out: Path) -> None:
    """Write ``table1.md`` and ``table1.csv``."""
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["features"])
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "table1.csv", buf.getvalue())
    lines = [
        "TABLE I - results on validation data (CCC; paper vs this reproduction)",
        "",
        "| Features | Model | Paper valence | Paper arousal | Ours valence | Ours arousal |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['features']} | {r['model']} | {_fmt(r['paper_valence'])} | "
            f"{_fmt(r['paper_arousal'])} | {_fmt(r['ours_valence'])} | {_fmt(r['ours_arousal'])} |"
        )
    atomic_write_text(out / "table1.md", "\n".join(lines) + "\n")
    if rows:
        from vafusion.fileio import atomic_write_bytes
        from vafusion.report.eval_plots import ablation_figure

        atomic_write_bytes(out / "table1.png", ablation_figure(rows))
