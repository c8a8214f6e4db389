"""``extract`` on a Dask cluster: a local one started here, or a running scheduler.

Long videos with faces are split into time-chunk tasks
(:mod:`vafusion.parallel.extract_chunks`); every other video is one task of
:func:`extract_one_reporting`. Results, failures and warnings come back to this process,
which records and logs them as the local runner does.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from vafusion.datasets.inputs import video_name
from vafusion.extraction.batch import (
    THREAD_ENV,
    extract_one,
    log_result,
    one_line,
    record_failed,
)
from vafusion.log import captured_warnings, expected_frames, progress_bar


def expected_total(tasks) -> int | None:
    """Sum of the videos' header frame counts (None if one is unknown): the frames bar."""
    counts = [expected_frames(task[0]) for task in tasks]
    return None if any(c is None for c in counts) else sum(counts)


def extract_one_reporting(*args: Any, **kwargs: Any) -> dict:
    """:func:`~vafusion.extraction.batch.extract_one` on a Dask worker; its warnings travel
    back in ``r["warnings"]``.

    A worker's stderr is not the user's (a remote scheduler's workers run elsewhere), so
    the client logs the warnings again (:func:`~vafusion.extraction.batch.log_result`).
    """
    with captured_warnings() as warnings:
        r = extract_one(*args, **kwargs)
    return {**r, "warnings": warnings}


def run_dask(tasks, store_root, workers, scheduler) -> list[dict]:
    """Run the ``(path, config)`` tasks on Dask; one result dict per video."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=dict(THREAD_ENV),
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    results = []
    try:
        from vafusion.parallel.extract_chunks import extract_dask_chunked, split_tasks

        run = uuid.uuid4().hex[:6]
        if cluster is not None:
            client.wait_for_workers(workers)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        # long videos with faces: chunks as tasks, assembled here; the rest: one task each;
        # every task's priority is its length in seconds (largest first)
        chunked, whole = split_tasks(tasks, n_workers)
        futures = {}
        for path, config, seconds in whole:
            fut = client.submit(
                extract_one_reporting,
                str(path),
                store_root,
                config,
                single_thread=True,
                key=f"vafusion-extract-{video_name(path)}-{run}",
                priority=seconds,
                pure=False,
            )
            futures[fut] = path
        for i, r in enumerate(extract_dask_chunked(client, chunked, store_root), start=1):
            log_result(r, i, len(tasks))
            results.append(r)
        with (
            progress_bar("videos", total=len(tasks), unit="videos") as adv_v,
            progress_bar("frames", total=expected_total(tasks), unit="frames") as adv_f,
        ):
            for i, fut in enumerate(as_completed(list(futures)), start=len(results) + 1):
                path = futures[fut]
                try:
                    r = fut.result()
                except Exception as exc:  # worker died (KilledWorker), ...
                    r = record_failed(store_root, path, f"worker failed: {one_line(exc)}")
                log_result(r, i, len(tasks))
                results.append(r)
                adv_v()
                adv_f(r.get("n_frames", 0))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results
