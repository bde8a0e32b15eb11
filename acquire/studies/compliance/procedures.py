"""The seven bench tests of the standards and :func:`run_compliance`, which runs them on a configured device."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acquire._check import check_positive
from acquire.analog.impedance import ElectrodeImpedance
from acquire.frontend import body_params
from acquire.studies.compliance.fixture import LEADS, Bench, Fixture, periodic_pv, saturation, tone_amplitudes_v
from acquire.studies.compliance.standards import TESTS, Limit, Standard, load_standard

#: Shortest observation window of a sine measurement, s, and fewest cycles in it.
MIN_WINDOW_S, MIN_CYCLES = 2.0, 3


@dataclass(frozen=True)
class ComplianceRow:
    """One test condition's result.

    ``measured``, ``limit`` and ``margin`` are in ``unit`` (display units:
    mV, µV, %, dB); ``relation`` is ``"<="`` or ``">="``; ``margin`` is
    positive on the passing side. ``margin_db`` is the margin in dB, so that
    the tests of a standard can be compared (the presets x standards
    matrix): ``20 log10(limit / measured)`` for a magnitude that must stay
    at or below its limit (amplitudes, and errors, drops and changes in %;
    inf when nothing was measured), ``measured - limit`` (``>=``) or
    ``limit - measured`` (``<=``) for a response already in dB. It is
    >= 0 exactly when the row passes.
    ``verdict`` is "pass", "fail", or "saturated" when a stage clipped: the
    output of a clipped device is not its linear response, so a saturated
    row has no measured value, no margin (all None; the note names the
    clipped stage) and fails.
    ``assumption`` is True when the limit or the set-up rests on an
    unconfirmed number.
    """

    test: str
    condition: str
    measured: float | None
    limit: float
    unit: str
    relation: str
    margin: float | None
    margin_db: float | None
    passed: bool
    source: str
    assumption: bool
    note: str = ""
    verdict: str = "pass"


@dataclass
class ComplianceReport:
    """All rows of one standard's tests on one device, and the waveforms for the figures."""

    standard: Standard
    device: dict
    rows: list[ComplianceRow]
    figures: dict[str, dict]
    duration_scale: float
    settle_s: float

    @property
    def passed(self) -> bool:
        """True when every row passed."""
        return all(r.passed for r in self.rows)

    @property
    def exit_code(self) -> int:
        """0 when everything passed, 3 when a test failed (the CLI's convention)."""
        return 0 if self.passed else 3

    def worst(self) -> list[ComplianceRow]:
        """The row of smallest margin of each test, in test order."""
        out = {}
        for r in self.rows:
            if r.test not in out or _rank(out[r.test]) > _rank(r):
                out[r.test] = r
        return list(out.values())


def _rank(row: ComplianceRow) -> tuple:
    """Sort key, worst first: saturated, then failed, then by margin."""
    return (row.verdict != "saturated", row.passed, -math.inf if row.margin is None else row.margin)


def _row(test: str, condition: str, measured: float, limit: Limit, section: Mapping, *, scale: float,
         unit: str, relation: str = "<=", clipped: int = 0, note: str = "", in_db: bool = False):
    """A row from SI ``measured`` and ``limit`` shown in ``unit`` (multiplied by ``scale``).

    ``in_db``: ``measured`` and the limit are already in dB (a response);
    otherwise they are magnitudes with a ``"<="`` limit (see :class:`ComplianceRow`).
    """
    m, lim = measured * scale, limit.value * scale
    margin = lim - m if relation == "<=" else m - lim
    if in_db:
        margin_db = margin
    elif relation != "<=":
        raise ValueError(f"{test}: a '>=' limit needs a response in dB (in_db=True).")
    else:  # a magnitude at or below 0 (e.g. a drop that is a rise) is unboundedly within its limit
        margin_db = math.inf if m <= 0 else 20 * math.log10(lim / m)
    notes = [n for n in (note, limit.note, section["note"] if section["assumption"] else "") if n]
    verdict = "saturated" if clipped else "pass" if margin >= 0 else "fail"
    if clipped:
        m = margin = margin_db = None
    return ComplianceRow(test, condition, m, lim, unit, relation, margin, margin_db, verdict == "pass",
                         limit.source, limit.assumption or section["assumption"], "; ".join(notes), verdict)


def _mv(v: float) -> str:
    return f"{v * 1e3:+g} mV" if v else "0 mV"


def _sine(amplitude_v: float, f_hz: float, n: int, fs_hz: float) -> np.ndarray:
    return amplitude_v * np.sin(2 * np.pi * f_hz * np.arange(n) / fs_hz)


def _window_n(bench: Bench, f_hz: float) -> int:
    """Simulation samples of settling plus a window of whole cycles (>= MIN_CYCLES, >= MIN_WINDOW_S)."""
    cycles = max(MIN_CYCLES, math.ceil(MIN_WINDOW_S * f_hz))
    return int(round((bench.settle_s + cycles / f_hz) * bench.fs_sim_hz))


def _ratio(a: float, b: float) -> float:
    """``a / b``, or 0 when the reference amplitude ``b`` is 0 (a saturated reference run)."""
    return a / b if b > 0 else 0.0


def _tail(bench: Bench, y: np.ndarray) -> np.ndarray:
    """The output after the settling time."""
    return y[int(math.ceil(bench.settle_s * bench.fs_out_hz)):]


def _cmr(bench, sec, duration_scale):
    lim = sec["limit_pv_v"]
    window_s = max(1, round(sec["window_s"] * duration_scale))
    n = int(round((bench.settle_s + window_s) * bench.fs_sim_hz))
    net = ElectrodeImpedance(0.0, sec["network_r_ohm"], sec["network_c_f"])
    # the network in each lead in turn, the reference electrode too when the device has one
    leads = [lead for lead in LEADS if lead != "rl" or body_params(bench.cfg).grounded]
    rows, worst = [], None
    for f in sec["mains_hz"]:
        for off in sec["offsets_v"]:
            for lead in leads:
                fx = Fixture(network=net, network_lead=lead, offset_v=off, cm_v_rms=sec["cm_v_rms"], mains_hz=f,
                             generator_c_f=sec["generator_c_f"], node_c_f=sec["node_c_f"])
                y, counts = bench.response(fx, None, n)
                y = y[y.size - int(round(window_s * bench.fs_out_hz)):]
                pv = periodic_pv(y)
                clipped, note = saturation(counts)
                v_in = bench.common_mode_v_rms(fx)
                cond = f"{sec['cm_v_rms']:g} V rms {f:g} Hz, {_mv(off)}, network on {_LEAD_NAMES[lead]}"
                rows.append(_row("cmr", cond, pv, lim, sec, scale=1e3, unit="mV p-v", clipped=clipped,
                                 note=f"window {window_s:g} s; {v_in:.4g} V rms at the inputs"
                                      + (f"; {note}" if note else "")))
                if worst is None or pv > worst[0]:
                    worst = (pv, f, y, v_in, cond)
    pv, f, y, v_in, cond = worst
    t = np.arange(y.size) / bench.fs_out_hz
    show = t < min(t[-1], 10 / f + 1e-9)
    cm = math.sqrt(2) * v_in * np.cos(2 * np.pi * f * t[show])
    fig = {"kind": "compliance", "t_s": t[show], "input_v": cm, "output_v": y[show], "limit_v": lim.value,
           "limit_kind": "pp", "title": f"CMR: worst case at {f:g} Hz (10 periods shown)", "condition": cond,
           "window_s": (t[show][0], t[show][-1]),
           "window_label": f"measurement window: the last {window_s:g} s (its first 10 periods shown)"}
    return rows, fig


#: How a CMR condition names the lead that carries the network.
_LEAD_NAMES = {"-": "- input", "+": "+ input", "rl": "reference electrode"}


def _noise(bench, sec, duration_scale):
    lim = sec["limit_pv_v"]
    n_win, win_s = sec["n_windows"], sec["window_s"]
    n = int(round((bench.settle_s + n_win * win_s) * bench.fs_sim_hz))
    net = ElectrodeImpedance(0.0, sec["network_r_ohm"], sec["network_c_f"])
    y, counts = bench.response(Fixture(network=net, both_electrodes=True, noise=True), None, n)
    m = int(round(win_s * bench.fs_out_hz))
    windows = y[y.size - n_win * m:].reshape(n_win, m)
    pv = np.ptp(windows, axis=1)
    k = sec["min_passing"]
    if k > n_win:
        raise ValueError(f"noise.min_passing={k} exceeds noise.n_windows={n_win}.")
    decisive = float(np.sort(pv)[k - 1])
    clipped, note = saturation(counts)
    n_ok = int(np.count_nonzero(pv <= lim.value))
    text = (f"{n_ok} of {n_win} windows within the limit (need {k}); p-v {pv.min() * 1e6:.3g} to "
            f"{pv.max() * 1e6:.3g} µV; rms {np.std(windows) * 1e6:.3g} µV" + (f"; {note}" if note else ""))
    cond = f"inputs tied through the network, {n_win} x {win_s:g} s, {k}th smallest p-v"
    rows = [_row("noise", cond, decisive, lim, sec, scale=1e6, unit="µV p-v", clipped=clipped, note=text)]
    w = windows[int(np.argsort(pv)[k - 1])]  # the decisive window: its p-v is the row's measured value
    fig = {"kind": "compliance", "t_s": np.arange(m) / bench.fs_out_hz, "input_v": np.zeros(m), "output_v": w,
           "limit_v": lim.value, "limit_kind": "pp", "condition": cond,
           "title": f"System noise: the decisive {win_s:g} s window ({k}th smallest p-v of {n_win})",
           "window_s": (0.0, (m - 1) / bench.fs_out_hz), "window_label": f"one of the {n_win} measurement windows"}
    return rows, fig


def _amplitude(bench, fx, amplitude_v, f_hz):
    """Output amplitude RTI of a sine through the fixture, the counts, and the measured window."""
    n = _window_n(bench, f_hz)
    y, counts = bench.response(fx, _sine(amplitude_v, f_hz, n, bench.fs_sim_hz), n)
    y = _tail(bench, y)
    return float(tone_amplitudes_v(y, bench.fs_out_hz, [f_hz])[0]), counts, y


def _input_impedance(bench, sec, duration_scale):
    lim = sec["limit_drop"]
    net = ElectrodeImpedance(0.0, sec["network_r_ohm"], sec["network_c_f"])
    rows, worst = [], None
    for f in sec["frequencies_hz"]:
        for off in sec["offsets_v"]:
            a_ref, ref_counts, _ = _amplitude(bench, Fixture(offset_v=off), sec["amplitude_v"], f)
            a_net, counts, y = _amplitude(bench, Fixture(network=net, offset_v=off, divider=True),
                                          sec["amplitude_v"], f)
            drop = 1.0 - _ratio(a_net, a_ref)
            clipped, note = saturation({k: max(v, ref_counts[k]) for k, v in counts.items()})
            cond = f"{f:g} Hz, {_mv(off)}, network in series with one electrode"
            rows.append(_row("input_impedance", cond, drop, lim, sec, scale=100.0, unit="% drop", clipped=clipped,
                             note="; ".join(x for x in (note, "same for either electrode (symmetric divider)") if x)))
            if worst is None or drop > worst[0]:
                worst = (drop, f, y, cond)
    drop, f, y, cond = worst
    t = np.arange(y.size) / bench.fs_out_hz
    show = t < MIN_CYCLES / f
    fig = {"kind": "compliance", "t_s": t[show], "input_v": _sine(sec["amplitude_v"], f, y.size, bench.fs_out_hz)[show],
           "output_v": y[show], "limit_v": (1 - lim.value) * sec["amplitude_v"], "limit_kind": "peak",
           "title": f"Input impedance: {f:g} Hz through the network (peaks must reach the dashed lines)",
           "condition": cond, "window_s": (t[show][0], t[show][-1]),
           "window_label": f"measurement window after {bench.settle_s:.3g} s of settling (first {MIN_CYCLES} cycles)"}
    return rows, fig


def _frequency_response(bench, sec, duration_scale):
    points = sec["points"]
    freqs = [sec["reference_hz"], *(p["f_hz"] for p in points)]
    for f in freqs:
        if not f < bench.fs_out_hz / 2:
            raise ValueError(f"frequency_response point {f:g} Hz is at or above the output Nyquist "
                             f"frequency {bench.fs_out_hz / 2:g} Hz.")
    f_min = min(freqs)
    n = int(round((bench.settle_s + max(MIN_WINDOW_S, MIN_CYCLES / f_min)) * bench.fs_sim_hz))
    t = np.arange(n) / bench.fs_sim_hz
    x = sec["amplitude_v"] * np.sin(2 * np.pi * np.outer(freqs, t)).sum(axis=0)
    y, counts = bench.response(Fixture(), x, n)
    amps = tone_amplitudes_v(_tail(bench, y), bench.fs_out_hz, freqs)
    ratios = amps[1:] / amps[0]
    clipped, note = saturation(counts)
    rows = []
    for p, r in zip(points, ratios):
        lo, hi = p["min_ratio"], p["max_ratio"]
        lower = r - lo <= hi - r
        limit = Limit(20 * math.log10(lo) if lower and lo > 0 else 20 * math.log10(hi) if not lower else -math.inf,
                      p["source"], p["assumption"], p["note"])
        m_db = 20 * math.log10(r) if r > 0 else -math.inf
        cond = f"{p['f_hz']:g} Hz re {sec['reference_hz']:g} Hz (allowed {lo * 100:.4g} to {hi * 100:.4g} %)"
        rows.append(_row("frequency_response", cond, m_db, limit, sec, scale=1.0, unit="dB",
                         relation=">=" if lower else "<=", clipped=clipped, note=note, in_db=True))
    f_pts = np.array([p["f_hz"] for p in points])
    fig = {"kind": "sweep", "f_hz": f_pts, "measured_db": 20 * np.log10(np.maximum(ratios, 1e-12)),
           "lower_db": 20 * np.log10(np.maximum([p["min_ratio"] for p in points], 1e-12)),
           "upper_db": 20 * np.log10([p["max_ratio"] for p in points]),
           "title": f"Frequency response re {sec['reference_hz']:g} Hz",
           "window_label": f"tones measured over {n / bench.fs_sim_hz - bench.settle_s:.3g} s after "
                           f"{bench.settle_s:.3g} s of settling"}
    return rows, fig


def impulse_measures(y, fs_hz: float, t_end_s: float, gap_s: float, window_s: float) -> tuple[float, float]:
    """Displacement and slope after a pulse ending at ``t_end_s``: (max |y|, |least-squares slope|).

    Both over ``[t_end_s + gap_s, t_end_s + gap_s + window_s]``; the gap
    lets the device's low-pass settle after the trailing edge. For a
    first-order high-pass of time constant tau, a pulse of height A and
    width T leaves y(t) = -A (1 - exp(-T/tau)) exp(-(t - t_end)/tau):
    displacement A (1 - e^(-T/tau)) e^(-gap/tau), and an initial slope
    A (1 - e^(-T/tau))/tau (2.54 mV/s at 0.5 Hz, 0.0291 mV/s at 0.05 Hz
    for 3 mV x 100 ms; :func:`acquire.filters.highpass`).
    """
    t = np.arange(len(y)) / fs_hz
    sel = (t >= t_end_s + gap_s) & (t <= t_end_s + gap_s + window_s)
    if np.count_nonzero(sel) < 3:
        raise ValueError(f"the impulse window [{t_end_s + gap_s:g}, {t_end_s + gap_s + window_s:g}] s holds "
                         f"fewer than 3 output samples; lengthen impulse.window_s.")
    slope = np.polyfit(t[sel], y[sel], 1)[0]
    return float(np.max(np.abs(y[sel]))), float(abs(slope))


def _impulse(bench, sec, duration_scale):
    a, width, gap, win = sec["amplitude_v"], sec["width_s"], sec["gap_s"], sec["window_s"]
    t0 = 0.5
    n = int(round((t0 + width + gap + win + 0.5) * bench.fs_sim_hz))
    t = np.arange(n) / bench.fs_sim_hz
    x = np.where((t >= t0) & (t < t0 + width), a, 0.0)
    y, counts = bench.response(Fixture(), x, n)
    disp, slope = impulse_measures(y, bench.fs_out_hz, t0 + width, gap, win)
    clipped, note = saturation(counts)
    cond = f"{a * 1e3:g} mV x {width * 1e3:g} ms pulse, {gap * 1e3:g} to {(gap + win) * 1e3:g} ms after it"
    rows = [_row("impulse", f"slope, {cond}", slope, sec["limit_slope_v_per_s"], sec, scale=1e3, unit="mV/s",
                 clipped=clipped, note=note),
            _row("impulse", f"displacement, {cond}", disp, sec["limit_displacement_v"], sec, scale=1e3, unit="mV",
                 clipped=clipped, note=note)]
    t_out = bench.time_s(n)[:y.size]
    fig = {"kind": "compliance", "t_s": t_out, "input_v": x[::int(round(bench.fs_sim_hz / bench.fs_out_hz))][:y.size],
           "output_v": y, "limit_v": sec["limit_displacement_v"].value, "limit_kind": "peak",
           "title": "Impulse response: displacement after the pulse within the dashed lines",
           "condition": f"displacement, {cond}", "window_s": (t0 + width + gap, t0 + width + gap + win),
           "window_label": f"measurement window: {gap * 1e3:g} to {(gap + win) * 1e3:g} ms after the pulse"}
    return rows, fig


def _gain(bench, sec, duration_scale):
    a, f = sec["amplitude_v"], sec["f_hz"]
    amp, counts, y = _amplitude(bench, Fixture(), a, f)
    err = amp / a - 1.0
    clipped, note = saturation(counts)
    rows = [_row("gain", f"{a * 1e3:g} mV sine at {f:g} Hz (measured gain {amp / a:.5g} of nominal)", abs(err),
                 sec["limit_error"], sec, scale=100.0, unit="% |error|", clipped=clipped, note=note)]
    return rows, _sine_figure(bench, y, a, f, sec["limit_error"].value, "Gain accuracy", rows[0].condition)


def _sine_figure(bench, y, a, f, tol, title, condition):
    t = np.arange(y.size) / bench.fs_out_hz
    show = t < MIN_CYCLES / f
    return {"kind": "compliance", "t_s": t[show], "input_v": _sine(a, f, y.size, bench.fs_out_hz)[show],
            "output_v": y[show], "limit_v": 2 * a * (1 + tol), "limit_kind": "pp",
            "title": f"{title}: output p-p must stay within the band (+{tol * 100:g} %)", "condition": condition,
            "window_s": (t[show][0], t[show][-1]),
            "window_label": f"measurement window after {bench.settle_s:.3g} s of settling (first {MIN_CYCLES} cycles)"}


def _offset(bench, sec, duration_scale):
    a, f = sec["amplitude_v"], sec["f_hz"]
    ref, ref_counts, _ = _amplitude(bench, Fixture(), a, f)
    rows, worst = [], None
    for off in sec["offsets_v"]:
        amp, counts, y = _amplitude(bench, Fixture(offset_v=off), a, f)
        change = abs(_ratio(amp, ref) - 1.0)
        clipped, note = saturation({k: max(v, ref_counts[k]) for k, v in counts.items()})
        rows.append(_row("offset", f"{_mv(off)} dc, {a * 1e3:g} mV sine at {f:g} Hz", change, sec["limit_change"],
                         sec, scale=100.0, unit="% change", clipped=clipped, note=note))
        if worst is None or (clipped, change) > worst[0]:
            worst = ((clipped, change), y, rows[-1].condition)
    return rows, _sine_figure(bench, worst[1], a, f, sec["limit_change"].value, "Electrode offset tolerance",
                              worst[2])


_RUNNERS = {"cmr": _cmr, "noise": _noise, "input_impedance": _input_impedance,
            "frequency_response": _frequency_response, "impulse": _impulse, "gain": _gain, "offset": _offset}


def run_compliance(cfg: dict, standard: str | Path | Standard, *,
                   progress: Callable[[int, int], None] | None = None,
                   duration_scale: float = 1.0) -> ComplianceReport:
    """Run a standard profile's bench tests on the front end described by ``cfg``.

    Parameters
    ----------
    cfg : dict
        A configuration from :func:`acquire.config.load_config`: the
        ``[amplifier]``, ``[post]``, ``[adc]``, ``[[digital]]`` and ``[run]``
        sections describe the device; ``[source]``, ``[mains]``, ``[body]``
        and ``[electrodes]`` are replaced by each test's fixture.
    standard : str, Path or Standard
        A built-in profile name, a TOML path (:func:`load_standard`), or a
        loaded profile.
    progress : callable(done, total), optional
        Called after each test with the number of tests done and the total.
    duration_scale : float
        Multiplies the CMR observation window (60 s; at least 1 s is kept).
        The common-mode output of the noise-free linear model is periodic
        once settled, so its p-v over 1 s equals that over 60 s; use < 1 to
        save time (e.g. :data:`MATRIX_DURATION_SCALE`). The noise windows
        keep their length (p-v statistics depend on it); the other tests'
        durations are set by their frequencies and the settling time.

    Returns
    -------
    ComplianceReport
        ``report.passed`` / ``report.exit_code`` (0 pass, 3 fail).

    Raises
    ------
    ValueError
        Unknown standard or invalid profile or configuration (naming it).
    """
    std = standard if isinstance(standard, Standard) else load_standard(standard)
    scale = check_positive("duration_scale", duration_scale)
    bench = Bench(cfg)
    rows, figures = [], {}
    names = [t for t in TESTS if t in std.tests]
    for i, name in enumerate(names, 1):
        test_rows, figures[name] = _RUNNERS[name](bench, std.tests[name], scale)
        rows += test_rows
        if progress is not None:
            progress(i, len(names))
    a = bench.amp
    device = {"preset": bench.preset, "gain_v_per_v": bench.device(Fixture()).nominal_gain_v_per_v,
              "cmrr_db": a.cmrr_db, "z_cm_ohm": a.z_cm.r_ohm, "z_cm_f": a.z_cm.c_f,
              "digital": [dict(d) for d in cfg["digital"]], "post": dict(cfg["post"]),
              "fs_sim_hz": bench.fs_sim_hz, "fs_out_hz": bench.fs_out_hz}
    return ComplianceReport(std, device, rows, figures, scale, bench.settle_s)
