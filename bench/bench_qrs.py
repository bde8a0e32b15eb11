"""QRS detection: accuracy (EC57/bxb scoring) on both leads and speed against wfdb's XQRS.

Ours runs on both leads of the 23 MIT-BIH records of the mirror; wfdb's
``processing.xqrs_detect`` takes about 4 s per 30-minute lead, so it runs on an
8-record subset of lead 0 (including the hard records 108, 203, 207, 208), and
ours is scored and timed on the same subset for the comparison. Scoring is
bxb's (first 5 minutes excluded, VF episodes honoured). Reads the PhysioNet
mirror at ``../shared/physionet`` (or ``$ECGFE_TEST_MIRROR``); returns no rows
without it.

Run with ``python -m bench qrs`` or ``python -m bench.bench_qrs``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import wfdb
from wfdb import processing

from acquire.evaluation.qrs import detect_qrs
from acquire.evaluation.scoring import aggregate, score_record

MIRROR = Path(os.environ.get("ECGFE_TEST_MIRROR",
                             Path(__file__).resolve().parent.parent.parent / "shared" / "physionet"))
RECORDS = ("100 101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 "
           "208 209 215 220 223 230").split()
XQRS_SUBSET = "100 101 106 108 119 203 207 208".split()


def _score(detector, records, channel: int) -> tuple[dict, float]:
    """Gross statistics and total detection time of ``detector(x_mv, fs)`` on one lead of records."""
    results, elapsed = [], 0.0
    for record in records:
        path = str(MIRROR / "mitdb" / "1.0.0" / record)
        rec = wfdb.rdrecord(path, channels=[channel])
        ann = wfdb.rdann(path, "atr")
        x_mv = rec.p_signal[:, 0]
        t0 = time.perf_counter()
        beats = detector(x_mv, float(rec.fs))
        elapsed += time.perf_counter() - t0
        results.append(score_record(ann.sample, np.array(ann.symbol), np.asarray(beats, int), rec.fs))
    return aggregate(results)["gross"], elapsed


def _ours(x_mv, fs):
    return detect_qrs(x_mv * 1e-3, fs)


def _xqrs(x_mv, fs):
    return processing.xqrs_detect(x_mv, fs=fs, verbose=False)


def run() -> list[tuple[str, float, str]]:
    """Rows of (name, value, unit)."""
    if not (MIRROR / "mitdb" / "1.0.0" / "100.hea").exists():
        return []
    n_all, n_sub = len(RECORDS), len(XQRS_SUBSET)
    rows = []
    for channel in (0, 1):
        ours, t_all = _score(_ours, RECORDS, channel)
        rows += [
            (f"qrs ours gross Se, lead {channel}, {n_all} MIT-BIH records", 100 * ours["se"], "%"),
            (f"qrs ours gross +P, lead {channel}, {n_all} MIT-BIH records", 100 * ours["ppv"], "%"),
            (f"qrs ours detection time per record, lead {channel}", t_all / n_all, "s"),
        ]
    ours_sub, t_ours = _score(_ours, XQRS_SUBSET, 0)
    xqrs_sub, t_xqrs = _score(_xqrs, XQRS_SUBSET, 0)
    return rows + [
        (f"qrs ours gross Se, lead 0, {n_sub}-record subset", 100 * ours_sub["se"], "%"),
        (f"qrs ours gross +P, lead 0, {n_sub}-record subset", 100 * ours_sub["ppv"], "%"),
        (f"qrs wfdb xqrs gross Se, lead 0, {n_sub}-record subset", 100 * xqrs_sub["se"], "%"),
        (f"qrs wfdb xqrs gross +P, lead 0, {n_sub}-record subset", 100 * xqrs_sub["ppv"], "%"),
        (f"qrs speed: xqrs time / ours time, {n_sub}-record subset", t_xqrs / t_ours, "ratio"),
    ]


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name:<62} {value:>12.4g}  {unit}")
