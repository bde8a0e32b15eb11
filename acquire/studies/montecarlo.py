"""Monte Carlo tolerance analysis of the mains residual: percentiles, yield, and a time-domain check.

A design's residual mains depends on quantities no designer controls exactly:
electrode impedances, which lead carries the imbalance, the amplifier's CMRR
sign and phase, the mismatch of its inputs' common-mode impedances and of the
cables. :func:`run_montecarlo` draws them from stated distributions (one seed;
the same draws for every preset), evaluates each draw analytically (the
phasor model of :func:`acquire.frontend.predicted_residual_mains`, vectorised
over the draws) and, for a subset, by full time-domain simulation through the
batch engine (:func:`acquire.studies.batch.run_batch`: on the configured source or on
each record of a set), which must agree.

Distributions (``KEY=DIST``, see :func:`parse_distribution`):

- ``lognormal(s)``: the configured value times exp(s z), z ~ N(0, 1); on
  ``electrodes.imbalance`` the whole impedance scales (R by k, C by 1/k).
- ``normal(sd)``: the configured value plus sd z.
- ``tolerance(t)``: the configured value times (1 + u), u ~ U(-t, t).
- ``uniform(lo, hi)``: U(lo, hi), ignoring the configured value.
- ``choice(a, b, ...)``: one of the values, each equally likely.

By default the CMRR phase is uniform over 0-360 degrees and the imbalance lead
is "+" or "-" with equal odds (a part's CMRR sign and phase and the lead
that ends up with the worse electrode are unknown); other keys vary only
when given.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from acquire._check import check_positive, suggest
from acquire.analog.electrodes import divider_from_impedances, shunt_rc
from acquire.analog.impedance import electrode_z_ohm, parallel_rc_z_ohm
from acquire.config import parse_value
from acquire.frontend import build_frontend, chain_response
from acquire.analog.mains import cm_harmonics

#: Distribution names and their parameter counts (None: any number >= 1).
DISTRIBUTIONS = {"lognormal": 1, "normal": 1, "tolerance": 1, "uniform": 2, "choice": None}
#: Distributions applied unless the user gives the key: phase and lead are unknown in a real design.
DEFAULT_DISTRIBUTIONS = ("amplifier.cmrr_polarity=uniform(0, 360)", "electrodes.imbalance_lead=choice(+, -)")
#: Keys the vectorised analytic path evaluates; any other varied key is evaluated draw by draw.
FAST_KEYS = {"electrodes.r_s_ohm", "electrodes.r_d_ohm", "electrodes.c_d_f", "electrodes.imbalance",
             "electrodes.imbalance_lead", "electrodes.cable_c_f", "electrodes.cable_c_mismatch",
             "amplifier.cmrr_db", "amplifier.cmrr_polarity", "amplifier.z_cm_mismatch"}
#: The standards' CMR limit: 1 mV peak-to-valley referred to input with 10 V rms common mode.
STANDARD_LIMIT_UV_PP, STANDARD_CM_V_RMS = 1000.0, 10.0
#: Most draws accepted (memory: a few arrays of this length per harmonic).
MAX_DRAWS = 10_000_000
#: Phase samples per mains period for the peak-to-peak of the residual waveform.
PP_SAMPLES = 256


@dataclass(frozen=True)
class Distribution:
    """One varied key: ``kind`` with ``args`` (see the module docstring)."""

    key: str
    kind: str
    args: tuple

    def variates(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The ``n`` random numbers behind the draws, independent of any configured value.

        Standard normal for ``lognormal`` and ``normal``, uniform on [0, 1) for
        ``tolerance`` and ``uniform``, an index for ``choice``: so two presets
        with different configured values see the same random draws.
        """
        if self.kind == "choice":
            return rng.integers(0, len(self.args), n)
        return rng.standard_normal(n) if self.kind in ("lognormal", "normal") else rng.uniform(0.0, 1.0, n)

    def values(self, base, variates: np.ndarray) -> list:
        """Config values around the configured ``base`` value for the given variates."""
        if self.kind == "choice":
            return [self.args[i] for i in variates]
        if self.kind == "uniform":
            lo, hi = self.args
            return (lo + (hi - lo) * variates).tolist()
        (spread,) = self.args
        if self.kind == "normal":
            if self.key == "electrodes.imbalance":
                raise ValueError("normal() adds to a value; on electrodes.imbalance use lognormal() or tolerance().")
            return (_number(self.key, base) + spread * variates).tolist()
        factors = np.exp(spread * variates) if self.kind == "lognormal" else 1.0 + spread * (2 * variates - 1)
        if self.key == "electrodes.imbalance":
            return _scaled_imbalance(base, factors)
        return (_number(self.key, base) * factors).tolist()


def _number(key: str, base) -> float:
    if isinstance(base, bool) or not isinstance(base, (int, float)):
        raise ValueError(f"{key}={base!r} is not a number, so it cannot be varied around its value; "
                         f"use uniform(lo, hi) or choice(...).")
    return float(base)


def parse_distribution(spec: str) -> Distribution:
    """Parse ``"KEY=DIST(args)"`` (e.g. ``"electrodes.r_d_ohm=lognormal(0.5)"``).

    Raises
    ------
    ValueError
        Malformed text, an unknown distribution (with "did you mean"), a wrong
        number of parameters, or a negative or non-finite spread.
    """
    key, sep, rest = spec.partition("=")
    key, rest = key.strip(), rest.strip()
    name, paren, inner = rest.partition("(")
    name = name.strip()
    if not sep or not key or not paren or not inner.endswith(")"):
        raise ValueError(f"--vary-dist expects KEY=DIST(args), e.g. electrodes.r_d_ohm=lognormal(0.5); got {spec!r}.")
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r} in {spec!r}; choose from "
                         f"{', '.join(DISTRIBUTIONS)}.{suggest(name, DISTRIBUTIONS)}")
    args = tuple(parse_value(a.strip()) for a in inner[:-1].split(",") if a.strip())
    want = DISTRIBUTIONS[name]
    if (want is None and not args) or (want is not None and len(args) != want):
        raise ValueError(f"{name}() takes {want or 'one or more'} parameter(s); got {len(args)} in {spec!r}.")
    if name != "choice":
        for a in args:
            if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
                raise ValueError(f"{name}() parameters must be finite numbers; got {a!r} in {spec!r}.")
        if name in ("lognormal", "normal", "tolerance") and args[0] < 0:
            raise ValueError(f"the spread of {name}() must be >= 0; got {args[0]!r} in {spec!r}.")
        if name == "uniform" and not args[0] <= args[1]:
            raise ValueError(f"uniform(lo, hi) needs lo <= hi; got {args!r} in {spec!r}.")
    return Distribution(key, name, args)


def draw(cfg: dict, distributions, n_draws: int, seed: int) -> list[dict]:
    """``n_draws`` override dicts ``{"section.key": value}`` (TOML values), reproducible from ``seed``.

    Each key has its own random stream (seeded by ``seed`` and the key's
    position), so adding a key does not change the draws of the others, and
    the random numbers do not depend on ``cfg``: presets compared with one
    seed see the same draws around their own configured values.
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or not 1 <= n_draws <= MAX_DRAWS:
        raise ValueError(f"draws must be an integer from 1 to {MAX_DRAWS}; got {n_draws!r}.")
    columns, fe = {}, build_frontend(cfg, float(cfg["run"]["fs_sim_hz"]), 1)
    for i, dist in enumerate(distributions):
        variates = dist.variates(np.random.default_rng([seed, i]), n_draws)
        columns[dist.key] = dist.values(base_value(cfg, dist.key, fe), variates)
    return [{k: col[j] for k, col in columns.items()} for j in range(n_draws)]


def base_value(cfg: dict, key: str, fe=None):
    """The value ``key`` has in the run ``cfg`` describes: the config's, else the built model's (preset, defaults).

    ``fe`` is that front end when the caller has built it (it is built here otherwise).
    """
    section, _, name = key.partition(".")
    table = cfg.get(section)
    if isinstance(table, dict) and name in table:
        return table[name]
    fe = fe or build_frontend(cfg, float(cfg["run"]["fs_sim_hz"]), 1)
    amp, el = fe.info["amp"], fe.info["electrodes"]
    candidates = {"amplifier": (amp, amp.z_cm), "electrodes": (el, el.z_electrode),
                  "mains": (fe.info["mains"],), "body": (fe.info["body"],)}.get(section, ())
    aliases = {"z_cm_r_ohm": "r_ohm", "z_cm_c_f": "c_f"}
    for obj in candidates:
        for attr in (name, aliases.get(name)):
            if attr and hasattr(obj, attr) and not callable(getattr(obj, attr)):
                return getattr(obj, attr)
    return None


def _scaled_imbalance(base, factors: np.ndarray) -> list[dict]:
    """The configured imbalance impedance scaled by each factor (R times k, C over k), as tables."""
    from acquire.analog.electrodes import parse_imbalance

    z = parse_imbalance(base)
    return [{"r_s_ohm": float(z.r_s_ohm * k), "r_d_ohm": float(z.r_d_ohm * k), "c_d_f": float(z.c_d_f / k)}
            for k in factors]


def with_defaults(distributions) -> list[Distribution]:
    """The user's distributions plus :data:`DEFAULT_DISTRIBUTIONS` for keys they did not give."""
    given = {d.key for d in distributions}
    return [*distributions, *(d for d in map(parse_distribution, DEFAULT_DISTRIBUTIONS) if d.key not in given)]


def scaled_limit_uv_pp(v_cm_rms: float) -> float:
    """The standards' 1 mV p-p at 10 V rms, scaled to a common mode of ``v_cm_rms``."""
    return STANDARD_LIMIT_UV_PP * check_positive("v_cm_rms", v_cm_rms) / STANDARD_CM_V_RMS


def analytic_residuals(cfg: dict, draws: list[dict]) -> dict:
    """Input-referred mains residual at the ADC for every draw, from the phasor model.

    Returns
    -------
    dict of ndarray, shape (n_draws,)
        ``fundamental_uv_rms``, ``total_uv_rms`` (root sum of squares over the
        harmonics), ``uv_pp`` (peak-to-peak of the summed harmonic waveform),
        ``cmrr_effective_db`` (v_cm over the fundamental referred through
        |A_d(f)|), and the scalar ``v_cm_rms``.

    Notes
    -----
    Per harmonic f_k of the body common mode v_k (:func:`cm_harmonics`), as in
    :func:`acquire.frontend.predicted_residual_mains`:
    e_k = v_k [A_cm(f_k) + D(f_k) A_d(f_k)] / G H_post(f_k), with D the divider
    Z_cp/(Z_p + Z_cp) - Z_cn/(Z_n + Z_cn) of the drawn electrodes against the
    drawn shunts. Keys in :data:`FAST_KEYS` are evaluated as arrays over the
    draws; if any other key is varied, every draw is built as a front end.
    """
    keys = set(draws[0]) if draws else set()
    if not keys <= FAST_KEYS:
        return _residuals_one_by_one(cfg, draws)
    base = build_frontend(cfg, float(cfg["run"]["fs_sim_hz"]), 1)
    amp, el = base.analog["amplifier"].params, base.info["electrodes"]

    def column(key, default):
        return np.array([d.get(key, default) for d in draws], dtype=object)

    mains, circuit = base.info["mains"], base.info["patient"]
    f = np.array([k * mains.center_hz for k, _ in mains.components()])
    z_e = electrode_z_ohm(*(column(f"electrodes.{k}", getattr(el.z_electrode, k)).astype(float)[:, None]
                            for k in ("r_s_ohm", "r_d_ohm", "c_d_f")), f)
    imbalance = [_imbalance_z(x, f) for x in column("electrodes.imbalance", el.imbalance)]
    z_imb = np.array(imbalance)
    lead_pos = column("electrodes.imbalance_lead", el.imbalance_lead) == "+"
    z_p = z_e + np.where(lead_pos[:, None], z_imb, 0.0)
    z_n = z_e + np.where(lead_pos[:, None], 0.0, z_imb)
    m = column("amplifier.z_cm_mismatch", amp.z_cm_mismatch).astype(float)[:, None]
    c_cable = column("electrodes.cable_c_f", el.cable_c_f).astype(float)[:, None]
    m_cable = column("electrodes.cable_c_mismatch", el.cable_c_mismatch).astype(float)[:, None]
    shunt_p, shunt_n = (parallel_rc_z_ohm(*shunt_rc(amp.z_cm.r_ohm, amp.z_cm.c_f, m, c_cable, m_cable, sign), f)
                        for sign in (1.0, -1.0))
    d = divider_from_impedances(z_p, z_n, shunt_p, shunt_n)
    # the inputs load the body (a draw's cables change v_cm itself): the patient circuit per draw
    y_in = 1.0 / (z_p + shunt_p) + 1.0 / (z_n + shunt_n)
    v = np.stack([c * circuit.cm_phasor_v(mains.mains_v_rms, f[i], y_in[:, i])
                  for i, (_, c) in enumerate(mains.components())], axis=1)
    a_d = amp.diff_gain(f)
    unrotated = amp.cm_gain(f) * np.exp(-1j * amp.cmrr_phase_rad)
    cmrr = column("amplifier.cmrr_db", amp.cmrr_db).astype(float)[:, None]
    a_cm = unrotated * 10 ** (-(cmrr - amp.cmrr_db) / 20)
    phase = _phases(column("amplifier.cmrr_polarity", cfg["amplifier"].get("cmrr_polarity", "worst")),
                    d[:, 0] * a_d[0], a_cm[:, 0])
    e = v * (a_cm * np.exp(1j * phase)[:, None] + d * a_d) / amp.gain_v_per_v * chain_response(base, f)
    return _summaries(e, f, np.abs(v[:, 0]), abs(a_d[0] / amp.gain_v_per_v * chain_response(base, f[0])),
                      abs(cm_harmonics(mains, circuit)[0][1]))


def _imbalance_z(value, f: np.ndarray) -> np.ndarray:
    from acquire.analog.electrodes import parse_imbalance

    z = parse_imbalance(value)
    return electrode_z_ohm(z.r_s_ohm, z.r_d_ohm, z.c_d_f, f)


def _phases(polarity: np.ndarray, d_a_d: np.ndarray, a_cm: np.ndarray) -> np.ndarray:
    """The common-mode gain's phase per draw (see :func:`acquire.frontend.cmrr_phase_rad`)."""
    worst = np.angle(d_a_d) - np.angle(a_cm)
    named = {"worst": worst, "best": worst + np.pi, "+": np.zeros(len(polarity)), "-": np.full(len(polarity), np.pi)}
    out = np.empty(len(polarity))
    for i, p in enumerate(polarity):
        out[i] = named[p][i] if isinstance(p, str) else math.radians(p)
    return out


def _residuals_one_by_one(cfg: dict, draws: list[dict]) -> dict:
    """The same summaries, each draw built as a front end (any key; slower)."""
    from acquire.frontend import divider_transfer
    from acquire.studies.sweep import point_config

    rows, v_cm, gain, base_v = [], [], None, None
    for overrides in draws:
        fe = build_frontend(point_config(cfg, overrides), float(cfg["run"]["fs_sim_hz"]), 1)
        amp = fe.analog["amplifier"].params
        harmonics = cm_harmonics(fe.info["mains"], fe.info["patient"])
        f = np.array([h[0] for h in harmonics])
        v = np.array([h[1] for h in harmonics])
        rows.append(v * (amp.cm_gain(f) + divider_transfer(fe.info["electrodes"], amp, f) * amp.diff_gain(f))
                    / amp.gain_v_per_v * chain_response(fe, f))
        v_cm.append(abs(v[0]))
        gain = abs(amp.diff_gain(f[0]) / amp.gain_v_per_v * chain_response(fe, f[0]))
    base = build_frontend(cfg, float(cfg["run"]["fs_sim_hz"]), 1)
    base_v = abs(cm_harmonics(base.info["mains"], base.info["patient"])[0][1])
    return _summaries(np.array(rows), f, np.array(v_cm), gain, base_v)


def _summaries(e: np.ndarray, f: np.ndarray, v_cm_draws: np.ndarray, gain_rel: float, v_cm_rms: float) -> dict:
    """Rms, total and peak-to-peak of per-harmonic rms phasors ``e`` (n_draws, n_harmonics), in µV.

    ``v_cm_draws``: each draw's common mode at the fundamental (the inputs load
    the body); ``v_cm_rms``: the configured design's, for the limit.
    """
    theta = 2 * np.pi * np.arange(PP_SAMPLES) / PP_SAMPLES
    k = np.rint(f / f[0])
    wave = np.real(np.sqrt(2) * e[:, :, None] * np.exp(1j * k[None, :, None] * theta[None, None, :])).sum(axis=1)
    fundamental = np.abs(e[:, 0])
    with np.errstate(divide="ignore"):
        cmrr = 20 * np.log10(v_cm_draws / (fundamental / gain_rel))
    return {"fundamental_uv_rms": fundamental * 1e6, "total_uv_rms": np.sqrt((np.abs(e) ** 2).sum(axis=1)) * 1e6,
            "uv_pp": (wave.max(axis=1) - wave.min(axis=1)) * 1e6, "cmrr_effective_db": cmrr, "v_cm_rms": v_cm_rms}


def percentiles(values: np.ndarray) -> dict:
    """p1, p10, p50, p90, p99, min and max of ``values`` (a residual's bad tail is high, a CMRR's low)."""
    out = {f"p{q}": float(np.percentile(values, q)) for q in (1, 10, 50, 90, 99)}
    return {**out, "min": float(np.min(values)), "max": float(np.max(values))}


def preset_config(cfg: dict, preset: str | None) -> dict:
    """``cfg`` with ``[amplifier]`` replaced by ``preset`` (None keeps it)."""
    out = copy.deepcopy(cfg)
    if preset is not None:
        out["amplifier"] = {"preset": preset, **{k: v for k, v in cfg["amplifier"].items()
                                                 if k == "cmrr_polarity"}}
    return out


@dataclass
class MonteCarloRun:
    """What :func:`run_montecarlo` computed.

    Attributes
    ----------
    n_draws : int
    presets : dict
        Preset name -> {"draws": the overrides of every draw (the same random
        numbers for every preset, around its own values), "analytic": summaries of every draw (arrays),
        "stats": percentiles of each summary, "yield": fraction of draws
        whose residual p-p is within the limit, "simulated": rows of the
        time-domain subset, one per (draw, record) (draw index, record,
        analytic and simulated fundamental, relative difference; null for a
        run that saturated: the analytic path is linear and does not model
        clipping)}.
    limit_uv_pp : float
        The limit the yield is counted against, µV p-p RTI.
    limit_source : str
        Where the limit comes from.
    seed : int
    records : list of str or None
        The records of the time-domain subset; None: the configured source.
    """

    n_draws: int
    presets: dict
    limit_uv_pp: float
    limit_source: str
    seed: int
    records: list | None = None


def run_montecarlo(cfg: dict, presets, distributions, n_draws: int, *, seed: int = 0, simulate: int = 0,
                   limit_uv_pp: float | None = None, out_dir=None, records: list[str] | None = None,
                   **engine) -> MonteCarloRun:
    """Draw the varied quantities, evaluate each draw for each preset, check a subset in the time domain.

    Parameters
    ----------
    cfg : dict
        Base configuration.
    presets : sequence of str or None
        Presets compared on the same draws; None or empty uses ``cfg``'s amplifier.
    distributions : sequence of Distribution
        The varied keys (:func:`parse_distribution`); :data:`DEFAULT_DISTRIBUTIONS`
        are added for keys not given.
    n_draws : int
    seed : int
        One seed for every draw.
    simulate : int
        Number of draws (the first ones) also simulated in the time domain,
        through :func:`acquire.studies.batch.run_batch` into
        ``out_dir/<preset>/simulated``; requires ``out_dir``.
    limit_uv_pp : float, optional
        Yield limit, µV p-p RTI; default the standards' 1 mV p-p at 10 V rms
        scaled to the configured body common mode (:func:`scaled_limit_uv_pp`).
    records : list of str, optional
        Records the time-domain draws run on (each draw on each record, one
        unit each; :func:`acquire.studies.batch.parse_records`); default the
        configured source. The analytic draws do not depend on the record
        (the residual is a property of the front end and the electrodes,
        measured against the ideal twin), so they are computed once; every
        (draw, record) row must agree with its draw's analytic value.
    **engine
        ``jobs``, ``progress``, ``scheduler``, ``max_points`` of the
        time-domain runs (:func:`acquire.studies.sweep.run_points`).
    """
    if isinstance(simulate, bool) or not isinstance(simulate, int) or not 0 <= simulate <= n_draws:
        raise ValueError(f"simulate must be an integer from 0 to draws={n_draws}; got {simulate!r}.")
    if simulate and out_dir is None:
        raise ValueError("a time-domain subset (simulate > 0) needs an output directory.")
    if limit_uv_pp is not None:
        check_positive("limit_uv_pp", limit_uv_pp)
    dists = with_defaults(list(distributions))
    results, limit, source = {}, limit_uv_pp, "given"
    for name in list(presets or []) or [None]:
        pcfg = preset_config(cfg, name)
        draws = draw(pcfg, dists, n_draws, seed)  # same random numbers for every preset
        analytic = analytic_residuals(pcfg, draws)
        if limit is None:
            limit, source = scaled_limit_uv_pp(analytic["v_cm_rms"]), (
                f"the standards' 1 mV p-p at 10 V rms scaled to {analytic['v_cm_rms']:.4g} V rms")
        label = name or str(cfg["amplifier"].get("preset", "configured"))
        results[label] = {"draws": draws, "analytic": analytic, "yield": float(np.mean(analytic["uv_pp"] <= limit)),
                          "stats": {k: percentiles(v) for k, v in analytic.items() if k != "v_cm_rms"},
                          "simulated": _simulated(pcfg, draws[:simulate], analytic, out_dir, label, records, engine)}
    return MonteCarloRun(n_draws, results, float(limit), source, seed, records)


def _simulated(cfg, draws, analytic, out_dir, label, records, engine) -> list[dict]:
    """Time-domain runs of ``draws`` on each record: simulated vs analytic fundamental residual, acquired tap."""
    if not draws:
        return []
    from pathlib import Path

    from acquire.studies.batch import run_batch

    run = run_batch(cfg, records, draws, Path(out_dir) / label / "simulated", **engine)
    rows = []
    for i, (unit, doc) in enumerate(zip(run.units, run.documents)):
        acquired = next(iter(doc["channels"].values()))["acquired"]
        simulated = acquired["residual_mains_by_harmonic_uv_rms"]["1"]
        expected = float(analytic["fundamental_uv_rms"][i // len(run.records)])
        saturated = bool(acquired["saturated_fraction"])
        # The analytic path is linear: a clipped run is reported, not compared.
        rows.append({"draw": i // len(run.records), "record": unit["record"], "analytic_uv_rms": expected,
                     "simulated_uv_rms": simulated, "saturated": saturated,
                     "relative_difference": None if saturated else simulated / expected - 1.0})
    return rows
