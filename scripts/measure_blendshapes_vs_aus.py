"""Do blendshape intensities separate labelled facial moments better than the geometric AUs?

Usage::

    python scripts/measure_blendshapes_vs_aus.py [--markdown]

Extracts ``facepose`` (AUs) and ``blendshapes`` (with the per-track ``_delta`` columns) from
four real clips of the repository and scores how well each cue separates frames of a
labelled moment (positives) from labelled frames without it (negatives), by the area under
the ROC curve (AUC = probability that a random positive frame scores higher than a random
negative one; 0.5 = chance, 1 = perfect), computed with SciPy's Mann-Whitney U.

The moments were labelled by looking at the frames (frame ranges below, end exclusive);
they are few and short (four people), so the numbers say which cue is *more* reliable on
clear moments, not how either performs on a dataset. ``pooled`` mixes the people;
``within`` averages the AUC over clips that hold both positives and negatives (a person's
resting face cancels out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / "tests" / "data" / "clips"

#: clip -> label -> list of (start, end) frame ranges
LABELS: dict[str, dict[str, list[tuple[int, int]]]] = {
    "WolfgangLanger_Pexels.mp4": {
        "smile": [(300, 421)],  # open-mouth smile, teeth showing
        "tearful": [(160, 206)],  # inner brows raised, hand at the mouth
        "crying": [(15, 55)],  # eyes squeezed shut, grimace (reported, not scored)
    },
    "d0.mp4": {"neutral": [(0, 10), (72, 78)], "smile": [(24, 64)]},
    "d13.mp4": {"smile": [(194, 232)], "pout": [(262, 290)]},
    "d18.mp4": {
        "neutral": [(0, 20), (36, 60), (100, 112), (168, 216)],
        "jaw": [(68, 92), (124, 152)],  # jaw dropped ("O"), then a wide-open shout
    },
}

#: moment -> (positive labels, negative labels)
MOMENTS = {
    "smile": (("smile",), ("neutral", "tearful", "pout", "jaw")),
    "jaw open": (("jaw",), ("neutral", "tearful", "pout", "smile")),
    "inner brows raised": (("tearful",), ("neutral", "smile", "pout", "jaw")),
}

#: moment -> cues compared: (label, feature set, columns averaged)
CUES = {
    "smile": [
        ("mouthSmile (L+R)/2", "bs", ("bs_mouthSmileLeft", "bs_mouthSmileRight")),
        ("mouthSmile delta", "bs", ("bs_mouthSmileLeft_delta", "bs_mouthSmileRight_delta")),
        ("AU12_r", "au", ("AU12_r",)),
        ("AU06_r", "au", ("AU06_r",)),
    ],
    "jaw open": [
        ("jawOpen", "bs", ("bs_jawOpen",)),
        ("jawOpen delta", "bs", ("bs_jawOpen_delta",)),
        ("AU26_r", "au", ("AU26_r",)),
        ("AU25_r", "au", ("AU25_r",)),
    ],
    "inner brows raised": [
        ("browInnerUp", "bs", ("bs_browInnerUp",)),
        ("browInnerUp delta", "bs", ("bs_browInnerUp_delta",)),
        ("AU01_r", "au", ("AU01_r",)),
    ],
}


def extract_clip(path: Path) -> tuple[dict[str, np.ndarray], int]:
    """Per-frame cue columns of the clip's main face: name -> (n_frames,) (NaN: no face)."""
    from vafusion.extraction import Pipeline, PipelineConfig
    from vafusion.faces.blendshapes_set import BlendshapesConfig
    from vafusion.faces.subjects import select_face

    sets = {"blendshapes": BlendshapesConfig(neutral=True)}
    with Pipeline(PipelineConfig.of(("facepose", "blendshapes"), sets)) as pipe:
        result = pipe.process(path)
    info, tables = result.info, result.tables
    out: dict[str, np.ndarray] = {}
    for name in ("facepose", "blendshapes"):
        dense = select_face(tables[name], how="main")
        for j, c in enumerate(dense.columns):
            out[c] = np.where(dense.valid, dense.values[:, j], np.nan)
    return out, info.n_frames


def frames_of(ranges: list[tuple[int, int]], n: int) -> np.ndarray:
    idx = np.concatenate([np.arange(a, min(b, n)) for a, b in ranges]) if ranges else []
    return np.asarray(idx, dtype=np.int64)


def cue_values(cols: dict[str, np.ndarray], columns: tuple[str, ...]) -> np.ndarray:
    return np.mean([cols[c] for c in columns], axis=0)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney U / n1 n2)."""
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def measure() -> tuple[list[dict], dict]:
    data = {clip: extract_clip(CLIPS / clip) for clip in LABELS}
    rows = []
    for moment, (pos_labels, neg_labels) in MOMENTS.items():
        for label, _, columns in CUES[moment]:
            pooled_pos, pooled_neg, within, per_clip = [], [], [], {}
            for clip, labels in LABELS.items():
                cols, n = data[clip]
                v = cue_values(cols, columns)
                pos = v[frames_of([r for lab in pos_labels for r in labels.get(lab, [])], n)]
                neg = v[frames_of([r for lab in neg_labels for r in labels.get(lab, [])], n)]
                pooled_pos.append(pos)
                pooled_neg.append(neg)
                if len(pos) and len(neg):
                    within.append(auc(pos, neg))
                    per_clip[clip.split(".")[0]] = within[-1]
            rows.append(
                {
                    "moment": moment,
                    "cue": label,
                    "pooled": auc(np.concatenate(pooled_pos), np.concatenate(pooled_neg)),
                    "within": float(np.nanmean(within)) if within else float("nan"),
                    "n_pos": int(sum(np.isfinite(p).sum() for p in pooled_pos)),
                    "n_neg": int(sum(np.isfinite(p).sum() for p in pooled_neg)),
                    "per_clip": per_clip,
                }
            )
    cols, n = data["WolfgangLanger_Pexels.mp4"]
    crying = frames_of(LABELS["WolfgangLanger_Pexels.mp4"]["crying"], n)
    smile = frames_of(LABELS["WolfgangLanger_Pexels.mp4"]["smile"], n)
    side = {
        c: (float(np.nanmean(v[crying])), float(np.nanmean(v[smile])))
        for c, v in (
            ("mouthSmile (L+R)/2", cue_values(cols, CUES["smile"][0][2])),
            ("AU12_r", cols["AU12_r"]),
        )
    }
    return rows, side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args()
    rows, side = measure()
    print("| moment | cue | AUC pooled | AUC within clips (per clip) | positive / negative |")
    print("|---|---|---|---|---|")
    for r in rows:
        clips = ", ".join(f"{k} {v:.2f}" for k, v in r["per_clip"].items())
        print(
            f"| {r['moment']} | {r['cue']} | {r['pooled']:.2f} | {r['within']:.2f} ({clips}) | "
            f"{r['n_pos']} / {r['n_neg']} |"
        )
    print()
    print("Sample clip, crying grimace (frames 15-55) vs open smile (300-421), mean value:")
    for cue, (cry, smi) in side.items():
        print(f"- {cue}: crying {cry:.2f}, smile {smi:.2f}")


if __name__ == "__main__":
    main()
