"""Filter process for file descriptor 2: drops native log noise, passes everything else.

Run by :func:`vafusion.log.quiet_native_logs` as ``python -I -S _stderr_filter.py`` with the
read end of a pipe on stdin and the real stderr on stdout. It must import nothing from
vafusion (it runs isolated, ``-I -S``) and it outlives a crashing parent: it exits on end of
file, after writing what is left, so a native crash message is never lost.

A line is noise when it is an absl/glog INFO or WARNING record (``I0000 ...`` / ``W0000 ...
file.cc:123] ...``) or one of TensorFlow Lite's fixed start-up lines (also when processes
starting together interleave their prefixes). ERROR and FATAL
records (``E...``/``F...``) and every other line pass through unchanged.
"""

from __future__ import annotations

import os
import re
import sys

NOISE = re.compile(
    # TensorFlow Lite writes its "INFO: " prefix and its message in two writes: two worker
    # processes starting together interleave them ("INFO: INFO: Created ...", "Created ...")
    rb"^(?:(?:INFO|WARNING): )*"
    rb"(?:[IW]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\]"
    rb"|All log messages before absl::InitializeLog\(\) is called"
    rb"|Created TensorFlow Lite (?:XNNPACK )?delegate"
    rb"|Initialized TensorFlow Lite runtime)"
)


def is_noise(line: bytes) -> bool:
    """Whether one stderr line (bytes, newline optional) is native log noise."""
    return NOISE.match(line.lstrip(b"\r")) is not None


def run(src: int = 0, dst: int = 1) -> None:
    """Copy lines from ``src`` to ``dst`` until end of file, dropping noise lines."""
    pending = b""
    while True:
        try:
            chunk = os.read(src, 65536)
        except InterruptedError:  # pragma: no cover - retried by Python anyway
            continue
        except KeyboardInterrupt:  # Ctrl-C reaches the whole group: keep draining
            continue
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = b"".join(ln + b"\n" for ln in lines if not is_noise(ln))
        if kept:
            os.write(dst, kept)
    if pending and not is_noise(pending):
        os.write(dst, pending)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent reports the interruption
    run()
    sys.exit(0)
