"""Security and privacy.

- Loading is safe: every ``torch.load`` in the package passes ``weights_only=True``; YAML is
  read with ``safe_load`` only; no ``eval``/``exec``/``pickle``/pickled-numpy loads of
  files (static checks of the source), and a malicious checkpoint does not run its code.
- Output paths are confined: a video whose name looks like a path (``..``, ``../../x``)
  cannot make ``predict``, ``extract`` or ``export`` write outside the chosen folder.
- No network: ``predict`` and ``extract`` run with every non-loopback socket call recorded
  and blocked (none is attempted); the whole suite runs in a network namespace in CI.
- Property-based tests (hypothesis) of the OpenFace CSV parser, the generic annotation CSV
  parser and CCC (complementing tests/test_datasets_annotations.py and test_metrics_ccc.py).
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "vafusion"
PY = sys.executable


# ------------------------------------------------------------------ static checks
def _calls():
    """(file, line, dotted callee name, ast.Call) of every call in the package source."""
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f, parts = node.func, []
                while isinstance(f, ast.Attribute):
                    parts.append(f.attr)
                    f = f.value
                if isinstance(f, ast.Name):
                    parts.append(f.id)
                name = ".".join(reversed(parts))
                yield path.relative_to(REPO), node.lineno, name, node


def _kw(node: ast.Call, key: str):
    for k in node.keywords:
        if k.arg == key and isinstance(k.value, ast.Constant):
            return k.value.value
    return None


def test_static_checks_see_the_code():
    names = {n for _, _, n, _ in _calls()}
    assert "torch.load" in names and "yaml.safe_load" in names  # the walker works


def test_every_torch_load_is_weights_only():
    loads = [(f, ln) for f, ln, n, node in _calls() if n == "torch.load"]
    bad = [
        (f, ln)
        for f, ln, n, node in _calls()
        if n == "torch.load" and _kw(node, "weights_only") is not True
    ]
    assert loads and not bad, f"torch.load without weights_only=True: {bad}"
    # and no textual torch.load( the AST walk could miss (e.g. an alias)
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "from torch import load" not in text and "load = torch.load" not in text


UNSAFE = {
    "yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all",
    "eval", "exec", "pickle.load", "pickle.loads", "pickle.Unpickler", "cPickle.load",
    "dill.load", "dill.loads", "joblib.load", "shelve.open", "marshal.load", "marshal.loads",
    "pandas.read_pickle", "pd.read_pickle", "torch.package.PackageImporter",
}  # fmt: skip


def test_no_unsafe_deserialisation_or_eval():
    builtin = {"eval", "exec", "compile", "__import__"}  # only as bare builtins (not .eval())
    bad = [
        (str(f), ln, n) for f, ln, n, node in _calls()
        if (n in UNSAFE and n not in builtin)
        or (isinstance(node.func, ast.Name) and node.func.id in builtin)
    ]  # fmt: skip
    assert not bad, bad
    pickled_numpy = [
        (str(f), ln) for f, ln, n, node in _calls()
        if n.endswith(("np.load", "numpy.load")) and _kw(node, "allow_pickle") is True
    ]  # fmt: skip
    assert not pickled_numpy, pickled_numpy


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_malicious_checkpoint_is_refused_without_running(tmp_path):
    import torch

    from vafusion.errors import ModelError
    from vafusion.train.checkpoint import load_checkpoint

    marker = tmp_path / "pwned"
    payload = {"format": "vafusion-checkpoint", "config": _Evil(marker)}
    for name, write in [
        ("plain.pkl", lambda p: p.write_bytes(pickle.dumps(payload))),
        ("zip.pt", lambda p: torch.save(payload, p)),
    ]:
        path = tmp_path / name
        write(path)
        with pytest.raises(ModelError, match=name):
            load_checkpoint(path)
        assert not marker.exists(), f"{name}: unpickling ran code"
    # the control: plain pickle really would have run it
    pickle.loads(pickle.dumps(_Evil(marker)))
    assert marker.exists()


# --------------------------------------------------------------- confined outputs
def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def evil_videos(tmp_path, clips_dir):
    """Clips whose names look like paths: ``...mp4`` (stem ``..``) and ``..\\..\\x.mp4``."""
    src = tmp_path / "in"
    src.mkdir()
    names = ["...mp4", "..\\..\\x.mp4"]
    for n in names:
        shutil.copyfile(clips_dir / "single_face.mp4", src / n)
    return [src / n for n in names]


def _cli(*args, env=None, timeout=600):
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS="1")
    return subprocess.run(
        [PY, "-m", "vafusion", *map(str, args)], capture_output=True, text=True,
        env=env, timeout=timeout,
    )  # fmt: skip


def test_predict_outputs_stay_in_the_folder(tmp_path, evil_videos):
    out = tmp_path / "a" / "b" / "out"
    before = _tree(tmp_path)
    p = _cli("predict", *evil_videos, "--out", out, "-j", "1")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
    new = _tree(tmp_path) - before
    outside = [n for n in new if not n.startswith("a/b/out") and n not in ("a", "a/b")]
    assert not outside, outside
    written = sorted(f.name for f in out.iterdir())
    assert len(written) == 10 and not [n for n in written if n.startswith(".") or "/" in n]


def test_extract_and_export_stay_in_the_folder(tmp_path, evil_videos, clips_dir):
    store = tmp_path / "a" / "store"
    good = tmp_path / "in" / "good.mp4"
    shutil.copyfile(clips_dir / "single_face.mp4", good)
    before = _tree(tmp_path)
    p = _cli("extract", *evil_videos, good, "--out", store, "--features", "audio", "--json")
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    new = _tree(tmp_path) - before
    outside = [n for n in new if not n.startswith("a/store") and n != "a"]
    assert not outside, outside
    report = json.loads(p.stdout)
    # a name that is not a safe store key fails alone, with one line naming the file; the
    # good video of the same batch is extracted
    assert p.returncode == 1 and report["done"] == ["good"]
    assert sorted(report["failed"]) == sorted(v.stem for v in evil_videos)
    for v in evil_videos:
        msg = report["failed"][v.stem]
        assert "\n" not in msg and v.name in msg and "invalid video name" in msg
    # export of a path-like video name is refused, writes nothing
    out = tmp_path / "x.csv"
    p = _cli("export", store, "--video", "../../x", "--out", out)
    assert p.returncode != 0 and "Traceback" not in p.stderr and not out.exists()


def test_store_refuses_path_like_names(tmp_path):
    from vafusion.errors import VafusionError
    from vafusion.features.base import FeatureTable
    from vafusion.store import FeatureStore

    fs = FeatureStore(tmp_path / "store")
    table = FeatureTable(name="audio", frame=np.arange(3), timestamp=np.arange(3) / 25.0,
                         values=np.zeros((3, 2), np.float32), columns=["a", "b"],
                         valid=np.ones(3, bool))  # fmt: skip
    for bad in ("..", "../../x", "a/b", "/abs", "."):
        with pytest.raises(VafusionError):
            fs.put(bad, table, extractor_hash="h", video_info={"n_frames": 3})
    assert _tree(tmp_path) <= {"store"} | {f"store/{n}" for n in _tree(tmp_path / "store")}


# ------------------------------------------------------------------------ no network
SITECUSTOMIZE = textwrap.dedent(
    '''
    """Test harness: block every non-loopback network use and record attempts."""
    import os, socket

    _LOG = os.environ["VAFUSION_NET_LOG"]
    with open(_LOG, "a") as fh:
        fh.write(f"loaded {os.getpid()}\\n")

    def _local(host):
        h = str(host)
        return h in ("localhost", "", "::1") or h.startswith("127.") or h.startswith("/")

    def _record(what, host):
        with open(_LOG, "a") as fh:
            fh.write(f"BLOCKED {what} {host!r}\\n")
        raise OSError(f"network blocked by test: {what} {host!r}")

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
    _getaddrinfo, _create = socket.getaddrinfo, socket.create_connection

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or _local(host):
            return _connect(self, address)
        _record("connect", host)

    def connect_ex(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or _local(host):
            return _connect_ex(self, address)
        _record("connect_ex", host)

    def getaddrinfo(host, *args, **kwargs):
        if host is None or _local(host):
            return _getaddrinfo(host, *args, **kwargs)
        _record("getaddrinfo", host)

    def create_connection(address, *args, **kwargs):
        if _local(address[0]):
            return _create(address, *args, **kwargs)
        _record("create_connection", address[0])

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket.create_connection = create_connection
    '''
)


def test_predict_and_extract_work_offline(tmp_path, clips_dir):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "net.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["VAFUSION_NET_LOG"] = str(log)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    video = clips_dir / "single_face.mp4"
    p = _cli("predict", video, "--out", tmp_path / "pred", "-j", "1", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    p = _cli("extract", video, "--out", tmp_path / "store", "--features",
             "audio,facepose,expression", env=env)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    lines = log.read_text().splitlines()
    assert sum(ln.startswith("loaded") for ln in lines) >= 2, "the socket guard was not loaded"
    blocked = [ln for ln in lines if ln.startswith("BLOCKED")]
    assert not blocked, blocked
    assert (tmp_path / "pred" / "single_face.csv").is_file()
    # the guard really blocks: a connection attempt through it fails and is recorded
    probe = subprocess.run(
        [PY, "-c", "import socket; socket.create_connection(('example.org', 80), timeout=2)"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert probe.returncode != 0 and "network blocked" in probe.stderr
    assert "BLOCKED" in log.read_text()


def test_ci_runs_the_readme_test_command_without_network():
    """.ci/run runs the README's ``make test`` in a network namespace with only loopback
    (after the online set-up); under it (``VAFUSION_OFFLINE_CI=1``) the network is really
    gone, so the whole suite passing there proves nothing needs it."""
    repo = Path(__file__).resolve().parents[1]
    steps = [ln for ln in (repo / ".ci" / "run").read_text().splitlines() if ln and ln[0] != "#"]
    offline = "unshare --net sh -c 'ip link set lo up && VAFUSION_OFFLINE_CI=1 make test'"
    assert steps[-3:] == ["make setup", "bash scripts/test-prereqs.sh", offline], steps
    readme = (repo / "README.md").read_text()
    assert "make test   #" in readme and f"`{offline}`" in readme
    if os.environ.get("VAFUSION_OFFLINE_CI") == "1":
        with pytest.raises(OSError):  # no route out (loopback only), no name resolution
            socket.create_connection(("1.1.1.1", 80), timeout=5)
        with pytest.raises(OSError):
            socket.getaddrinfo("pypi.org", 443)
        with socket.create_server(("127.0.0.1", 0)) as srv:  # loopback is up (Dask, torchrun)
            socket.create_connection(srv.getsockname(), timeout=5).close()


# ------------------------------------------------------------------- property tests
_HS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_AUS = ["AU01_r", "AU04_r", "AU12_r"]


@_HS
@given(
    n_frames=st.integers(1, 30),
    data=st.data(),
    spaced=st.booleans(),
)
def test_openface_csv_round_trip(tmp_path_factory, n_frames, data, spaced):
    """Any well-formed OpenFace CSV: values land on row frame-1; success 0 / missing frames
    are invalid (NaN), never zeros."""
    from vafusion.expression.openface import import_openface

    frames = data.draw(st.lists(st.integers(1, n_frames), min_size=1, max_size=n_frames,
                                unique=True))  # fmt: skip
    success = data.draw(st.lists(st.booleans(), min_size=len(frames), max_size=len(frames)))
    vals = data.draw(arrays(np.float64, (len(frames), len(_AUS)),
                            elements=st.floats(0, 5, allow_nan=False, width=32)))  # fmt: skip
    sep = ", " if spaced else ","
    lines = [sep.join(["frame", "timestamp", "confidence", "success", *_AUS])]
    for f, s, v in zip(frames, success, vals, strict=True):
        cells = [str(f), f"{(f - 1) / 25:.3f}", "0.9", str(int(s)), *[repr(float(x)) for x in v]]
        lines.append(sep.join(cells))
    path = tmp_path_factory.mktemp("of") / "of.csv"
    path.write_text("\n".join(lines) + "\n")
    t = import_openface(path, n_frames, tolerance=n_frames)
    assert sorted(set(t.frame.tolist())) == list(range(n_frames))
    cols = [t.columns.index(a) for a in _AUS]
    for f, s, v in zip(frames, success, vals, strict=True):
        (row,) = np.flatnonzero((t.frame == f - 1) & (t.face_id >= 0))
        assert bool(t.valid[row]) == s
        if s:
            np.testing.assert_allclose(t.values[row, cols], v.astype(np.float32))
        else:
            assert np.isnan(t.values[row, cols]).all()
    for f in set(range(1, n_frames + 1)) - set(frames):
        rows = np.flatnonzero(t.frame == f - 1)
        assert not t.valid[rows].any() and np.isnan(t.values[rows]).all()


@_HS
@given(body=st.lists(st.text(st.sampled_from("0123456789.,-eE naAbc\t"), max_size=12),
                     min_size=1, max_size=6))  # fmt: skip
def test_openface_garbage_is_refused_with_the_file_or_parsed(tmp_path_factory, body):
    from vafusion.errors import AnnotationError
    from vafusion.expression.openface import read_openface_csv

    path = tmp_path_factory.mktemp("ofg") / "garbage.csv"
    path.write_text("frame, success, AU01_r\n" + "\n".join(body) + "\n")
    try:
        df = read_openface_csv(path)
    except AnnotationError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert (df["frame"] >= 1).all() and not df.duplicated(["frame", "face_id"]).any()


@_HS
@given(rows=st.lists(st.tuples(st.floats(-1, 1, allow_nan=False, width=32),
                               st.floats(-1, 1, allow_nan=False, width=32)),
                     min_size=1, max_size=30),
       data=st.data())  # fmt: skip
def test_generic_csv_annotations_round_trip(tmp_path_factory, rows, data):
    """``frame,valence,arousal`` CSVs in any row order with gaps: rows land on their frame."""
    from vafusion.datasets.annotations import parse_va_csv

    frames = data.draw(st.lists(st.integers(0, 60), min_size=len(rows), max_size=len(rows),
                                unique=True))  # fmt: skip
    path = tmp_path_factory.mktemp("va") / "a.csv"
    path.write_text("frame,valence,arousal\n" + "".join(
        f"{f},{v!r},{a!r}\n" for f, (v, a) in zip(frames, rows, strict=True)))  # fmt: skip
    labels = parse_va_csv(path)
    assert labels.shape == (max(frames) + 1, 2)
    for f, (v, a) in zip(frames, rows, strict=True):
        np.testing.assert_allclose(labels[f], [v, a], atol=1e-6)
    missing = sorted(set(range(max(frames) + 1)) - set(frames))
    assert np.isnan(labels[missing]).all()


finite = st.floats(-1, 1, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(3, 40), elements=finite), st.data())
def test_ccc_ignores_invalid_frames_and_is_below_pearson(y, data):
    from vafusion.train.metrics import ccc

    x = data.draw(arrays(np.float64, len(y), elements=finite))
    c = ccc(x, y)
    # -5 (unannotated) and NaN frames anywhere in the target do not change the value
    k = data.draw(st.integers(1, 5))
    pos = data.draw(st.lists(st.integers(0, len(y)), min_size=k, max_size=k))
    xi, yi = list(x), list(y)
    for j, p in enumerate(sorted(pos, reverse=True)):
        xi.insert(p, data.draw(finite))
        yi.insert(p, -5.0 if j % 2 == 0 else float("nan"))
    c2 = ccc(np.array(xi), np.array(yi))
    if np.isnan(c):
        assert np.isnan(c2)
    else:
        assert c2 == pytest.approx(c, abs=1e-9)
        sx, sy = x.std(), y.std()
        if sx > 1e-6 and sy > 1e-6:  # CCC = Pearson * bias correction factor, |CCC| <= |r|
            r = np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy)
            assert abs(c) <= abs(r) + 1e-9
