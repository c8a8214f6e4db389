"""The ABAW submission format: files written by ``evaluate --format abaw`` round-trip
through the Aff-Wild2 annotation reader (SYNTHETIC features and labels; a ``_left`` /
``_right`` pair of one video)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from tests.train_helpers import write_synthetic_affwild2

from vafusion.datasets.abaw import abaw_name, fill_missing, write_abaw
from vafusion.datasets.annotations import parse_va_txt
from vafusion.errors import ConfigError

DIMS = {"audio": 6}


def test_write_abaw_round_trips_and_fills_missing_frames(tmp_path):
    va = np.array([[0.5, -0.25], [np.nan, np.nan], [0.1, 0.3], [np.nan, np.nan]])
    got = parse_va_txt(write_abaw(tmp_path / "v.txt", va))
    lines = (tmp_path / "v.txt").read_text().splitlines()
    assert lines[0] == "valence,arousal" and len(lines) == 1 + len(va)
    np.testing.assert_allclose(got, [[0.5, -0.25], [0.3, 0.025], [0.1, 0.3], [0.1, 0.3]])
    assert (fill_missing(np.full((3, 2), np.nan)) == 0).all()
    assert (np.abs(fill_missing(np.array([[1.2, -3.0]]))) <= 1).all()


def test_subject_names():
    assert abaw_name("10-60-1280x720", "left") == "10-60-1280x720_left"
    assert abaw_name("v", "right") == "v_right" and abaw_name("v") == "v"
    with pytest.raises(ConfigError):
        abaw_name("v", "all")


def test_evaluate_abaw_files_round_trip_through_the_annotation_reader(tmp_path):
    from vafusion.models import ModelConfig
    from vafusion.train import TrainConfig, evaluate, train

    aff, store = tmp_path / "aff", tmp_path / "store"
    write_synthetic_affwild2(aff, store, DIMS, n_train=3, n_val=2, frames=(60, 90))
    val = aff / "Annotations" / "VA_Estimation_Challenge" / "Validation_Set"
    first = sorted(val.glob("*.txt"))[0]
    text = first.read_text()
    first.rename(val / f"{first.stem}_left.txt")  # two annotated people of one video
    (val / f"{first.stem}_right.txt").write_text(text)
    cfg = TrainConfig(
        model=ModelConfig(name="audio", audio_units=(8, 4), head_units=4), epochs=1,
        batch_size=8, num_threads=1, progress=False, patience=0,
    )  # fmt: skip
    train(cfg, aff, store, tmp_path / "run")
    m = evaluate(tmp_path / "run", aff, store, "val", tmp_path / "ev", fmt="abaw")
    names = sorted(p.stem for p in (tmp_path / "ev" / "abaw").glob("*.txt"))
    assert names == sorted(m["per_video"]) and len(names) == 3
    assert f"{first.stem}_left" in names and f"{first.stem}_right" in names
    for name in names:
        got = parse_va_txt(tmp_path / "ev" / "abaw" / f"{name}.txt")
        with open(tmp_path / "ev" / "predictions" / f"{name}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        want = np.array([[float(r["valence"]), float(r["arousal"])] for r in rows])
        assert got.shape == want.shape  # one line per frame, in frame order
        np.testing.assert_allclose(got, want, atol=1e-6)
    with pytest.raises(ConfigError):
        evaluate(tmp_path / "run", aff, store, "val", tmp_path / "ev2", fmt="xml")
