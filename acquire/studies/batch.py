"""Database batches: every design point on every record of a set, aggregated like PhysioNet's ``sumstats``.

A unit of work is one (design point, record) pair; units run through the
sweep engine (:func:`acquire.studies.sweep.run_points`), so a batch is
resumable per unit and parallel like a sweep. Per point the records are
aggregated as ``sumstats`` does for beat detection (gross statistics from the
summed counts, average statistics as the mean of the per-record ratios) and
as distributions over the records for the front-end figures (median, 90th
percentile and the worst record of residual mains, effective CMRR and SNR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acquire._check import suggest
from acquire.studies.grid import MAX_POINTS, check_count
from acquire.studies.scheduler import LOCAL
from acquire.studies.sweep import point_id, run_points

#: Per-record figures aggregated over the records: (tap, metric, which end is worst).
DISTRIBUTED = (("acquired", "residual_mains_uv_rms", "max"), ("acquired", "cmrr_effective_db", "min"),
               ("recovered", "snr_out_db", "min"))


def parse_records(spec: str) -> list[str]:
    """Record names from ``--records``: ``mitdb``, ``mitdb:local``, ``mitdb/100,mitdb/101``, or a file.

    Parameters
    ----------
    spec : str
        Comma-separated items; an item is a database slug (every record of
        the database's ``RECORDS`` list, all of which must be downloaded and
        complete), ``slug:local`` (the records of it that are downloaded and
        complete), ``db/record``, or the path of a text file with one such
        item per line.

    Raises
    ------
    ValueError
        An unknown database or record (with "did you mean"), a database whose
        listed records are not all downloaded (with the fetch command and the
        ``:local`` alternative), or ``:local`` with nothing downloaded.
    """
    from acquire.sources.physionet import catalog, local_records

    names = []
    for item in (s.strip() for s in str(spec).split(",")):
        if not item:
            continue
        path = Path(item)
        if path.is_file():
            names += parse_records(",".join(line.strip() for line in path.read_text().splitlines() if line.strip()))
            continue
        slug, _, record = item.partition("/")
        slug, colon, scope = slug.partition(":")
        dbs = catalog()
        if colon and (scope != "local" or record):
            raise ValueError(f"--records item {item!r}: the only scope is '{slug}:local' (its downloaded records).")
        if slug not in dbs:
            raise ValueError(f"unknown database {slug!r} in --records; known: {', '.join(sorted(dbs))}."
                             f"{suggest(slug, dbs)}")
        if record:
            dbs[slug].check_record(record)
            names.append(f"{slug}/{record}")
            continue
        local = [r.record for r in local_records() if r.database == slug and r.problem is None]
        if not local:
            raise ValueError(f"no complete {slug} record is downloaded; run 'ecgfe fetch {slug}' first.")
        missing = [r for r in dbs[slug].records if r not in local]
        if missing and not colon:
            raise ValueError(f"{slug} lists {len(dbs[slug].records)} records and {len(missing)} are not downloaded "
                             f"complete ({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}); run "
                             f"'ecgfe fetch {slug}', or use '{slug}:local' for the {len(local)} that are.")
        names += [f"{slug}/{r}" for r in local]
    if not names:
        raise ValueError(f"--records names no record; got {spec!r}.")
    return list(dict.fromkeys(names))


@dataclass
class BatchRun:
    """What :func:`run_batch` computed.

    Attributes
    ----------
    records : list of str
    points : list of dict
        The design points (overrides without the record).
    units : list of dict
        One row per (point, record), point-major: ``point``, ``record`` and the sweep row's metrics.
    summary : list of dict
        One row per point: the point's keys, then the aggregates (see :func:`aggregate`).
    computed, skipped : list of str
        Unit ids run now and found finished.
    stale : dict
        Unit id -> why its file was not reused (:func:`acquire.studies.sweep.read_point`).
    documents : list of dict
        The full metrics document of each unit, in the order of ``units``.
    """

    records: list
    points: list
    units: list = field(default_factory=list)
    summary: list = field(default_factory=list)
    computed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    stale: dict = field(default_factory=dict)
    documents: list = field(default_factory=list)


def run_batch(cfg: dict, records: list[str] | None, points: list[dict] | None, out_dir, *, jobs: int = 1,
              progress=None, scheduler: str = LOCAL, max_points: int = MAX_POINTS) -> BatchRun:
    """Run every design point on every record (units resumable in ``out_dir/points``) and aggregate.

    Parameters
    ----------
    cfg : dict
        Base configuration; ``source.name`` is replaced by each record.
    records : list of str or None
        ``db/record`` names (:func:`parse_records`); None is the configured source alone.
    points : list of dict or None
        Design points (``{"section.key": value}``); None is the base design alone.
    out_dir : path
    jobs, progress, scheduler
        As in :func:`acquire.studies.sweep.run_points` (progress counts units).
    max_points : int
        Most (point, record) units accepted.
    """
    points = points or [{}]
    if records is not None and any("source.name" in p for p in points):
        raise ValueError("source.name cannot be varied in a batch over --records; list the records in --records.")
    check_count(len(points) * len(records or [None]), max_points, f"{len(points)} design point(s) x "
                f"{len(records or [None])} record(s)")
    units = [{**p, "source.name": r} if r is not None else dict(p) for p in points for r in records or [None]]
    run = run_points(cfg, units, out_dir, jobs=jobs, progress=progress, scheduler=scheduler, max_points=max_points)
    names = records if records is not None else [cfg["source"]["name"]]
    result = BatchRun(list(names), points, computed=run.computed, skipped=run.skipped, stale=run.stale,
                      documents=run.documents)
    for unit, row, doc in zip(units, run.rows, run.documents):
        point = {k: v for k, v in unit.items() if k != "source.name" or records is None}
        result.units.append({"point": point_id(point) if point else "base",
                             "record": unit.get("source.name", cfg["source"]["name"]),
                             **{k: v for k, v in row.items() if k != "source.name"}, **_counts(doc)})
    for p in points:
        pid = point_id(p) if p else "base"
        result.summary.append({"point": pid, **p, **aggregate([u for u in result.units if u["point"] == pid])})
    return result


def _counts(doc: dict) -> dict:
    """QRS counts of the recovered tap, first channel."""
    recovered = next(iter(doc["channels"].values()))["recovered"]
    return {k: recovered[f"qrs_{k}"] for k in ("tp", "fn", "fp")}


def aggregate(units: list[dict]) -> dict:
    """Gross and average QRS Se/+P over the records, and the distributions of the front-end figures.

    Notes
    -----
    As PhysioNet's ``sumstats``: gross Se = sum TP / sum (TP + FN) and gross
    +P = sum TP / sum (TP + FP) over the records; average Se and +P are the
    means of the per-record ratios (records without beats left out). For
    each metric of :data:`DISTRIBUTED`: the median, the 90th percentile (of
    the bad tail) and the worst value with its record; records where the
    metric is null (clipped, below the floor) are left out of it and counted.
    """
    tp, fn, fp = (sum(u[k] or 0 for u in units) for k in ("tp", "fn", "fp"))
    se = [u["tp"] / (u["tp"] + u["fn"]) for u in units if u["tp"] is not None and u["tp"] + u["fn"]]
    ppv = [u["tp"] / (u["tp"] + u["fp"]) for u in units if u["tp"] is not None and u["tp"] + u["fp"]]
    out = {"records": len(units), "qrs_tp": tp, "qrs_fn": fn, "qrs_fp": fp,
           "gross_se": tp / (tp + fn) if tp + fn else None, "gross_ppv": tp / (tp + fp) if tp + fp else None,
           "average_se": float(np.mean(se)) if se else None, "average_ppv": float(np.mean(ppv)) if ppv else None}
    for tap, metric, worst in DISTRIBUTED:
        key = f"{tap}.{metric}"
        rows = [(u[key], u["record"]) for u in units if isinstance(u.get(key), (int, float))]
        out[f"{key}.null_records"] = len(units) - len(rows)
        if not rows:
            continue
        values = np.array([v for v, _ in rows], dtype=float)
        pick = max if worst == "max" else min
        value, record = pick(rows, key=lambda r: r[0])
        out[f"{key}.median"] = float(np.median(values))
        out[f"{key}.p90"] = float(np.percentile(values, 90 if worst == "max" else 10))
        out[f"{key}.worst"], out[f"{key}.worst_record"] = float(value), record
    return out
