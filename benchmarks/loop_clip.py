"""Make a long *synthetic* video by looping a real clip (video stream only, no re-encoding).

Usage::

    .venv/bin/python benchmarks/loop_clip.py SRC DST --seconds 30

The compressed packets of ``SRC``'s video stream are copied again and again with shifted
timestamps until ``--seconds`` of video are written (the last loop is cut at a packet), so
every loop starts at the clip's first keyframe and a one-hour file takes seconds to make.
The result is a real H.264 (or whatever ``SRC`` holds) stream of real faces, but its
content repeats: say so wherever a number measured on it is quoted. Audio is left out
(looped AAC packets would overlap at the seams); the default predict model does not use it.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def loop_clip(src: str | Path, dst: str | Path, seconds: float) -> Path:
    """Write ``seconds`` of ``src``'s video stream, looped, to ``dst``; return ``dst``."""
    import av

    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        packets = [p for p in inp.demux(vin) if p.size and p.pts is not None]
    tb = vin.time_base
    first = min(p.pts for p in packets)
    step = max(int(p.duration or 0) for p in packets) or int(round(1 / (vin.average_rate * tb)))
    period = max(p.pts for p in packets) + step - first  # one loop, in time_base units
    limit = int(seconds / tb)
    dst = Path(dst)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vout = out.add_stream_from_template(inp.streams.video[0])
        k = 0
        while True:
            shift = k * period - first
            for p in packets:
                if p.pts + shift >= limit:
                    return dst
                p.pts += shift
                if p.dts is not None:
                    p.dts += shift
                p.stream = vout
                out.mux(p)
                p.pts -= shift
                if p.dts is not None:
                    p.dts -= shift
            k += 1


def benchmark_clip(clip: Path | None, src: Path, seconds: float, tmp: str | Path) -> Path:
    """``clip`` if given, else ``seconds`` of ``src`` looped into ``tmp`` (said on stdout)."""
    if clip is not None:
        return clip
    looped = loop_clip(src, Path(tmp) / "sample_looped.mp4", seconds)
    print(f"clip: {Path(src).name} looped to {seconds:.0f} s (synthetic, video only)")
    return looped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    print(loop_clip(args.src, args.dst, args.seconds))


if __name__ == "__main__":
    main()
