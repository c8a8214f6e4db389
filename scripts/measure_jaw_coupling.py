"""Check whether jaw opening moves AU12/AU15's reference (faces/aus.py) with the lip corners.

AU12/AU15 measure the lip corners' height against the inner-lip centre (mesh 13/14). If a
jaw opening (speech) moved that centre further down than the corners, speech would read
as smiling. For each video: track the faces, pose-normalise the meshes (canonical mm),
keep frames the expression network does not call happy (p_happy < 0.1, so smiling does not
move the corners), and print the least-squares slopes, on the jaw opening (chin 152 to nose
base 2), of the corners' and of the lip centre's descent below the nose base (all centred
on their medians). Equal slopes: jaw opening does not change the AU12/AU15 measure.

Usage: python scripts/measure_jaw_coupling.py VIDEO [VIDEO ...]
"""

from __future__ import annotations

import sys

import numpy as np

from vafusion.extraction import Pipeline
from vafusion.faces.aus import _CHIN, _CORNER, _LIP_IN_LO, _LIP_IN_UP, _NOSE_BASE
from vafusion.faces.expression_pca import N_MESH
from vafusion.faces.pose import fit_pose, normalise_mesh
from vafusion.predict.circumplex import EMOTIONS


class _Meshes:
    """Accumulator keeping every face's mesh (original-frame pixels) by (frame, face id)."""

    name, needs_faces = "meshes", True

    def __init__(self) -> None:
        self.rows, self.size = {}, None

    def push(self, frame, faces) -> None:
        if self.size is None:
            h, w = frame.image.shape[:2]
            self.size = (round(w / frame.scale), round(h / frame.scale))
        for f in faces:
            self.rows[(frame.index, f.face_id)] = np.asarray(f.landmarks, np.float64)

    def finish(self, info, timestamps):
        return None


def coupling(video: str) -> tuple[float, float, int]:
    """Slopes of corner and lip-centre descent on jaw opening, and the frame count."""
    meshes = _Meshes()
    with Pipeline("expression") as pipe:
        table = pipe.process(video, extra=[meshes]).tables["expression"]
    happy = table.columns.index(f"emo_{EMOTIONS[3]}")
    keys = [(int(f), int(i)) for f, i in zip(table.frame, table.face_id, strict=True) if i >= 0]
    p_happy = table.values[table.face_id >= 0, happy]
    keep = [k for k, p in zip(keys, p_happy, strict=True) if p < 0.1 and k in meshes.rows]
    if len(keep) < 10:
        return float("nan"), float("nan"), len(keep)
    m = np.stack([meshes.rows[k] for k in keep])
    norm = normalise_mesh(m[:, :N_MESH], fit_pose(m, *meshes.size))
    y = norm[:, :, 1]
    corner = 0.5 * (y[:, _CORNER[0]] + y[:, _CORNER[1]]) - y[:, _NOSE_BASE]
    centre = 0.5 * (y[:, _LIP_IN_UP] + y[:, _LIP_IN_LO]) - y[:, _NOSE_BASE]
    jaw = y[:, _CHIN] - y[:, _NOSE_BASE]
    j = jaw - np.median(jaw)

    def slope(x: np.ndarray) -> float:
        return float(j @ (x - np.median(x)) / (j @ j))

    return slope(corner), slope(centre), len(keep)


if __name__ == "__main__":
    for v in sys.argv[1:]:
        kc, kl, n = coupling(v)
        print(
            f"{v}: per mm of jaw opening, corners {kc:.2f} mm, lip centre {kl:.2f} mm ({n} frames)"
        )
