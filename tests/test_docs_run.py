"""The documented workflows run, word for word.

A ```bash block preceded by ``<!-- docs-test: run NAME -->`` in README.md or docs/*.md is
executed here line by line in a fresh folder prepared by the fixture NAME (real clips,
a small Aff-Wild2-style dataset, a real Dask scheduler and worker). Every line must exit 0
without a traceback. tests/test_docs.py parses every other documented command against the
CLI; this module runs the ones that are cheap enough to run.

Also: every relative link in the docs points to an existing file.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.daemons import free_port, stop

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md"))]
MARKED = re.compile(r"<!-- docs-test: run ([\w-]+) -->\s*```bash\n(.*?)```", re.S)
PY = sys.executable
BIN = Path(PY).parent


def marked_blocks() -> list[tuple[str, str, list[str]]]:
    found = []
    for path in DOC_FILES:
        for name, body in MARKED.findall(path.read_text(encoding="utf-8")):
            lines = [ln.split(" #")[0].strip() for ln in body.splitlines()]
            found.append((path.name, name, [ln for ln in lines if ln and not ln.startswith("#")]))
    return found


BLOCKS = marked_blocks()


def test_the_guide_has_runnable_blocks():
    names = {n for _, n, _ in BLOCKS}
    assert {"quickstart", "mini-affwild2", "dask-cluster"} <= names, names


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONIOENCODING="utf-8")
    env.pop("WORLD_SIZE", None)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _argv(line: str, subst: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    for a, b in subst.items():
        line = line.replace(a, b)
    words = shlex.split(line)
    extra = {}
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefix
        k, v = words.pop(0).split("=", 1)
        extra[k] = v
    if words[0] == "vafusion":
        words = [PY, "-m", "vafusion", *words[1:]]
    elif words[0] == "dask":
        words = [str(BIN / "dask"), *words[1:]]
    return words, extra


def _run_line(line: str, cwd: Path, subst: dict[str, str], timeout=600):
    argv, extra = _argv(line, subst)
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env={**_env(), **extra})  # fmt: skip
    assert p.returncode == 0, f"{line}\n{p.stderr[-3000:]}"
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    return p


def _block(name: str) -> list[str]:
    (lines,) = [ls for _, n, ls in BLOCKS if n == name]
    return lines


# ------------------------------------------------------------------------ quickstart
def test_quickstart_runs(tmp_path, clips_dir):
    shutil.copyfile(clips_dir / "single_face.mp4", tmp_path / "clip.mp4")
    for line in _block("quickstart"):
        _run_line(line, tmp_path, {})
    rows = (tmp_path / "clip.csv").read_text().splitlines()
    assert len(rows) == 1 + 72 and rows[0].startswith("frame,timestamp")
    assert (tmp_path / "results" / "clip.html").is_file()
    assert (tmp_path / "features" / "manifest.json").is_file()


# ---------------------------------------------------------------- mini Aff-Wild2
def _annotation(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 3, n)
    va = np.stack([0.5 * np.sin(t + seed), 0.4 * np.cos(2 * t)], 1) + rng.normal(0, 0.05, (n, 2))
    va = np.clip(va, -1, 1)
    va[:3] = -5.0  # unannotated frames
    return "valence,arousal\n" + "".join(f"{v:.4f},{a:.4f}\n" for v, a in va)


def test_mini_affwild2_workflow_runs(tmp_path, clips_dir):
    """The reproduce-paper page's tiny workflow on an Aff-Wild2-style folder of real clips."""
    root = tmp_path / "affwild2"
    ann = root / "Annotations" / "VA_Estimation_Challenge"
    clips = {"train": [("d20.mp4", 175), ("d18.mp4", 216)], "val": [("single_face.mp4", 72)]}
    for split, folder in (("train", "Train_Set"), ("val", "Validation_Set")):
        (ann / folder).mkdir(parents=True)
        for i, (clip, n) in enumerate(clips[split]):
            dest = root / "videos" / f"batch{i + 1}" / clip
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(clips_dir / clip, dest)
            (ann / folder / f"{Path(clip).stem}.txt").write_text(_annotation(n, i))
    outs = [_run_line(line, tmp_path, {}) for line in _block("mini-affwild2")]
    assert "ok 3" in outs[0].stdout  # datasets check: 3 videos reconcile exactly
    import json

    m = json.loads((tmp_path / "eval" / "audio" / "metrics.json").read_text())
    assert m["n_videos"] == 1 and m["n_frames"] == 72 - 3
    assert (tmp_path / "table1" / "table1.md").is_file()
    assert (tmp_path / "runs" / "audio" / "best.pt").is_file()


# ---------------------------------------------------------------- Dask cluster
def test_dask_cluster_block_runs(tmp_path, clips_dir):
    """scale-out.md: a real `dask scheduler` + `dask worker`, then extract --scheduler."""
    videos = tmp_path / "shared" / "videos"
    videos.mkdir(parents=True)
    for clip in ("single_face.mp4", "d20.mp4"):
        shutil.copyfile(clips_dir / clip, videos / clip)
    port = free_port()
    subst = {
        "tcp://head:8786": f"tcp://127.0.0.1:{port}",
        "--port 8786": f"--host 127.0.0.1 --port {port} --no-dashboard",
        "--nworkers 8": "--nworkers 1 --no-dashboard",
        "/shared/": f"{tmp_path}/shared/",
    }
    daemons = []
    try:
        for line in _block("dask-cluster"):
            argv, extra = _argv(line, subst)
            if argv[0].endswith("dask"):  # long-running: start in the background
                log = open(tmp_path / f"{argv[1]}.log", "w")  # noqa: SIM115
                daemons.append(
                    subprocess.Popen(
                        argv,
                        cwd=tmp_path,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**_env(), **extra},
                    )  # fmt: skip
                )
                time.sleep(2 if argv[1] == "scheduler" else 0)
                continue
            p = _run_line(line, tmp_path, subst)
            if "extract" in argv:
                assert f"tcp://127.0.0.1:{port}" in p.stdout and "2 extracted" in p.stdout
        store = tmp_path / "shared" / "features"
        from vafusion.store import FeatureStore

        fs = FeatureStore(store, create=False)
        assert fs.get("d20", "audio").values.shape == (175, 168)
        assert fs.get("single_face", "audio").values.shape == (72, 168)
    finally:
        stop(daemons)


# ------------------------------------------------------------------------- links
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#")[0]
        if not (doc.parent / path).exists():
            broken.append(target)
    assert not broken, f"{doc.name}: broken links {broken}"
