"""The HTML report in real headless Chromium, from file://, with the network disabled."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vafusion.predict.api import predict_to_folder

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


@pytest.fixture(scope="module")
def report(tmp_path_factory, clips_dir):
    out = tmp_path_factory.mktemp("report")
    res = predict_to_folder([clips_dir / "single_face.mp4"], out)[0]
    assert res.error is None
    return res.outputs["html"]


def test_report_has_no_remote_reference(report):
    text = Path(report).read_text()
    for needle in ("http://", "https://", "//cdn", "<script", "<link"):
        assert needle not in text.lower(), needle
    assert "data:image/png;base64," in text and "data:image/jpeg;base64," in text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/test-prereqs.sh)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "shot.png"
    log = tmp_path / "chrome.log"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        # network disabled: every host resolves nowhere, no proxy bypass
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,1800",
        f"--screenshot={shot}",
        Path(report).resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    log.write_text(proc.stderr)
    assert shot.exists(), proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    failed_loads = [ln for ln in proc.stderr.splitlines() if "net::ERR" in ln]
    assert not failed_loads, failed_loads
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None and img.shape[0] > 500
    assert float(np.var(img)) > 100.0, "screenshot looks blank"
