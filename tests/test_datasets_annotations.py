"""Strict annotation parsing (Aff-Wild2 txt, generic CSV), including property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vafusion.datasets import parse_va_csv, parse_va_txt
from vafusion.errors import AnnotationError


def _write(tmp_path, text: str | bytes, name="a.txt"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_minus_five_is_nan_and_formats(tmp_path):
    p = _write(tmp_path, "valence,arousal\r\n0.5,-0.25\r\n-5,-5\r\n-1,1\r\n-5.0,0.3\r\n\r\n")
    labels = parse_va_txt(p)
    assert labels.dtype == np.float32 and labels.shape == (4, 2)
    np.testing.assert_array_equal(labels[0], [0.5, -0.25])
    assert np.isnan(labels[1]).all() and np.isnan(labels[3, 0]) and labels[3, 1] == np.float32(0.3)
    bom = _write(tmp_path, "\ufeffValence, Arousal\n0.1,0.2\n", "bom.txt")
    assert parse_va_txt(bom).shape == (1, 2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty annotation file"),
        ("\n\n", "empty annotation file"),
        ("0.1,0.2\n0.3,0.4\n", "line 1: expected the header"),
        ("valence,arousal\n", "no annotation lines"),
        ("valence,arousal\n0.1,abc\n", "line 2: arousal 'abc' is not a number"),
        ("valence,arousal\n0.1,0.2\n\n0.3,0.4\n", "line 3: .*empty line"),
        ("valence,arousal\n0.1,0.2\n0.1,1.5\n", "line 3: arousal 1.5 is outside"),
        ("valence,arousal\n-4,0\n", "line 2: valence -4 is outside"),
        ("valence,arousal\n0.1\n", "line 2: expected 'valence,arousal', got 1 values"),
        ("valence,arousal\n0.1,0.2,0.3\n", "line 2: .*3 values"),
        ("valence,arousal\n0.1,nan\n", "line 2: arousal 'nan' is not finite"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, match):
    p = _write(tmp_path, text)
    with pytest.raises(AnnotationError, match=match) as info:
        parse_va_txt(p)
    assert info.value.path == str(p)


def test_binary_and_missing_files(tmp_path):
    with pytest.raises(AnnotationError, match="not a text file"):
        parse_va_txt(_write(tmp_path, b"\xff\xfe\x00\x81garbage"))
    with pytest.raises(AnnotationError, match="not found"):
        parse_va_txt(tmp_path / "missing.txt")


_value = st.one_of(st.just(-5.0), st.floats(-1.0, 1.0, allow_nan=False, width=32).map(float))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(_value, _value), min_size=1, max_size=200))
def test_property_round_trip(tmp_path, rows):
    p = tmp_path / "prop.txt"
    p.write_text("valence,arousal\n" + "".join(f"{v!r},{a!r}\n" for v, a in rows))
    labels = parse_va_txt(p)
    expected = np.array(rows, dtype=np.float64)
    expected[expected == -5.0] = np.nan
    np.testing.assert_array_equal(labels, expected.astype(np.float32))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.lists(st.text(alphabet="0123456789.,-+eE5nai \t", max_size=12), max_size=8))
def test_property_garbage_gives_annotation_error_or_valid_labels(tmp_path, body):
    p = tmp_path / "garbage.txt"
    p.write_text("valence,arousal\n" + "\n".join(body) + "\n")
    try:
        labels = parse_va_txt(p)
    except AnnotationError as exc:
        assert str(p) in str(exc)
    else:
        finite = labels[np.isfinite(labels)]
        assert labels.shape[1] == 2 and np.all(np.abs(finite) <= 1.0 + 1e-6)


def test_generic_csv(tmp_path):
    p = _write(
        tmp_path, "frame,valence,arousal,extra\n0,0.1,0.2,x\n2,,0.5,y\n3,-5,0.1,z\n", "a.csv"
    )
    labels = parse_va_csv(p)
    assert labels.shape == (4, 2)
    assert np.isnan(labels[1]).all() and np.isnan(labels[2, 0]) and labels[2, 1] == 0.5
    assert parse_va_csv(p, n_frames=10).shape == (10, 2)
    for text, match in [
        ("frame,valence\n0,0.1\n", "lacks column.*arousal"),
        ("frame,valence,arousal\n0,0.1,0.2\n0,0.1,0.2\n", "line 3: frame 0 is repeated"),
        ("frame,valence,arousal\n-1,0.1,0.2\n", "line 2: negative frame"),
        ("frame,valence,arousal\nx,0.1,0.2\n", "line 2: frame 'x' is not an integer"),
        ("frame,valence,arousal\n0,0.1,2\n", "line 2: arousal 2 is outside"),
    ]:
        with pytest.raises(AnnotationError, match=match):
            parse_va_csv(_write(tmp_path, text, "bad.csv"))
