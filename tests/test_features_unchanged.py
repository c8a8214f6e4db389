"""Features are unchanged where settings are unchanged: the extraction engine's rewrite
(issue 12) against the tables the code before it computed.

``fixtures/extraction/pre_refactor_single_face.npz`` holds the ``audio``, ``facepose`` and
``expression`` tables of ``single_face.mp4`` (default settings, frames capped at 1280 px)
as computed by the code before the rewrite (commit 9073434, its
``vafusion.features.pipeline.extract_features``). The only settings that changed since are
the expression-geometry basis (``geom_*`` columns, re-fitted on more clips: a new asset,
not the engine), so those columns are left out. Tolerances allow for another CPU's
floating point; on the machine that made the fixture the values are bit-identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vafusion.extraction import Pipeline

FIXTURE = Path(__file__).parent / "fixtures" / "extraction" / "pre_refactor_single_face.npz"
SETS = ("audio", "facepose", "expression")


@pytest.fixture(scope="module")
def now(clips_dir):
    with Pipeline(SETS) as pipe:
        return pipe.process(clips_dir / "single_face.mp4")


@pytest.mark.parametrize("name", SETS)
def test_same_rows_and_values_as_before_the_rewrite(now, name):
    ref = np.load(FIXTURE)
    table = now[name]
    assert list(table.columns) == ref[f"{name}_columns"].tolist()
    np.testing.assert_array_equal(table.frame, ref[f"{name}_frame"])
    np.testing.assert_array_equal(table.valid, ref[f"{name}_valid"])
    if f"{name}_face_id" in ref:
        np.testing.assert_array_equal(table.face_id, ref[f"{name}_face_id"])
    np.testing.assert_array_equal(table.timestamp, ref["timestamps"][table.frame])
    keep = np.array([not c.startswith("geom_") for c in table.columns])
    assert table.valid.sum() > 50  # a face in most frames: the comparison is not vacuous
    np.testing.assert_allclose(
        table.values[:, keep], ref[f"{name}_values"][:, keep], rtol=1e-4, atol=1e-3
    )
