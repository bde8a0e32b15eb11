"""Parameter sweeps: run the configured simulation over a grid of config values.

A sweep varies one or more config keys (``--vary KEY=START:STOP:STEP`` or
``KEY=v1,v2,...``, :mod:`acquire.studies.grid`) over their Cartesian product, runs
:func:`acquire.evaluate.simulate` at every point, in a process pool or on a Dask
cluster if asked (:mod:`acquire.studies.scheduler`), and writes:

- ``points/<id>.json``, one per point as it finishes: its overrides, its
  full configuration, the scalar metrics of the first channel flattened as
  ``tap.metric`` (``acquired.residual_mains_uv_rms``) and the full metrics
  document. A rerun into the same directory skips every point whose file is
  complete and was made by the same tool version from the same configuration
  (others are recomputed, and the reason logged), so a sweep interrupted by a
  crash, SIGINT or SIGTERM resumes where it stopped.
- ``sweep.json`` and ``sweep.csv``: one row per point, the varied keys then
  :data:`SUMMARY_METRICS` at both taps.
- figures (PNG, SVG and PDF): residual mains and SNR at each tap against the
  first numeric varied key, one curve per combination of the other keys'
  values (grouped bars when no key is numeric), with the standards' 1 mV p-p
  limit scaled to the common mode when every point has the same one; QRS Se
  and +P at the recovered tap.

Each worker keeps the last source it opened: a record of up to
:data:`CACHE_MAX_SAMPLES` samples (all channels) is loaded once, at its own
rate, and reused by the following points; a longer one (a 24-hour Holter
record) is read from its files, streamed, at every point. Every point runs
:func:`acquire.evaluate.simulate` with ``keep=False`` on it, so its metrics
are exactly those of ``simulate()`` on the point's configuration, and a
worker's memory is bounded by the chunk (plus the cached short record),
whatever the records' length.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from acquire.output.figures.sweep import figure_options, sweep_figures
from acquire.output.files import DirectoryLock, atomic_write
from acquire.output import figures as viz
from acquire._version import __version__
from acquire.config import check_keys, set_value
from acquire.evaluation.evaluate import open_source, simulate
from acquire.frontend import build_frontend
from acquire.sources.recording import Recording
from acquire.runner import TAPS
from acquire.sources.loader import load_configured
from acquire.studies.grid import MAX_POINTS, check_count, parse_vary, sweep_points  # noqa: F401 (parse_vary: acquire.design)
from acquire.studies.scheduler import LOCAL, connect, execute, interruptible

log = logging.getLogger(__name__)

SCHEMA = "ecgfe.sweep/1"
#: A worker keeps a record loaded between points up to this many samples (all channels; 64 MB of
#: float64: a 30-min 2-lead MIT-BIH record is 1.3 M); a longer one is streamed from its files.
CACHE_MAX_SAMPLES = 8_000_000
#: Metrics written to sweep.csv / sweep.json, at each tap that reports them (``tap.metric`` columns).
SUMMARY_METRICS = ("residual_mains_uv_rms", "snr_out_db", "cmrr_effective_db", "mains_rejection_db", "qrs_sensitivity",
                   "qrs_ppv", "qrs_f1", "prd_percent")
def point_id(overrides: dict) -> str:
    """Stable 12-hex-digit id of a point: a hash of its sorted ``key=value`` pairs.

    Numbers are hashed as floats, so ``60`` and ``60.0`` name the same point,
    and the order of the keys does not matter.
    """
    def norm(v):
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    text = json.dumps(sorted((k, norm(v)) for k, v in overrides.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def point_config(cfg: dict, overrides: dict) -> dict:
    """A copy of ``cfg`` with one point's overrides applied and the key names checked.

    Overrides go through :func:`acquire.config.set_value`, so they follow
    ``--set`` rules: ``amplifier.preset`` or ``amplifier.file`` (applied
    first) replaces the whole ``[amplifier]`` table.

    Raises
    ------
    ConfigError
        Unknown section or key, with "did you mean".
    """
    out = copy.deepcopy(cfg)
    first = sorted(overrides, key=lambda k: k not in ("amplifier.preset", "amplifier.file"))
    for key in first:
        set_value(out, key, overrides[key])
    check_keys(out)
    return out


def flat_metrics(doc: dict) -> dict:
    """Scalar metrics of the first channel, keyed ``tap.metric``."""
    first = next(iter(doc["channels"].values()))
    return {f"{tap}.{name}": value for tap in TAPS for name, value in first[tap].items()
            if value is None or isinstance(value, (int, float, str))}


def source_key(cfg: dict) -> str:
    """What decides the source: the ``[source]`` table."""
    return json.dumps(cfg["source"], sort_keys=True)


class PointRunner:
    """Runs sweep points, keeping the last source opened (see the module docstring).

    Parameters
    ----------
    recording : Recording or None
        A fixed source; None opens ``cfg["source"]`` of each point.
    """

    def __init__(self, recording: Recording | None = None):
        self.recording = recording
        self.cache_key_ = None
        self.source_ = None

    def source(self, cfg: dict):
        """The point's source: the fixed recording, the loaded short record, or a long one streamed.

        Opened again only when the ``[source]`` table changes; opening a
        record reads its header and annotations, not its samples, so the
        choice costs nothing for a long record.
        """
        if self.recording is not None:
            return self.recording
        key = source_key(cfg)
        if key != self.cache_key_:
            _, stream = open_source(cfg, stream=True)
            small = stream.n_samples * len(stream.channel_names) <= CACHE_MAX_SAMPLES
            self.source_ = load_configured(cfg["source"]) if small else stream
            self.cache_key_ = key
        return self.source_

    def run(self, cfg: dict, overrides: dict) -> dict:
        """Simulate one point; return its point document (see the module docstring)."""
        doc = simulate(cfg, self.source(cfg), keep=False).metrics
        return {"id": point_id(overrides), "overrides": overrides, "config": cfg,
                "channel": next(iter(doc["channels"])), "metrics": flat_metrics(doc), "document": doc}


#: Each worker thread's :class:`PointRunner` (a pool process, a Dask worker thread, or this process).
_LOCAL = threading.local()


def _init_worker(recording=None) -> None:
    """Initializer: a fresh :class:`PointRunner` for this thread."""
    _LOCAL.runner = PointRunner(recording)


def run_unit(cfg: dict, overrides: dict) -> dict:
    """Simulate one point with this thread's :class:`PointRunner` (made on first use: Dask workers)."""
    if getattr(_LOCAL, "runner", None) is None:
        _LOCAL.runner = PointRunner()
    return _LOCAL.runner.run(cfg, overrides)


@dataclass
class SweepRun:
    """What a sweep wrote.

    Attributes
    ----------
    out_dir : Path
    keys : list of str
        The varied keys, in ``--vary`` order.
    rows : list of dict
        One per point, in sweep order: ``id``, the varied keys, then
        ``tap.metric`` for :data:`SUMMARY_METRICS` (first channel).
    computed, skipped : list of str
        Ids of the points run now and of those found finished.
    stale : dict
        Id -> why a point file found there was not reused (another tool version or configuration).
    files : list of Path
        ``sweep.json``, ``sweep.csv`` and the figures.
    documents : list of dict
        The full metrics document of each point, in row order.
    channel : str or None
        The channel the rows summarise (the first).
    """

    out_dir: Path
    keys: list
    rows: list
    computed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    stale: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    documents: list = field(default_factory=list)
    channel: str | None = None


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def read_point(path: Path, cfg: dict) -> tuple[dict | None, str | None]:
    """The point document at ``path`` if it is complete and was made by this tool version from ``cfg``.

    Returns ``(document, None)`` when it can be reused, else ``(None, reason)``:
    reason None when there is no complete file, or a sentence naming the
    tool version or the configuration that differs.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    if not (isinstance(doc, dict) and doc.get("id") == path.stem and isinstance(doc.get("metrics"), dict)
            and isinstance(doc.get("document"), dict)):
        return None, None
    version = doc["document"].get("tool_version")
    if version != __version__:
        return None, f"written by ecgfe {version} (this is {__version__})"
    if doc.get("config") != json.loads(json.dumps(cfg)):
        return None, "written from another configuration"
    return doc, None


def run_sweep(cfg: dict, varies, out_dir, *, jobs: int = 1, progress=None, recording: Recording | None = None,
              scheduler: str = LOCAL, max_points: int = MAX_POINTS) -> SweepRun:
    """Run ``cfg`` at every point of the sweep and write the results to ``out_dir``.

    Parameters
    ----------
    cfg : dict
        Base configuration (:func:`acquire.config.load_config`).
    varies : list of (key, values)
        From :func:`parse_vary`, one per varied key; points are their
        Cartesian product (:func:`sweep_points`).
    out_dir : path
        Created if needed. Finished points already there are not rerun.
    jobs : int
        Worker processes; 1 runs in this process. Results do not depend on it.
    progress : callable(done, total), optional
        Called after each point finishes; ``done`` counts skipped points too.
    recording : Recording, optional
        A fixed source instead of ``cfg["source"]`` (then no ``source.*`` key
        may be varied; local scheduler only).
    scheduler : str
        ``"local"`` or a Dask scheduler address (:mod:`acquire.studies.scheduler`).
    max_points : int
        Most points accepted (:data:`MAX_POINTS`).

    Returns
    -------
    SweepRun

    Raises
    ------
    ValueError
        A malformed sweep, an unknown key, or any invalid value at any
        point (naming the point), before any simulation runs.
    SchedulerUnreachable
        No Dask scheduler at ``scheduler`` (before anything is written).
    Interrupted
        SIGINT or SIGTERM: the finished points stay in ``out_dir`` to resume from.
    """
    varies = list(varies)
    points = sweep_points(varies, max_points)
    keys = [k for k, _ in varies]
    out_dir = Path(out_dir)
    result = run_points(cfg, points, out_dir, jobs=jobs, progress=progress, recording=recording,
                        scheduler=scheduler, max_points=max_points)  # checks, then locks
    result.keys = keys
    with DirectoryLock(out_dir):
        summary = {"schema": SCHEMA, "varied": dict(varies), "channel": result.channel, "points": result.rows}
        result.files = [atomic_write(out_dir / "sweep.json", _json_bytes(summary)),
                        atomic_write(out_dir / "sweep.csv", csv_bytes(result.rows)),
                        *(path for stem, fig in sweep_figures(
                            result.rows, keys, **figure_options(result.documents, keys, result.channel)).items()
                          for path in viz.save_figure(fig, out_dir / stem))]
    return result


def run_points(cfg: dict, points: list[dict], out_dir, *, jobs: int = 1, progress=None,
               recording: Recording | None = None, scheduler: str = LOCAL,
               max_points: int = MAX_POINTS) -> SweepRun:
    """The engine of sweeps, batches and Monte Carlo subsets: simulate ``cfg`` with each point's overrides.

    Parameters
    ----------
    cfg : dict
        Base configuration.
    points : list of dict
        ``{"section.key": value}`` overrides, one dict per point (all with the same keys).
    out_dir : path
        ``points/<id>.json`` per finished point; those already there (same
        tool version and configuration, :func:`read_point`) are not rerun,
        others are rerun and the reason logged.
    jobs, progress, recording, scheduler, max_points
        As in :func:`run_sweep`.

    Returns
    -------
    SweepRun
        ``rows`` in the order of ``points``; ``files`` empty (the caller writes its summaries).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1; got {jobs!r}.")
    check_count(len(points), max_points)
    keys = list(points[0]) if points else []
    if recording is not None and any(k.startswith("source.") for k in keys):
        raise ValueError(f"cannot vary source keys ({', '.join(k for k in keys if k.startswith('source.'))}) "
                         "with a fixed recording.")
    if recording is not None and scheduler != LOCAL:
        raise ValueError("a fixed recording is not shipped to a Dask cluster; name the source in the "
                         "configuration (source.name) or use --scheduler local.")
    configs = [point_config(cfg, p) for p in points]
    for c, p in zip(configs, points):
        try:
            build_frontend(c, float(c["run"]["fs_sim_hz"]), 1)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"sweep point {p}: {exc}") from None
    out_dir = Path(out_dir)
    with connect(scheduler) as client:  # an unreachable scheduler fails before anything is written
        (out_dir / "points").mkdir(parents=True, exist_ok=True)
        ids = [point_id(p) for p in points]
        found = {i: read_point(out_dir / "points" / f"{i}.json", c) for i, c in zip(ids, configs)}
        docs = {i: doc for i, (doc, _) in found.items()}
        result = SweepRun(out_dir, keys, [], skipped=[i for i in ids if docs[i] is not None],
                          stale={i: why for i, (_, why) in found.items() if why})
        for why in sorted(set(result.stale.values())):
            log.warning("%d point file(s) in %s were %s; recomputing them", list(result.stale.values()).count(why),
                        out_dir / "points", why)
        todo = [(c, p) for i, c, p in zip(ids, configs, points) if docs[i] is None]
        # Points sharing a source run back to back, so each worker's cached source is reused.
        todo.sort(key=lambda t: source_key(t[0]))
        log.info("sweep: %d points, %d already done", len(points), len(result.skipped))

        def finished(doc):
            atomic_write(out_dir / "points" / f"{doc['id']}.json", _json_bytes(doc))
            docs[doc["id"]] = doc
            result.computed.append(doc["id"])
            if progress is not None:
                progress(len(result.skipped) + len(result.computed), len(points))

        with DirectoryLock(out_dir), interruptible():  # a second run into the directory exits naming the holder
            try:
                execute(run_unit, todo, finished, jobs=jobs, client=client,
                        initializer=None if client else _init_worker, initargs=(recording,))
            finally:
                _LOCAL.runner = None  # this process's cached source, when it ran points itself
    result.rows = [{"id": i, **p, **{f"{tap}.{m}": docs[i]["metrics"][f"{tap}.{m}"]
                                     for tap in TAPS for m in SUMMARY_METRICS if f"{tap}.{m}" in docs[i]["metrics"]}}
                   for i, p in zip(ids, points)]
    result.documents = [docs[i]["document"] for i in ids]
    result.channel = docs[ids[0]]["channel"] if ids else None
    return result


def csv_bytes(rows: list[dict]) -> bytes:
    """Rows as CSV (header from the first row; None as an empty cell)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return buf.getvalue().encode()
