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
             sets: Sequence[str] = (), progress: Progress | None = None, **keys):
    """Simulate a front end on a record and measure how faithfully the ECG was recovered.

    Parameters
    ----------
    source, preset, config, sets, **keys
        The configuration, as in :func:`load_config`.
    progress : callable(done, total), optional
        Called as source samples are processed.

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
    from acquire.evaluation.evaluate import simulate as run_simulation
    from acquire.results import SimulationResult
    from acquire.sources.loader import load_configured

    cfg = load_config(config, source=source, preset=preset, sets=sets, **keys)
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


def sweep(vary: Sequence, source: str | None = None, *, out, jobs: int = 1, config=None,
          sets: Sequence[str] = (), progress: Progress | None = None, **keys):
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
    source, config, sets, **keys
        The base scenario, as in :func:`load_config`.

    Returns
    -------
    acquire.results.SweepResult

    Examples
    --------
    >>> import acquire, tempfile
    >>> sw = acquire.sweep(["amplifier.cmrr_db=80,100"], out=tempfile.mkdtemp(), source__duration_s=10)
    >>> [row["amplifier.cmrr_db"] for row in sw.rows]
    [80, 100]
    """
    from acquire.results import SweepResult
    from acquire.studies.sweep import parse_vary, run_sweep

    if not vary:
        raise ValueError("a sweep needs at least one varied key, e.g. 'amplifier.cmrr_db=60:140:10'.")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1; got {jobs}.")
    varies = [parse_vary(v) if isinstance(v, str) else (v[0], list(v[1])) for v in vary]
    cfg = load_config(config, source=source, sets=sets, **keys)
    return SweepResult(run_sweep(cfg, varies, out, jobs=jobs, progress=progress), cfg)


def montecarlo(source: str | None = None, presets: Sequence[str] | None = None, *, draws: int = 1000,
               vary_dist: Sequence[str] = (), seed: int | None = None, simulate: int = 0,
               limit_uv_pp: float | None = None, out=None, jobs: int = 1, config=None, sets: Sequence[str] = (),
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
    jobs : int
        Worker processes for the time-domain subset.

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
    from acquire.studies.montecarlo import parse_distribution, run_montecarlo, with_defaults

    distributions = [parse_distribution(s) for s in vary_dist]
    cfg = load_config(config, source=source, sets=sets, **keys)
    seed = int(cfg["run"]["seed"]) if seed is None else seed
    run = run_montecarlo(cfg, presets, distributions, draws, seed=seed, simulate=simulate,
                         limit_uv_pp=limit_uv_pp, out_dir=out, jobs=jobs, progress=progress)
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
    acquire.results.ComplianceResult
        ``.passed``, ``.exit_code`` (0 pass, 3 fail), ``.rows``.

    Examples
    --------
    >>> import acquire
    >>> bench = acquire.comply("ads1298", "aami-ec13", duration_scale=0.1)
    >>> bench.exit_code in (0, 3)
    True
    """
    from acquire.results import ComplianceResult
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
    acquire.results.ComplianceMatrix
        ``.rows``: one row per preset with the verdict per profile.

    Examples
    --------
    >>> import acquire.api
    >>> m = acquire.api.compliance_matrix(["ads1298"], ["aami-ec13"])
    >>> m.rows[0]["preset"]
    'ads1298'
    """
    from acquire.results import ComplianceMatrix
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


def design_diffpair(design=None, *, load: str | None = None, polarity: str = "worst", sweep=None, out=None,
                    **inputs) -> dict:
    """Design a MOS differential pair (``ecgfe design diffpair``): gain, CMRR, bandwidth; loads side by side; sweeps.

    The maths is :func:`frontend_models.diffpair.design` (exact nodal solution).

    Parameters
    ----------
    design : path, str or dict, optional
        A TOML file, a TOML inline table (``"{gm_s = 1e-3, ro_n_ohm = 1e5}"``)
        or a dict with the keys of :func:`frontend_models.diffpair.load_design`.
    load : {"resistive", "active", "cascode", "all"}, optional
        Default: the design's ``load``, else ``"all"``, the three side by side
        (``r_d_ohm`` and ``r_d_mismatch_fraction`` then apply to the resistive
        load, ``mirror_mismatch_fraction`` to the other two).
    polarity : {"worst", "best", "given"}
        How the mismatch signs are taken (:func:`frontend_models.diffpair.design`).
    sweep : str or (key, values), optional
        One input to vary: ``"KEY=START:STOP:N"`` (N points, a plain integer;
        geometric when START and STOP are positive and a decade or more
        apart, else even), ``"KEY=START:STOP:STEP"`` (a STEP has a decimal
        point or an exponent; STOP included when on the grid) or
        ``"KEY=v1,v2,..."``, e.g. ``"l_m=0.18e-6,0.5e-6,1e-6,2e-6"``.
    out : path, optional
        Directory for ``design_diffpair.json`` (the returned document) and,
        with a sweep, the figure ``design_sweep.png``/``.svg``: gain and
        bandwidth against the swept input with the GBW line.
    **inputs
        Design keys (``gm_s``, ``r_tail_ohm``, ``gm_mismatch_fraction``, the
        device-level ``id_a``, ``l_m``, ...) added to, or replacing, those of
        ``design``; None means not given.

    Returns
    -------
    dict
        The ``ecgfe.design.diffpair/1`` document, strict JSON: ``load``,
        ``loads``, ``polarity``, ``inputs`` (the merged design keys),
        ``sweep`` (``{"key", "values"}`` or None), ``rows`` (one
        :func:`frontend_models.diffpair.summarize` row per load, or per load
        and swept value: ``a_d_v_per_v``, ``a_d_db``, ``r_out_ohm``,
        ``a_cm_v_per_v``, ``cmrr_db``, ``f_3db_hz``, ``f_t_hz``, ``gbw_hz``
        and the solved inputs with the mismatch signs used) and ``files``
        (written into ``out``). An infinity (an ideal tail's ``r_tail_ohm``, a
        matched pair's ``cmrr_db``) is the string ``"inf"``.

    Raises
    ------
    ValueError
        One line: unknown names (with "did you mean"), small-signal and
        device-level keys mixed, missing keys (``r_d_ohm`` for a resistive
        load), a malformed sweep or one that does not apply to the load.

    Examples
    --------
    >>> import acquire.api
    >>> doc = acquire.api.design_diffpair(gm_s=1e-3, ro_n_ohm=100e3, r_d_ohm=10e3)
    >>> [(r["load"], round(r["a_d_v_per_v"], 2), r["cmrr_db"]) for r in doc["rows"]]
    [('resistive', 9.09, 'inf'), ('active', 49.75, 'inf'), ('cascode', 5049.51, 'inf')]
    >>> sw = acquire.api.design_diffpair(load="active", id_a=50e-6, w_over_l=12.5, mu_cox_a_per_v2=200e-6,
    ...                                  lambda0_per_v=0.02, l0_m=1e-6, sweep="l_m=1e-6,2e-6,4e-6")
    >>> [round(r["a_d_v_per_v"]) for r in sw["rows"]]   # r_o and the gain grow with L
    [250, 500, 1000]
    """
    import math

    import numpy as np

    from acquire._check import check_option
    from acquire.studies.sweep import parse_vary
    from frontend_models.diffpair import (LOADS, POLARITIES, load_design, read_table, summarize, sweep_design,
                                          table_for_load)

    table = {**(read_table(design) if design is not None else {}),
             **{k: v for k, v in inputs.items() if v is not None}}
    load = check_option("load", load or table.pop("load", None) or "all", (*LOADS, "all"))
    table.pop("load", None)
    check_option("polarity", polarity, POLARITIES)
    loads = LOADS if load == "all" else (load,)
    key, values = (None, None) if sweep is None or isinstance(sweep, str) else (sweep[0], list(sweep[1]))
    if isinstance(sweep, str):
        key, eq, raw = (part.strip() for part in sweep.partition("="))
        if not (key and eq and raw):
            raise ValueError(f"--sweep expects KEY=START:STOP:N, KEY=START:STOP:STEP or KEY=v1,v2,... "
                             f"(e.g. l_m=0.18e-6,0.5e-6,1e-6,2e-6); got {sweep!r}.")
        parts = raw.split(":")
        if len(parts) == 3 and parts[2].strip().isdigit():  # START:STOP:N
            try:
                start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
            except ValueError:
                start, n = math.nan, 0
            if not (2 <= n <= 1000 and math.isfinite(start + stop)):
                raise ValueError(f"--sweep {key}: START:STOP:N needs finite numbers and 2 <= N <= 1000; got {raw!r}.")
            wide = 0 < min(start, stop) and max(start, stop) >= 10 * min(start, stop)
            values = [float(f"{v:.12g}") for v in (np.geomspace if wide else np.linspace)(start, stop, n)]
        else:  # START:STOP:STEP or a list, as --vary
            try:
                key, values = parse_vary(sweep)
            except ValueError as err:
                raise ValueError(str(err).replace("--vary", "--sweep")) from None
    only = {"load": (), "r_d_ohm": ("resistive",), "r_d_mismatch_fraction": ("resistive",),
            "mirror_mismatch_fraction": ("active", "cascode")}.get(key)
    if only is not None and not set(loads) <= set(only):
        raise ValueError(f"cannot sweep {key} with load {load!r}: it applies to the {' and '.join(only)} load "
                         f"only." if only else "cannot sweep the load: load 'all' shows the three side by side.")
    if "resistive" in loads and "r_d_ohm" not in table and key != "r_d_ohm":
        # Other missing or inconsistent inputs are reported first.
        load_design({**table_for_load(table, "resistive"), **({key: values[0]} if key else {}), "r_d_ohm": 1.0})
        raise ValueError("the resistive load needs r_d_ohm (the drain resistance)" + (
            "; load 'all' includes it: give r_d_ohm, or choose load 'active' or 'cascode'." if load == "all" else "."))
    tables = {ld: table_for_load(table, ld) if load == "all" else {**table, "load": ld} for ld in loads}
    if key is None:
        rows = [summarize(load_design(tables[ld]), polarity=polarity) for ld in loads]
    else:
        rows = [row for ld in loads for row in sweep_design(tables[ld], key, values, polarity=polarity)]
    files = []
    if out is not None:
        from acquire.output.figures import plot_design_sweep, save_figure
        from acquire.output.figures.design import scenario
        from acquire.output.files import ensure_writable_dir, write_json

        out = ensure_writable_dir(out)
        if key is not None:
            series = [{ld: np.array([r[q] for r in rows if r["load"] == ld]) for ld in loads}
                      for q in ("a_d_v_per_v", "f_3db_hz", "gbw_hz")]
            fixed = {**table, **{k: rows[0][k] for k in ("c_load_f", "r_tail_ohm") if k not in table}}
            files += save_figure(plot_design_sweep(values, *series, key=key, scenario=scenario(
                fixed, exclude=(key,), polarity=polarity, tex=True)), out / "design_sweep")
        files.append(out / "design_diffpair.json")
    strict = lambda v: ("inf" if v > 0 else "-inf") if isinstance(v, float) and math.isinf(v) else v  # noqa: E731
    doc = {"schema": "ecgfe.design.diffpair/1", "load": load, "loads": list(loads), "polarity": polarity,
           "inputs": {k: strict(v) for k, v in table.items()},
           "sweep": None if key is None else {"key": key, "values": [strict(v) for v in values]},
           "rows": [{k: strict(v) for k, v in r.items()} for r in rows], "files": [str(f) for f in files]}
    if out is not None:
        write_json(out / "design_diffpair.json", doc)
    return doc
