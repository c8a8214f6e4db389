"""Progress bars of worker processes are forwarded to the parent (which draws them)."""

from __future__ import annotations

import time

from vafusion.log import _settings, forward_progress, progress_bar


def test_worker_bar_events_carry_total_advances_and_close():
    events: list[tuple] = []
    forward_progress(events.append)
    try:
        with progress_bar("clip.mp4", total=10, unit="frames") as advance:
            for _ in range(10):
                advance()
            time.sleep(0.25)
            advance(2)  # batched: sent after 0.2 s or at close
            advance.set_total(12)
    finally:
        _settings.pop("forward")
    assert events[0][0] == "open" and events[0][2:] == ("clip.mp4", 10, "frames")
    key = events[0][1]
    assert all(e[1] == key for e in events)
    assert sum(e[2] for e in events if e[0] == "advance") == 12
    assert ("total", key, 12) in events and events[-1] == ("close", key)
    assert len([e for e in events if e[0] == "advance"]) < 12  # batched, not one per frame
