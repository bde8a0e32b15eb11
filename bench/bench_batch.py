"""A database batch on the local scheduler vs a Dask cluster: same results, and the wall-time ratio.

The 23 MIT-BIH records of the mirror x 2 design points (CMRR 80 and 110 dB),
4 s of lead 0 per record (46 units), run once with ``jobs=2`` local worker
processes and once on a ``distributed.LocalCluster`` of two single-threaded
worker processes started here (its start-up is not timed; the local pool's
spawn is, as a user pays it on every run). Both runs must give identical
unit files, byte for byte. Reads the mirror at ``../shared/physionet`` (or
``$ECGFE_TEST_MIRROR``) as the data directory; returns no rows without it or
without ``distributed``.

Run with ``python -m bench batch``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIRROR = Path(os.environ.get("ECGFE_TEST_MIRROR", REPO.parent / "shared" / "physionet"))
POINTS = [{"amplifier.cmrr_db": 80.0}, {"amplifier.cmrr_db": 110.0}]
DURATION_S = 4.0


def _files(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in (directory / "points").iterdir()}


def run():
    try:
        from distributed import LocalCluster
    except ImportError:
        return
    if not (MIRROR / "mitdb" / "1.0.0" / "100.hea").exists():
        return
    # Workers (spawned processes) find the package and the records through the environment.
    os.environ["ECGFE_DATA_DIR"] = str(MIRROR)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    from acquire.config import resolve_config
    from acquire.studies.batch import parse_records, run_batch

    records = parse_records("mitdb:local")
    cfg = resolve_config(values={"source.duration_s": DURATION_S, "source.channels": [0]})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        local = run_batch(cfg, records, POINTS, Path(tmp) / "local", jobs=2)
        local_s = time.perf_counter() - t0
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            t0 = time.perf_counter()
            remote = run_batch(cfg, records, POINTS, Path(tmp) / "dask", scheduler=cluster.scheduler_address)
            dask_s = time.perf_counter() - t0
        same = _files(Path(tmp) / "local") == _files(Path(tmp) / "dask") and local.summary == remote.summary
    units = len(records) * len(POINTS)
    yield f"batch, {len(records)} records x {len(POINTS)} points, {DURATION_S:g} s each: local, 2 jobs", local_s, "s"
    yield "  the same on a Dask LocalCluster (2 worker processes)", dask_s, "s"
    yield "  wall-time ratio Dask / local", dask_s / local_s, "x"
    yield f"  identical results ({units} unit files byte for byte, aggregates; 1 = yes)", float(same), "bool"
