"""The design tools of the Python API: amplifier stages designed from device parameters.

``acquire.design.design_diffpair`` is what ``ecgfe design diffpair`` runs; a
designed stage enters a simulation as ``[amplifier] design = ...``.
"""

from __future__ import annotations


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
    >>> import acquire.design
    >>> doc = acquire.design.design_diffpair(gm_s=1e-3, ro_n_ohm=100e3, r_d_ohm=10e3)
    >>> [(r["load"], round(r["a_d_v_per_v"], 2), r["cmrr_db"]) for r in doc["rows"]]
    [('resistive', 9.09, 'inf'), ('active', 49.75, 'inf'), ('cascode', 5049.51, 'inf')]
    >>> sw = acquire.design.design_diffpair(load="active", id_a=50e-6, w_over_l=12.5, mu_cox_a_per_v2=200e-6,
    ...                                     lambda0_per_v=0.02, l0_m=1e-6, sweep="l_m=1e-6,2e-6,4e-6")
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
