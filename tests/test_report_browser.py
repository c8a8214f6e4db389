"""The HTML reports in real headless Chromium (DevTools protocol), from file://.

Checks what a reader sees: the video plays and seeks in sync with the playhead, a click
on the curves or a moment seeks the video, face boxes toggle, the curves are drawn (pixel
colour of the valence curve in a screenshot), every image decodes, and the page makes no
request besides its own file (and, with ``video="link"``, the linked video).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from vafusion.predict.api import predict_to_folder
from vafusion.report.player import FACE_COLORS, ReportOptions

pytestmark = pytest.mark.slow

import cdp  # noqa: E402  (tests/cdp.py)

if cdp.CHROMIUM is None:  # scripts/test-prereqs.sh installs it
    pytest.skip("chromium not installed (run scripts/test-prereqs.sh)", allow_module_level=True)

CLIPS = ("single_face.mp4", "d0.mp4")


@pytest.fixture(scope="module")
def out(tmp_path_factory, clips_dir):
    out = tmp_path_factory.mktemp("reports")
    results = predict_to_folder([clips_dir / c for c in CLIPS], out)
    assert [r.error for r in results] == [None, None]
    return out


@pytest.fixture
def browser(tmp_path):
    with cdp.Browser(tmp_path / "profile", 1280, 1400) as b:
        yield b


def _rgb(hex_colour: str) -> np.ndarray:
    n = int(hex_colour[1:], 16)
    return np.array([n >> 16, (n >> 8) & 255, n & 255])


def _colour_pixels(png: bytes, rect: dict, colour: str, tol: int = 40) -> int:
    """Pixels within ``tol`` (per channel) of ``colour`` inside a CSS-pixel rectangle."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    x0, y0 = int(rect["x"]), int(rect["y"])
    crop = img[y0 : y0 + int(rect["height"]), x0 : x0 + int(rect["width"])]
    return int((np.abs(crop - _rgb(colour)).max(axis=2) <= tol).sum())


def _rect(b, selector: str) -> dict:
    return b.eval(
        f"(function(){{var r=document.querySelector({selector!r}).getBoundingClientRect();"
        "return {x:r.x,y:r.y,width:r.width,height:r.height};})()"
    )


def _only_own_requests(b, allowed: set[str]) -> None:
    schemes = {u.split(":", 1)[0] for u in b.requests}
    assert schemes <= {"file", "data"}, b.requests
    files = {u for u in b.requests if u.startswith("file:")}
    assert files <= allowed, files


def _player_ready(b) -> None:
    b.wait_for("window.vafusionPlayer && document.getElementById('va-video').readyState >= 2")


def test_player_seeks_plays_and_clicks_in_sync(out, browser):
    b = browser
    page = (out / "single_face.html").resolve().as_uri()
    b.open(page)
    _player_ready(b)
    assert b.eval("document.getElementById('va-player').hidden") is False
    fps = 30.0
    # seek the video: the playhead follows
    b.eval("document.getElementById('va-video').currentTime = 1.5")
    b.wait_for("Math.abs(document.getElementById('va-curves').dataset.playhead - 1.5) < 1e-3")
    # play: playhead and currentTime agree while/after playing
    b.eval("document.getElementById('va-video').currentTime = 0")
    b.eval("document.getElementById('va-video').play()", await_promise=True)
    b.wait_for("document.getElementById('va-video').currentTime > 0.6", timeout=20)
    b.eval("document.getElementById('va-video').pause()")
    b.wait_for("document.getElementById('va-video').paused")
    cur, head = b.eval(
        "[document.getElementById('va-video').currentTime,"
        " parseFloat(document.getElementById('va-curves').dataset.playhead)]"
    )
    assert cur > 0.6 and abs(cur - head) < 1 / fps, (cur, head)
    # a real mouse click on the curves at t = 1.0 s seeks the video there
    left, right, t0, t1 = map(float, b.eval("document.getElementById('va-curves').dataset.plot")
                              .split(","))  # fmt: skip
    r = _rect(b, "#va-curves")
    x = r["x"] + (left + (1.0 - t0) / (t1 - t0) * (right - left)) * r["width"] / (
        float(b.eval("parseFloat(document.getElementById('va-curves').style.width)"))
    )
    b.click(x, r["y"] + 60)
    b.wait_for("Math.abs(document.getElementById('va-video').currentTime - 1.0) < 0.05")
    # a click on a moment seeks to its time
    t_moment = float(b.eval("document.querySelector('a.moment').dataset.t"))
    b.eval("document.querySelector('a.moment').scrollIntoView()")
    m = _rect(b, "a.moment img")
    b.click(m["x"] + m["width"] / 2, m["y"] + m["height"] / 2)
    b.wait_for(f"Math.abs(document.getElementById('va-video').currentTime - {t_moment}) < 0.05")
    assert not b.console, b.console
    _only_own_requests(b, {page})


def test_curves_and_images_are_drawn_and_boxes_toggle(out, browser):
    b = browser
    b.open((out / "d0.html").resolve().as_uri())
    _player_ready(b)
    b.eval("document.getElementById('va-video').currentTime = 1.0")
    b.wait_for("Math.abs(document.getElementById('va-curves').dataset.playhead - 1.0) < 1e-3")
    # every image decodes (a broken data URI has naturalWidth 0)
    sizes = b.eval("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert sizes and all(ok and w > 0 for ok, w in sizes), sizes
    b.eval("window.scrollTo(0, 0)")
    shot = b.screenshot()
    colour = FACE_COLORS[0]
    assert _colour_pixels(shot, _rect(b, "#va-curves"), colour) > 300  # valence/arousal lines
    assert _colour_pixels(shot, _rect(b, "#va-boxes"), colour) > 50  # the face box
    b.eval("document.getElementById('va-show-boxes').click()")
    assert _colour_pixels(b.screenshot(), _rect(b, "#va-boxes"), colour) == 0
    # the static figure (no-JavaScript fallback) shows the valence curve too
    b.eval("document.getElementById('va-static').scrollIntoView()")
    assert _colour_pixels(b.screenshot(), _rect(b, "#va-static"), colour) > 300
    assert not b.console, b.console


def test_index_lists_both_videos_sorts_and_links(out, browser):
    b = browser
    page = (out / "index.html").resolve().as_uri()
    b.open(page)
    names = b.eval("Array.from(document.querySelectorAll('#summary tbody tr'))"
                   ".map(r => r.cells[0].textContent)")  # fmt: skip
    assert sorted(Path(n).name for n in names) == sorted(CLIPS)
    links = b.eval("Array.from(document.querySelectorAll('#summary a')).map(a => a.href)")
    assert {Path(u.removeprefix("file://")).name for u in links} == {
        "single_face.html",
        "d0.html",
    }
    # sort by duration (column 3), both directions
    col = 3
    get = (f"Array.from(document.querySelectorAll('#summary tbody tr'))"
           f".map(r => parseFloat(r.cells[{col}].dataset.v))")  # fmt: skip
    b.eval(f"document.querySelectorAll('#summary th')[{col}].click()")
    up = b.eval(get)
    b.eval(f"document.querySelectorAll('#summary th')[{col}].click()")
    down = b.eval(get)
    assert up == sorted(up) and down == sorted(down, reverse=True) and up != down
    assert not b.console, b.console
    _only_own_requests(b, {page})


def test_linked_video_plays_and_no_video_report_has_no_player(tmp_path, clips_dir, browser):
    clip = clips_dir / "single_face.mp4"
    linked = predict_to_folder([clip], tmp_path / "l", report=ReportOptions(video="link"))[0]
    page = Path(linked.outputs["html"]).resolve().as_uri()
    assert "data:video" not in Path(linked.outputs["html"]).read_text()
    browser.open(page)
    _player_ready(browser)
    _only_own_requests(browser, {page, clip.resolve().as_uri()})
    none = predict_to_folder([clip], tmp_path / "n", report=ReportOptions(video="none"))[0]
    browser.open(Path(none.outputs["html"]).resolve().as_uri())
    browser.wait_for("window.vafusionPlayer")
    assert browser.eval("document.querySelectorAll('video').length") == 0
    assert not browser.console, browser.console
