"""The public Python API: the same operations as the command line, on the same configuration.

Every function takes the keys of the TOML configuration either as a nested
dict (``config={"mains": {"frequency_hz": 50}}``), as a TOML file
(``config="chain.toml"``), as ``section__key=value`` keyword arguments
(``mains__frequency_hz=50``, ``digital__0__corner_hz=0.5``) or as ``--set``
strings (``sets=["amplifier.cmrr_db=90"]``); they are resolved by
:func:`acquire.config.resolve_config` exactly as the CLI resolves them, in
that order (defaults, ``config``, ``sets``, keyword arguments). Results are
objects with ``.metrics``, ``.plot()`` and ``.save(out_dir)``
(:mod:`acquire.results`).

Heavy modules are imported inside the functions, so ``import acquire``
stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Progress = Callable[[int, int], None]


def _values(source, preset, keys: dict) -> dict:
    """Typed ``{"section.key": value}`` overrides from the shortcut arguments and ``section__key`` keywords."""
    values = {"source.name": source, "amplifier.preset": preset}
    values = {k: v for k, v in values.items() if v is not None}
    for name, value in keys.items():
        if "__" not in name:
            raise TypeError(f"unexpected keyword argument {name!r}; configuration keys are written "
                            f"section__key (e.g. amplifier__cmrr_db=90).")
        values[name.replace("__", ".")] = value
    return values


def load_config(config=None, *, source: str | None = None, preset: str | None = None,
                sets: Sequence[str] = (), **keys) -> dict:
    """The effective configuration of a run, as the CLI's ``config show`` prints it.

    Parameters
    ----------
    config : path, dict or None
        A TOML file or a nested dict of sections, merged over the defaults.
    source : str, optional
        ``"synthetic"``, a PhysioNet name (``"mitdb/100"``) or a WFDB path.
    preset : str, optional
        Amplifier preset (``acquire.presets()`` lists them).
    sets : sequence of str
        ``"section.key=value"`` overrides, as ``--set``.
    **keys
        ``section__key=value`` overrides, applied last.

    Returns
    -------
    dict
        The checked configuration.

    Examples
    --------
    >>> import acquire
    >>> cfg = acquire.load_config(preset="ad8232", mains__frequency_hz=50)
    >>> cfg["amplifier"], cfg["digital"][1]["f0_hz"]
    ({'preset': 'ad8232'}, 50.0)
    """
    from acquire.config import resolve_config

    return resolve_config(config, sets=sets, values=_values(source, preset, keys))


def simulate(source: str | None = None, preset: str | None = None, *, config=None,
             sets: Sequence[str] = (), progress: Progress | None = None, out=None, overwrite: bool = False,
             run=None, inputs: dict | None = None, **keys):
    """Simulate a front end on a record and measure how faithfully the ECG was recovered.

    Parameters
    ----------
    source, preset, config, sets, **keys
        The configuration, as in :func:`load_config`.
    progress : callable(done, total), optional
        Called as source samples are processed.
    out : path, optional
        Stream the run into this output directory (``save``'s files) in
        memory bounded by the chunk, whatever the record's length
        (:func:`acquire.output.writers.stream_simulation`); the result then
        holds the metrics, figures and detections but not the outputs'
        samples (they are the directory's WFDB records). Without ``out`` the
        outputs are kept in memory, for records up to
        :data:`acquire.evaluation.evaluate.MAX_IN_MEMORY_S`.
    overwrite, run, inputs
        With ``out``: as in :meth:`~acquire.results.SimulationResult.save`.

    Returns
    -------
    acquire.results.SimulationResult
        ``.metrics`` is the ``ecgfe.metrics/1`` document (README, "The
        metrics document"); ``.plot()`` returns the figures; ``.save(dir)``
        writes the output directory.

    Examples
    --------
    >>> import acquire
    >>> sim = acquire.simulate(preset="ina128", source__duration_s=10)
    >>> round(sim.metrics["mains_hz"])
    60
    """
    from acquire.evaluation.evaluate import check_duration
    from acquire.evaluation.evaluate import simulate as run_simulation
    from acquire.results import SimulationResult
    from acquire.sources.loader import load_configured

    cfg = load_config(config, source=source, preset=preset, sets=sets, **keys)
    if cfg["source"]["name"] == "synthetic":  # refused before generating; a record's window is checked first
        check_duration(cfg["source"].get("duration_s"), streamed=out is not None)
    if out is not None:
        from acquire.output.writers import stream_simulation

        sim = stream_simulation(cfg, out, overwrite=overwrite, run=run, inputs=inputs, progress=progress)
        return SimulationResult(sim, cfg, saved_dir=out)
    recording = load_configured(cfg["source"])
    return SimulationResult(run_simulation(cfg, recording, progress=progress), cfg)


def compare(presets: Sequence[str], source: str | None = None, *, config=None, sets: Sequence[str] = (),
            progress: Callable[[str, int, int], Progress | None] | None = None, **keys):
    """Run one scenario through several amplifier presets on the same source.

    Parameters
    ----------
    presets : sequence of str
        Two or more preset names.
    source, config, sets, **keys
        The shared scenario, as in :func:`load_config` (``amplifier`` keys
        other than the preset are not allowed: each preset is used as it is).
    progress : callable(name, index, total) -> progress callback, optional
        Called before each preset; returns the callback for that run.

    Returns
    -------
    acquire.results.ComparisonResult

    Examples
    --------
    >>> import acquire
    >>> cmp = acquire.compare(["ad8232", "ina128"], source__duration_s=10)
    >>> [row["preset"] for row in cmp.rows]
    ['ad8232', 'ina128']
    """
    import copy

    from acquire.evaluation.evaluate import simulate as run_simulation
    from acquire.results import ComparisonResult
    from acquire.sources.loader import load_configured
    from frontend_models.presets import resolve_model

    presets = list(presets)
    if len(presets) < 2:
        raise ValueError(f"compare needs at least two presets; got {presets!r}.")
    base = load_config(config, source=source, sets=sets, **keys)
    for name in presets:  # fail on a typo before any work
        resolve_model({"preset": name})
    recording = load_configured(base["source"])
    sims, configs = {}, {}
    for i, name in enumerate(presets):
        cfg = copy.deepcopy(base)
        cfg["amplifier"] = {"preset": name}
        configs[name] = cfg
        sims[name] = run_simulation(cfg, recording,
                                    progress=progress(name, i, len(presets)) if progress else None)
    return ComparisonResult(sims, configs, base)


def _varies(vary) -> list:
    """``(key, values)`` pairs from ``--vary`` strings or pairs."""
    from acquire.studies.grid import parse_vary

    return [parse_vary(v) if isinstance(v, str) else (v[0], list(v[1])) for v in vary]


def sweep(vary: Sequence, source: str | None = None, *, out, jobs: int = 1, records: str | None = None,
          scheduler: str = "local", max_points: int | None = None, config=None, sets: Sequence[str] = (),
          progress: Progress | None = None, **keys):
    """Run the scenario at every point of a parameter grid (resumable; points are files in ``out``).

    Parameters
    ----------
    vary : sequence of str or (key, values)
        ``"KEY=START:STOP:STEP"`` or ``"KEY=v1,v2,..."`` strings (as
        ``--vary``) or ``(key, values)`` pairs; the points are their
        Cartesian product.
    out : path
        Output directory; finished points found there are not rerun.
    jobs : int
        Worker processes (results do not depend on it).
    records : str, optional
        Run every point on every record of a set instead of on ``source``
        (as :func:`batch`, which this then is: a :class:`~acquire.results.BatchResult`).
    scheduler : str
        ``"local"`` (``jobs`` processes here) or a Dask scheduler address
        ``"tcp://HOST:PORT"`` (same results, bit for bit).
    max_points : int, optional
        Most points (or units) accepted; default 100,000.
    source, config, sets, **keys
        The base scenario, as in :func:`load_config`.

    Returns
    -------
    acquire.results.SweepResult
        (an :class:`acquire.results.BatchResult` with ``records``).

    Examples
    --------
    >>> import acquire, tempfile
    >>> sw = acquire.sweep(["amplifier.cmrr_db=80,100"], out=tempfile.mkdtemp(), source__duration_s=10)
    >>> [row["amplifier.cmrr_db"] for row in sw.rows]
    [80, 100]
    """
    from acquire.results import SweepResult
    from acquire.studies.grid import MAX_POINTS
    from acquire.studies.sweep import run_sweep

    if not vary:
        raise ValueError("a sweep needs at least one varied key, e.g. 'amplifier.cmrr_db=60:140:10'.")
    if records is not None:
        if source is not None:
            raise ValueError(f"give a source ({source}) or --records, not both.")
        return batch(records, vary, out=out, jobs=jobs, scheduler=scheduler, max_points=max_points, config=config,
                     sets=sets, progress=progress, **keys)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1; got {jobs}.")
    varies = _varies(vary)
    cfg = load_config(config, source=source, sets=sets, **keys)
    return SweepResult(run_sweep(cfg, varies, out, jobs=jobs, progress=progress, scheduler=scheduler,
                                 max_points=MAX_POINTS if max_points is None else max_points), cfg)


def batch(records: str, vary: Sequence = (), *, out, jobs: int = 1, scheduler: str = "local",
          max_points: int | None = None, config=None, sets: Sequence[str] = (),
          progress: Progress | None = None, **keys):
    """Run the design (or every point of a grid) on every record of a set; aggregate like ``sumstats``.

    Parameters
    ----------
    records : str
        ``"mitdb"`` (every record of its RECORDS list), ``"mitdb:local"`` (the downloaded
        ones), ``"mitdb/100,mitdb/101"`` or a file of names.
    vary : sequence
        Optional grid, as in :func:`sweep`; empty runs the one configured design.
    out : path
        Where the (point, record) units go (resumable).
    jobs, scheduler, max_points, config, sets, progress, **keys
        As in :func:`sweep` (progress and ``max_points`` count (point, record) units).

    Returns
    -------
    acquire.results.BatchResult
        ``.rows``: per point, gross and average QRS Se/+P and the median, p90 and worst record of
        residual mains, effective CMRR and SNR.

    Examples
    --------
    >>> import acquire, tempfile
    >>> b = acquire.batch("mitdb/100,mitdb/101", out=tempfile.mkdtemp(),
    ...                   source__duration_s=10) # doctest: +SKIP
    >>> b.rows[0]["records"] # doctest: +SKIP
    2
    """
    from acquire.results import BatchResult
    from acquire.studies.batch import parse_records, run_batch
    from acquire.studies.grid import MAX_POINTS, sweep_points

    max_points = MAX_POINTS if max_points is None else max_points
    names = parse_records(records)
    varies = _varies(vary)
    cfg = load_config(config, sets=sets, **keys)
    points = sweep_points(varies, max_points) if varies else None
    return BatchResult(run_batch(cfg, names, points, out, jobs=jobs, progress=progress, scheduler=scheduler,
                                 max_points=max_points), cfg)


def montecarlo(source: str | None = None, presets: Sequence[str] | None = None, *, draws: int = 1000,
               vary_dist: Sequence[str] = (), seed: int | None = None, simulate: int = 0,
               limit_uv_pp: float | None = None, out=None, jobs: int = 1, records: str | None = None,
               scheduler: str = "local", max_points: int | None = None, config=None, sets: Sequence[str] = (),
               progress: Progress | None = None, **keys):
    """Monte Carlo tolerance analysis: percentiles and yield of the residual mains over drawn tolerances.

    Parameters
    ----------
    source, config, sets, **keys
        The base scenario, as in :func:`load_config`.
    presets : sequence of str, optional
        Parts compared on the same draws (default: the configured amplifier).
    draws : int
        Number of draws (each evaluated analytically: thousands per second).
    vary_dist : sequence of str
        ``"KEY=DIST(args)"``: ``lognormal(s)``, ``normal(sd)``, ``tolerance(t)``,
        ``uniform(lo, hi)``, ``choice(a, b, ...)``
        (:func:`acquire.studies.montecarlo.parse_distribution`). The CMRR phase
        (uniform 0-360 degrees) and the imbalance lead (either) vary by default.
    seed : int, optional
        One seed for every draw (default ``run.seed``).
    simulate : int
        How many draws (the first) to also simulate in the time domain
        (needs ``out``); their residual must agree with the analytic one.
    limit_uv_pp : float, optional
        Yield limit, µV p-p input-referred; default the standards' 1 mV p-p
        at 10 V rms scaled to the configured common mode.
    out : path, optional
        Where the time-domain subset's points go (resumable).
    jobs, scheduler, max_points
        The time-domain subset's engine, as in :func:`sweep`.
    records : str, optional
        As in :func:`batch`: the time-domain draws run on each of these
        records (one row per draw and record) instead of on ``source``. The
        analytic draws do not depend on the record and are computed once.

    Returns
    -------
    acquire.results.MonteCarloResult
        ``.rows`` (yield and percentiles per preset), ``.metrics``, ``.plot()``, ``.save(dir)``.

    Examples
    --------
    >>> import acquire
    >>> mc = acquire.montecarlo(presets=["ina128", "ads1298"], draws=2000,
    ...                         vary_dist=["electrodes.imbalance=lognormal(0.5)"], seed=1)
    >>> [row["preset"] for row in mc.rows], 0 <= mc.yields["ina128"] <= 1
    (['ina128', 'ads1298'], True)
    """
    from acquire.results import MonteCarloResult
    from acquire.studies.batch import parse_records
    from acquire.studies.grid import MAX_POINTS
    from acquire.studies.montecarlo import parse_distribution, run_montecarlo, with_defaults

    distributions = [parse_distribution(s) for s in vary_dist]
    if records is not None and source is not None:
        raise ValueError(f"give a source ({source}) or --records, not both.")
    names = None if records is None else parse_records(records)
    cfg = load_config(config, source=source, sets=sets, **keys)
    seed = int(cfg["run"]["seed"]) if seed is None else seed
    run = run_montecarlo(cfg, presets, distributions, draws, seed=seed, simulate=simulate,
                         limit_uv_pp=limit_uv_pp, out_dir=out, records=names, jobs=jobs, progress=progress,
                         scheduler=scheduler, max_points=MAX_POINTS if max_points is None else max_points)
    return MonteCarloResult(run, cfg, with_defaults(distributions))


def comply(preset: str | None = None, standard: str = "iec60601-2-27", *, config=None,
           sets: Sequence[str] = (), duration_scale: float = 1.0, progress: Progress | None = None,
           **keys):
    """Run a standard's front-end bench tests on the modelled device.

    Parameters
    ----------
    preset, config, sets, **keys
        The device, as in :func:`load_config`.
    standard : str or path
        ``"iec60601-2-27"``, ``"iec60601-2-25"``, ``"aami-ec11"``,
        ``"aami-ec13"`` or a limits TOML file.
    duration_scale : float
        Multiplies the 60 s CMR window (e.g. 0.1 for a quick check).

    Returns
    -------
    acquire.compliance_results.ComplianceResult
        ``.passed``, ``.exit_code`` (0 pass, 3 fail), ``.rows``.

    Examples
    --------
    >>> import acquire
    >>> bench = acquire.comply("ads1298", "aami-ec13", duration_scale=0.1)
    >>> bench.exit_code in (0, 3)
    True
    """
    from acquire.compliance_results import ComplianceResult
    from acquire.studies.compliance.procedures import run_compliance
    from acquire.studies.compliance.standards import load_standard

    profile = load_standard(standard)  # a typo fails before any work
    cfg = load_config(config, preset=preset, sets=sets, **keys)
    return ComplianceResult(run_compliance(cfg, profile, progress=progress, duration_scale=duration_scale))


def compliance_matrix(presets: Sequence[str] | None = None, standards: Sequence[str] | None = None, *,
                      config=None, sets: Sequence[str] = (), duration_scale: float | None = None,
                      progress: Progress | None = None, **keys):
    """Every preset against every standard profile (default: all of both), on one base configuration.

    Returns
    -------
    acquire.compliance_results.ComplianceMatrix
        ``.rows``: one row per preset with the verdict per profile.

    Examples
    --------
    >>> import acquire.api
    >>> m = acquire.api.compliance_matrix(["ads1298"], ["aami-ec13"])
    >>> m.rows[0]["preset"]
    'ads1298'
    """
    from acquire.compliance_results import ComplianceMatrix
    from acquire.studies.compliance.report import MATRIX_DURATION_SCALE, preset_compliance_matrix

    cfg = load_config(config, sets=sets, **keys)
    scale = MATRIX_DURATION_SCALE if duration_scale is None else duration_scale
    return ComplianceMatrix(preset_compliance_matrix(presets, standards, cfg=cfg, duration_scale=scale,
                                                     progress=progress))


def validate_config(config) -> dict:
    """Check a configuration (file or dict): keys, values, and that the chain builds; return it resolved.

    Examples
    --------
    >>> import acquire.api
    >>> acquire.api.validate_config({"amplifier": {"preset": "ad620"}})["amplifier"]
    {'preset': 'ad620'}
    """
    from acquire.frontend import build_frontend

    cfg = load_config(config)
    build_frontend(cfg, 360.0, 1)
    return cfg


def presets() -> list[dict]:
    """Key figures of every built-in amplifier preset, with the sources of their numbers.

    Returns
    -------
    list of dict
        One row per preset: ``name``, ``kind``, ``gain_v_per_v``,
        ``cmrr_db_at_60_hz``, ``bandwidth_hz``, ``noise_v_per_rthz``,
        ``adc_noise_v_rms``, ``description``, ``cmrr_source``.

    Examples
    --------
    >>> import acquire
    >>> "ad8232" in [row["name"] for row in acquire.presets()]
    True
    """
    from frontend_models.presets import preset_table

    return preset_table()
