"""Small-signal designer for a MOS differential pair (the input stage of an amplifier).

From a transconductance and output resistances (or device-level inputs: drain
current, geometry, channel length), a load topology, a tail resistance and
signed device mismatches it gives the differential gain, the common-mode
gain, the CMRR, the output pole and the unity-gain frequency, by solving the
small-signal nodal equations of the whole circuit exactly. The results turn
into the gain/CMRR/bandwidth of a behavioural amplifier stage, and flat
dictionaries of them feed a command-line front end.
"""

from __future__ import annotations

import itertools
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.optimize import brentq

from acquire._check import check_option, check_positive, suggest
from frontend_models.mosfet import DeviceParams, small_signal

#: Load topologies.
LOADS = ("resistive", "active", "cascode")
#: How :func:`design` treats the signs of the mismatches.
POLARITIES = ("worst", "best", "given")
#: Signed mismatch fields of :class:`DiffPairParams`.
MISMATCH_FIELDS = ("gm_mismatch_fraction", "r_d_mismatch_fraction", "mirror_mismatch_fraction")

_SMALL_SIGNAL_KEYS = ("gm_s", "ro_n_ohm", "ro_p_ohm")
_DEVICE_KEYS = tuple(f.name for f in fields(DeviceParams))
_DEVICE_REQUIRED = ("id_a", "l_m", "lambda0_per_v", "l0_m")
_CIRCUIT_KEYS = ("load", "r_d_ohm", "c_load_f", "r_tail_ohm") + MISMATCH_FIELDS
_ALL_KEYS = _SMALL_SIGNAL_KEYS + _DEVICE_KEYS + _CIRCUIT_KEYS


def _check_fraction(param: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and -1 < v < 1):
        raise ValueError(f"{param} must be a signed fraction in (-1, 1) (0.01 is 1 %); got {value!r}.")
    return v


@dataclass(frozen=True)
class DiffPairParams:
    """Small-signal description of a differential pair.

    Every device (input pair, load, cascodes) has the same ``gm_s``; NMOS
    devices have ``ro_n_ohm`` and PMOS devices ``ro_p_ohm``. Body effect is
    neglected and ``c_load_f`` is the only capacitance.

    Parameters
    ----------
    gm_s : float
        Transconductance of each device, siemens.
    ro_n_ohm : float
        Output resistance of the NMOS devices (input pair, its cascodes), ohms.
    ro_p_ohm : float, optional
        Output resistance of the PMOS load devices, ohms; defaults to
        ``ro_n_ohm``. Unused by the resistive load.
    load : {"resistive", "active", "cascode"}
        Drain resistors with differential output; current-mirror load with
        single-ended output; cascoded pair with a cascoded mirror load.
    r_d_ohm : float, optional
        Drain resistance; required for ``load="resistive"`` and only then.
    c_load_f : float, default 1e-12
        Capacitance at each output node, farads.
    r_tail_ohm : float, default inf
        Output resistance ``R_SS`` of the tail current source; ``inf`` for an
        ideal source.
    gm_mismatch_fraction : float, default 0
        Signed ``(g_m1 - g_m2) / g_m`` of the input pair: ``g_m1,2 = g_m (1 +- eps/2)``.
    r_d_mismatch_fraction : float, default 0
        Signed ``(R_D1 - R_D2) / R_D``: ``R_D1,2 = R_D (1 +- eps/2)``; resistive load only.
    mirror_mismatch_fraction : float, default 0
        Signed mirror-ratio error: the output device of the mirror has
        ``g_m (1 + eps/2)``, the diode device ``g_m (1 - eps/2)``, so the
        current ratio is about ``1 + eps``; active and cascode loads only.
    """

    gm_s: float
    ro_n_ohm: float
    ro_p_ohm: float | None = None
    load: str = "resistive"
    r_d_ohm: float | None = None
    c_load_f: float = 1e-12
    r_tail_ohm: float = math.inf
    gm_mismatch_fraction: float = 0.0
    r_d_mismatch_fraction: float = 0.0
    mirror_mismatch_fraction: float = 0.0

    def __post_init__(self):
        check_positive("gm_s", self.gm_s)
        check_positive("ro_n_ohm", self.ro_n_ohm)
        if self.ro_p_ohm is None:
            object.__setattr__(self, "ro_p_ohm", self.ro_n_ohm)
        check_positive("ro_p_ohm", self.ro_p_ohm)
        check_option("load", self.load, LOADS)
        resistive = self.load == "resistive"
        if resistive != (self.r_d_ohm is not None):
            raise ValueError(
                f"r_d_ohm is required for load='resistive' and only for it; got load={self.load!r}, "
                f"r_d_ohm={self.r_d_ohm!r}.")
        if self.r_d_ohm is not None:
            check_positive("r_d_ohm", self.r_d_ohm)
        check_positive("c_load_f", self.c_load_f)
        if not float(self.r_tail_ohm) > 0:
            raise ValueError(f"r_tail_ohm must be > 0 (inf allowed); got {self.r_tail_ohm!r}.")
        for name in MISMATCH_FIELDS:
            _check_fraction(name, getattr(self, name))
        if self.mirror_mismatch_fraction and resistive:
            raise ValueError("mirror_mismatch_fraction applies to the active and cascode loads; "
                             "use r_d_mismatch_fraction for load='resistive'.")
        if self.r_d_mismatch_fraction and not resistive:
            raise ValueError(f"r_d_mismatch_fraction applies to load='resistive' only; use "
                             f"mirror_mismatch_fraction for load={self.load!r}.")


@dataclass(frozen=True)
class DiffPairResult:
    """What :func:`design` computes: low-frequency magnitudes and the output pole.

    ``evaluated`` is the parameter set actually solved, with the mismatch
    signs that ``polarity`` chose.
    """

    r_out_ohm: float
    a_d_v_per_v: float
    a_cm_v_per_v: float
    cmrr_db: float
    f_3db_hz: float
    f_t_hz: float
    gbw_hz: float
    evaluated: DiffPairParams


def from_device(device: DeviceParams, *, load: str = "resistive", r_d_ohm: float | None = None,
                c_load_f: float = 1e-12, r_tail_ohm: float = math.inf,
                gm_mismatch_fraction: float = 0.0, r_d_mismatch_fraction: float = 0.0,
                mirror_mismatch_fraction: float = 0.0) -> DiffPairParams:
    """Differential-pair parameters from device-level inputs.

    ``g_m`` and ``r_o`` of every device (NMOS and PMOS alike) come from
    :func:`frontend_models.mosfet.small_signal` (square law, weak-inversion
    limit, ``lambda ~ 1/L``); the other arguments are those of
    :class:`DiffPairParams`.

    Warns
    -----
    FrontendWarning
        When the overdrive is below 0.1 V (see :func:`~frontend_models.mosfet.small_signal`).
    """
    ss = small_signal(device)
    return DiffPairParams(
        gm_s=ss.gm_s, ro_n_ohm=ss.ro_ohm, ro_p_ohm=ss.ro_ohm, load=load, r_d_ohm=r_d_ohm,
        c_load_f=c_load_f, r_tail_ohm=r_tail_ohm, gm_mismatch_fraction=gm_mismatch_fraction,
        r_d_mismatch_fraction=r_d_mismatch_fraction, mirror_mismatch_fraction=mirror_mismatch_fraction)


def _netlist(p: DiffPairParams) -> tuple[list, list, tuple[str, str]]:
    """Small-signal circuit: MOSFETs ``(d, g, s, g_m, r_o)``, branches ``(a, b, G, C)``, output port.

    Node ``"0"`` is ac ground (supplies, bias and cascode gates), ``"g1"``
    and ``"g2"`` are the driven gates. The same topology is in the ngspice
    netlists under ``tests/data/diffpair/``.
    """
    gm, ron, rop, c = p.gm_s, p.ro_n_ohm, p.ro_p_ohm, p.c_load_f
    h = p.gm_mismatch_fraction / 2
    d1, d2 = {"resistive": ("d1", "d2"), "active": ("d1", "out"), "cascode": ("x1", "x2")}[p.load]
    mos = [(d1, "g1", "s", gm * (1 + h), ron), (d2, "g2", "s", gm * (1 - h), ron)]
    branches = [] if math.isinf(p.r_tail_ohm) else [("s", "0", 1 / p.r_tail_ohm, 0.0)]
    if p.load == "resistive":
        hr = p.r_d_mismatch_fraction / 2
        branches += [("d1", "0", 1 / (p.r_d_ohm * (1 + hr)), c), ("d2", "0", 1 / (p.r_d_ohm * (1 - hr)), c)]
        return mos, branches, ("d2", "d1")
    hm = p.mirror_mismatch_fraction / 2
    if p.load == "active":
        mos += [("d1", "d1", "0", gm * (1 - hm), rop), ("out", "d1", "0", gm * (1 + hm), rop)]
    else:  # NMOS cascodes, then the PMOS cascode mirror (diodes a, b; output side c, out)
        mos += [("b", "0", "x1", gm, ron), ("out", "0", "x2", gm, ron),
                ("a", "a", "0", gm * (1 - hm), rop), ("b", "b", "a", gm, rop),
                ("c", "a", "0", gm * (1 + hm), rop), ("out", "b", "c", gm, rop)]
    return mos, branches + [("out", "0", 0.0, c)], ("out", "0")


def _port_voltage(p: DiffPairParams, v_g1: float, v_g2: float, s: complex = 0.0,
                  i_test_a: float = 0.0) -> complex:
    """Output-port voltage for gate drives ``v_g1``, ``v_g2`` and a test current into the port.

    Nodal analysis ``Y(s) v = i``: each branch admittance ``G + sC`` and each
    MOSFET's ``r_o`` are stamped between their nodes, each MOSFET's
    ``g_m (v_g - v_s)`` as a current from drain to source; known node
    voltages move to the right-hand side.
    """
    mos, branches, (pos, neg) = _netlist(p)
    fixed = {"0": 0.0, "g1": v_g1, "g2": v_g2}
    nodes = sorted(({n for m in mos for n in m[:3]} | {n for b in branches for n in b[:2]}) - set(fixed))
    idx = {n: i for i, n in enumerate(nodes)}
    y = np.zeros((len(nodes), len(nodes)), complex)
    rhs = np.zeros(len(nodes), complex)

    def stamp(row, col, value):  # current leaving node `row` per volt at node `col`
        if row in idx:
            if col in idx:
                y[idx[row], idx[col]] += value
            else:
                rhs[idx[row]] -= value * fixed[col]

    admittances = [(a, b, g + s * cap) for a, b, g, cap in branches]
    admittances += [(d, src, 1 / ro) for d, _, src, _, ro in mos]
    for a, b, adm in admittances:
        for row, sign in ((a, 1), (b, -1)):
            stamp(row, a, sign * adm)
            stamp(row, b, -sign * adm)
    for d, g, src, gm, _ in mos:
        for row, sign in ((d, 1), (src, -1)):
            stamp(row, g, sign * gm)
            stamp(row, src, -sign * gm)
    for node, current in ((pos, i_test_a), (neg, -i_test_a)):
        if node in idx:
            rhs[idx[node]] += current
    v = np.linalg.solve(y, rhs)
    return (v[idx[pos]] if pos in idx else 0.0) - (v[idx[neg]] if neg in idx else 0.0)


def _evaluate(p: DiffPairParams) -> DiffPairResult:
    """Solve one parameter set with its mismatch signs as given."""
    a_d = float(abs(_port_voltage(p, 0.5, -0.5)))
    matched = not any(getattr(p, name) for name in MISMATCH_FIELDS)
    # Ideal tail and no mismatch: A_cm = 0 by symmetry; drop the solver's rounding residue.
    a_cm = 0.0 if matched and math.isinf(p.r_tail_ohm) else float(abs(_port_voltage(p, 1.0, 1.0)))
    per_side = 0.5 if p.load == "resistive" else 1.0
    r_out = per_side * float(abs(_port_voltage(p, 0.0, 0.0, i_test_a=1.0)))
    f_pole = 1 / (2 * math.pi * r_out * p.c_load_f)

    def above_half_power(f_hz):
        return abs(_port_voltage(p, 0.5, -0.5, 2j * math.pi * f_hz)) - a_d / math.sqrt(2)

    f_3db = brentq(above_half_power, f_pole / 10, f_pole * 10, rtol=1e-12)
    return DiffPairResult(
        r_out_ohm=r_out, a_d_v_per_v=a_d, a_cm_v_per_v=a_cm,
        cmrr_db=math.inf if a_cm == 0 else 20 * math.log10(a_d / a_cm), f_3db_hz=f_3db,
        f_t_hz=p.gm_s / (2 * math.pi * p.c_load_f), gbw_hz=a_d * f_3db, evaluated=p)


def design(params: DiffPairParams, *, polarity: str = "worst") -> DiffPairResult:
    """Differential gain, common-mode gain, CMRR and bandwidth of a differential pair.

    Parameters
    ----------
    params : DiffPairParams
    polarity : {"worst", "best", "given"}, default "worst"
        ``"worst"`` / ``"best"``: every mismatch is taken with magnitude
        ``|eps|`` and each sign combination is solved; the one with the lowest
        (highest) CMRR is returned, as the rest of ecgfe reports worst cases.
        ``"given"``: the signs in ``params`` are used as they are.

    Returns
    -------
    DiffPairResult
        ``a_d_v_per_v`` and ``a_cm_v_per_v`` are magnitudes;
        ``evaluated`` holds the signs used.

    Notes
    -----
    **Model.** Each MOSFET is the hybrid-pi model with ``r_o`` and no body
    effect, drain-to-source current ``g_m (v_g - v_s) + (v_d - v_s)/r_o``
    (Sedra & Smith, Microelectronic Circuits, 7th ed., ch. 7; Razavi, Design
    of Analog CMOS Integrated Circuits, ch. 2-3). Supplies, bias and cascode
    gates are ac ground; ``C_L`` is the only capacitor. The nodal equations
    ``Y(s) v = i`` of the whole circuit are solved exactly (linear solve): no
    ``2 g_m R_SS >> 1`` or ``g_m r_o >> 1`` approximation. ``A_d = v_out/v_id``
    for ``v_g1 = -v_g2 = v_id/2``, ``A_cm = v_out/v_cm`` for
    ``v_g1 = v_g2 = v_cm``, ``CMRR = 20 log10(A_d/A_cm)``. ``R_out``: at the
    output with the gates grounded (resistive: per side, half the
    differential value). ``f_3dB``: root of ``|A_d(f)| = A_d/sqrt(2)``.
    ``GBW = A_d f_3dB``. ``f_T = g_m/(2 pi C_L)``, the unity-gain frequency
    of ``g_m`` into ``C_L`` (not the device transit frequency).

    **Closed forms reproduced** (matched unless noted; ``||`` parallel).
    Resistive (Razavi ch. 4; Sedra & Smith ch. 9), exact:
    ``A_d = g_m (R_D || r_o)``, ``R_out = R_D || r_o``, ``f_3dB = 1/(2 pi R_out C_L)``.
    Active load (Razavi ch. 5, active current mirrors; Sedra & Smith ch. 9):
    ``A_d ~ g_m (r_on || r_op)``, ``R_out ~ r_on || r_op``, within ``1/(g_m r_o)``.
    Cascode pair and cascode mirror (Razavi ch. 5; Sedra & Smith ch. 8,
    ``R_o = 2 r_o + g_m r_o^2``): ``R_out ~ [(g_m r_on + 2) r_on] || [(g_m r_op + 2) r_op]``.
    Common mode: each side carries ``i_cm/v_cm = g_m/D``,
    ``D = 1 + 2 g_m R_SS + (Z + 2 R_SS)/r_on`` (a stage degenerated by
    ``2 R_SS`` into drain impedance ``Z``; Razavi ch. 3). Matched resistive
    pair: ``A_cm = 0``. Matched mirror: ``v_out`` equals the diode node by
    symmetry, so ``A_cm = g_m Z/D`` exactly with ``Z = 1/g_mp || r_op``,
    about ``1/(2 g_mp R_SS)`` (Sedra & Smith; Razavi); the cascode mirror's
    two stacked diodes give about ``1/(g_mp R_SS)`` (derived here). First
    order in the signed mismatches (derived here from the nodal equations):

    - resistive, ``Z = R_D``: ``A_cm = eps_R R_D (g_m/D) r_o/(R_D + r_o)
      + eps_gm g_m (R_D || r_o)(1 + (R_D + 2 R_SS)/r_o)/D``; for ``r_o -> inf``
      Razavi's ``Delta R_D/(1/g_m + 2 R_SS)`` and ``Delta g_m R_D/(1 + 2 g_m R_SS)``;
    - active and cascode, roughly (within 10 %): ``A_cm = A_cm,matched
      - eps_gm R_out (1/r_on + 1/(2 R_SS)) - eps_m R_out/(2 R_SS)``.

    The ``1/r_on`` terms: ``V_GS`` moves by about
    ``v_cm (1/(g_m r_o) + 1/(2 g_m R_SS))``, so ``g_m`` mismatch costs more
    than the ``r_o``-free textbook results say, and even an ideal tail gives
    ``CMRR ~ g_m r_o/|eps_gm|``. Signs decide whether mismatch terms add to
    or cancel others, hence ``polarity``. Ideal tail, no mismatch:
    ``A_cm = 0`` by symmetry, ``CMRR = inf``.

    **Frequency.** Active and cascode outputs hold the one capacitor, so the
    response is one pole at ``1/(2 pi R_out C_L)`` and
    ``GBW = (A_d/R_out)/(2 pi C_L)``, within ``1/(g_m r_o)`` of ``f_T``;
    doubling ``R_out`` doubles the gain and halves the bandwidth (facts.md
    section 4). Agreement with ngspice: about 1e-6 (tests/data/diffpair/).
    """
    check_option("polarity", polarity, POLARITIES)
    if polarity == "given":
        return _evaluate(params)
    magnitudes = [abs(float(getattr(params, name))) for name in MISMATCH_FIELDS]
    cases = sorted({tuple(s * m if m else 0.0 for s, m in zip(signs, magnitudes))
                    for signs in itertools.product((1, -1), repeat=len(MISMATCH_FIELDS))}, reverse=True)
    results = [_evaluate(replace(params, **dict(zip(MISMATCH_FIELDS, case)))) for case in cases]
    return (min if polarity == "worst" else max)(results, key=lambda r: r.cmrr_db)


def summarize(params: DiffPairParams, *, polarity: str = "worst") -> dict:
    """One design as a flat dict with unit-suffixed keys (a row for ``ecgfe design diffpair``).

    Returns
    -------
    dict
        The solved inputs (every :class:`DiffPairParams` field, with the
        mismatch signs ``polarity`` chose, so ``gm_s``, ``ro_n_ohm`` and
        ``ro_p_ohm`` are the resolved values for device-level designs), then
        ``polarity``, ``r_out_ohm``, ``a_d_v_per_v``, ``a_d_db``,
        ``a_cm_v_per_v``, ``cmrr_db`` (``inf`` for an ideal, matched pair),
        ``f_3db_hz``, ``f_t_hz`` and ``gbw_hz``. Plain floats, strings and None.
    """
    r = design(params, polarity=polarity)
    row = {f.name: getattr(r.evaluated, f.name) for f in fields(r.evaluated)}
    row.update(polarity=polarity, r_out_ohm=r.r_out_ohm, a_d_v_per_v=r.a_d_v_per_v,
               a_d_db=20 * math.log10(r.a_d_v_per_v), a_cm_v_per_v=r.a_cm_v_per_v,
               cmrr_db=r.cmrr_db, f_3db_hz=r.f_3db_hz, f_t_hz=r.f_t_hz, gbw_hz=r.gbw_hz)
    return {k: float(v) if isinstance(v, (int, float)) else v for k, v in row.items()}


def summarize_loads(source, *, polarity: str = "worst") -> dict[str, dict]:
    """The three loads side by side from one table: ``{load: summarize(...)}``.

    Parameters
    ----------
    source : mapping, str or path-like
        As for :func:`load_design`, without a ``load`` key. ``r_d_ohm`` and
        ``r_d_mismatch_fraction`` are used for the resistive column only,
        ``mirror_mismatch_fraction`` for the active and cascode columns.
    polarity : {"worst", "best", "given"}
        As for :func:`design`.
    """
    table = read_table(source)
    if "load" in table:
        raise ValueError(f"summarize_loads compares every load; remove the 'load' key "
                         f"(got load={table['load']!r}).")
    return {load: summarize(load_design(table_for_load(table, load)), polarity=polarity) for load in LOADS}


def table_for_load(table: Mapping, load: str) -> dict:
    """``table`` with ``load`` set and only the keys that apply to it.

    ``r_d_ohm`` and ``r_d_mismatch_fraction`` are kept for the resistive
    load only, ``mirror_mismatch_fraction`` for the active and cascode loads.
    """
    drop = ("mirror_mismatch_fraction",) if load == "resistive" else ("r_d_ohm", "r_d_mismatch_fraction")
    return {**{k: v for k, v in table.items() if k not in drop}, "load": check_option("load", load, LOADS)}


def sweep_design(base_kwargs, key: str, values: Iterable, *, polarity: str = "worst") -> list[dict]:
    """Vary one input of a design: one :func:`summarize` row per value.

    Parameters
    ----------
    base_kwargs : mapping, str or path-like
        The design as for :func:`load_design` (small-signal or device-level keys).
    key : str
        The input to vary, e.g. ``"l_m"`` or ``"r_tail_ohm"``; it replaces
        (or adds to) the base table's entry.
    values : iterable
        Its values.
    polarity : {"worst", "best", "given"}
        As for :func:`design`.

    Returns
    -------
    list of dict
        ``{key: value, **summarize(...)}`` per value, in order.
    """
    base = read_table(base_kwargs)
    if key not in _ALL_KEYS:
        raise ValueError(f"cannot sweep unknown key {key!r}.{suggest(key, _ALL_KEYS)}")
    return [{key: v, **summarize(load_design({**base, key: v}), polarity=polarity)} for v in values]


def load_design(source) -> DiffPairParams:
    """Differential-pair parameters from a TOML file, a TOML inline table or a mapping.

    Parameters
    ----------
    source : mapping, str or path-like
        A mapping; a string starting with ``{`` (a TOML inline table such as
        ``"{gm_s = 1e-3, ro_n_ohm = 1e5, load = 'active'}"``); or the path of a
        TOML file with the keys at top level. Keys: the fields of
        :class:`DiffPairParams`, where ``gm_s``, ``ro_n_ohm`` and ``ro_p_ohm``
        may be replaced by the fields of
        :class:`~frontend_models.mosfet.DeviceParams` (``id_a``, ``l_m``,
        ``lambda0_per_v``, ``l0_m`` and ``w_over_l`` with ``mu_cox_a_per_v2``
        or ``v_ov_v``; optional ``n_slope``), converted by :func:`from_device`.

    Raises
    ------
    ValueError
        One line naming the problem: an unknown key (with a suggestion), a
        non-numeric value, small-signal and device-level keys mixed, missing
        keys, or inconsistent ones (e.g. a resistive load without ``r_d_ohm``).
    """
    table = read_table(source)
    for k, v in table.items():
        if k not in _ALL_KEYS:
            raise ValueError(f"unknown diff-pair key {k!r}.{suggest(k, _ALL_KEYS)}")
        if k != "load" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ValueError(f"{k} must be a number; got {v!r}.")
    small = [k for k in table if k in _SMALL_SIGNAL_KEYS]
    device = [k for k in table if k in _DEVICE_KEYS]
    if small and device:
        raise ValueError(f"give small-signal keys (gm_s, ro_n_ohm, ro_p_ohm) or device-level keys "
                         f"({', '.join(_DEVICE_KEYS)}), not both; got {', '.join(small + device)}.")
    missing = [k for k in (_DEVICE_REQUIRED if device else ("gm_s", "ro_n_ohm")) if k not in table]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}: give gm_s and ro_n_ohm (small-signal) or "
                         f"{', '.join(_DEVICE_REQUIRED)} with w_over_l and mu_cox_a_per_v2 or v_ov_v.")
    circuit = {k: v for k, v in table.items() if k in _CIRCUIT_KEYS}
    if device:
        return from_device(DeviceParams(**{k: table[k] for k in device}), **circuit)
    return DiffPairParams(**{k: table[k] for k in small}, **circuit)


def read_table(source) -> dict:
    """A flat dict from a mapping, a TOML inline-table string or a TOML file path (as given)."""
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        try:
            table = tomllib.loads(f"t = {source}")["t"]
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"not a valid TOML inline table: {err}") from None
        return table
    path = os.fspath(source)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    except OSError as err:
        raise ValueError(f"cannot read the design file {path}: {err.strerror or err}.") from None


def to_inamp_params(result: DiffPairResult) -> dict:
    """Gain, CMRR and bandwidth of a designed pair, as keyword arguments for an amplifier.

    Returns
    -------
    dict
        ``{"gain_v_per_v": A_d, "cmrr_db": CMRR, "bandwidth_hz": f_3dB}``:
        the fields of ``frontend_models.inamp.InAmpParams`` with those names,
        so ``InAmpParams(**to_inamp_params(r), ...)`` builds a stage from the
        design. A plain dict keeps this module free of a dependency on the
        amplifier model. ``cmrr_db`` is ``inf`` for an ideal, matched pair.
    """
    return {"gain_v_per_v": result.a_d_v_per_v, "cmrr_db": result.cmrr_db,
            "bandwidth_hz": result.f_3db_hz}
