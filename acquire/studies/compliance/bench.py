"""Virtual compliance bench: the standards' front-end bench tests run on a modelled front end.

IEC 60601-2-25 / 60601-2-27 and ANSI/AAMI EC11 / EC13 prescribe bench tests
for electrocardiograph front ends. :func:`run_compliance` builds each test's
fixture around the configured device (amplifier, post-amplifier stages, ADC
and the configured digital stages: the standards test the whole
electrocardiograph, so the digital filters are part of the device), applies
the test signal, measures the output referred to the input (divided by
``Frontend.nominal_gain_v_per_v``) and compares it with the limits of one
standard profile. The limits live in one TOML file per profile in
``acquire/studies/compliance/standards/`` (:func:`load_standard`); a user may pass the path of
an edited copy.

Tests (set-ups and sources in the profile files):

1. ``cmr``: every electrode tied to a node at ``cm_v_rms`` (10 V rms) of line
   frequency, ``network`` (51 kOhm || 47 nF) in series with each lead's
   negative and then positive input, with 0 and +-300 mV dc; output p-v
   over ``window_s``.
2. ``noise``: inputs tied through the network, ten 10 s windows, at least
   nine within the p-v limit.
3. ``input_impedance``: 620 kOhm || 4.7 nF in series with an electrode,
   amplitude drop at each frequency, with and without +-300 mV.
4. ``frequency_response``: a multisine; response at each point relative to
   ``reference_hz``.
5. ``impulse``: 3 mV x 100 ms pulse; displacement and slope after it.
6. ``gain``: 1 mV sine at 10 Hz; gain error.
7. ``offset``: the gain test with +-300 mV dc; amplitude change and
   saturation.

Method, common to every test:

* The node voltage of the CMR fixture is the trimmed ``cm_v_rms`` (body
  ``mode="direct"``); the loading of the node by the device is neglected
  and the 10 V is taken to sit at the amplifier inputs (the stricter,
  non-isolated reading). Leads are independent in the model, so one lead
  stands for every lead.
* Every run is paired with a run of the same fixture without the stimulus
  (no common mode, no test signal, or no noise) and the two outputs are
  subtracted. In the linear model this removes the settling of the dc
  terms (electrode offsets, bias currents, V_os) through the high-pass
  stages, which a real device finishes before it is measured, and leaves
  exactly the response to the stimulus. Saturation is checked on the run
  with the stimulus: any clipped sample (amplifier swing, second stage,
  ADC range) fails the condition. Excursions outside the amplifier's input
  common-mode range are reported in the note but do not fail: the model
  only counts them, and in an isolated device the 10 V sits across the
  isolation barrier rather than at the inputs.
* Except in the noise test, the device's noise sources (amplifier voltage
  and current noise, ADC noise) are off, so each test measures its own
  effect; noise is measured by the noise test.
* Measurements start after the device's settling time, the longest
  1 %-settling time of its stages (:func:`settling_time_s`).
* The fixture's resistors' thermal noise (kT/C of each 47 nF network,
  about 0.3 uV rms) is not modelled.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from acquire._check import check_positive, suggest
from acquire.analog.post import AcCoupling, AnalogSosStage
from acquire.analog.electrodes import ElectrodeParams, ElectrodeStage
from acquire.digital.filters import SETTLING_FRACTION
from acquire.frontend import SEED_STREAMS, build_frontend, lumped
from acquire.analog.impedance import ElectrodeImpedance, ParallelRC
from acquire.runner import Frontend, run
from acquire.stage import Chain
from frontend_models.inamp import InAmpParams, InstrumentationAmplifier

#: Folder of the built-in standard profiles, one TOML file each.
STANDARDS_DIR = Path(__file__).with_name("standards")
#: The tests, in report order.
TESTS = ("cmr", "noise", "input_impedance", "frequency_response", "impulse", "gain", "offset")
#: Oversampling of the CMR output before its p-v is read (band-limited reconstruction).
CMR_OVERSAMPLE = 32
#: ``duration_scale`` used by :func:`preset_compliance_matrix`: the 60 s CMR window becomes 6 s.
MATRIX_DURATION_SCALE = 0.1
#: Shortest observation window of a sine measurement, s, and fewest cycles in it.
MIN_WINDOW_S, MIN_CYCLES = 2.0, 3

_NUM, _NUMS, _INT, _STR, _BOOL, _LIMIT = "number", "list of numbers", "integer", "string", "bool", "limit"
_SETUP = {"source": _STR, "assumption": _BOOL}
_OPTIONAL = {"note", "fixture"}
#: Keys of each test section (all required except ``note``).
SCHEMA = {
    "cmr": {"cm_v_rms": _NUM, "mains_hz": _NUMS, "network_r_ohm": _NUM, "network_c_f": _NUM,
            "offsets_v": _NUMS, "window_s": _NUM, "fixture": _STR, "limit_pv_v": _LIMIT},
    "noise": {"network_r_ohm": _NUM, "network_c_f": _NUM, "n_windows": _INT, "window_s": _NUM,
              "min_passing": _INT, "limit_pv_v": _LIMIT},
    "input_impedance": {"network_r_ohm": _NUM, "network_c_f": _NUM, "frequencies_hz": _NUMS,
                        "offsets_v": _NUMS, "amplitude_v": _NUM, "limit_drop": _LIMIT},
    "frequency_response": {"reference_hz": _NUM, "amplitude_v": _NUM, "points": "points"},
    "impulse": {"amplitude_v": _NUM, "width_s": _NUM, "gap_s": _NUM, "window_s": _NUM,
                "limit_slope_v_per_s": _LIMIT, "limit_displacement_v": _LIMIT},
    "gain": {"amplitude_v": _NUM, "f_hz": _NUM, "limit_error": _LIMIT},
    "offset": {"offsets_v": _NUMS, "amplitude_v": _NUM, "f_hz": _NUM, "limit_change": _LIMIT},
}
_LIMIT_KEYS = {"value": _NUM, "source": _STR, "assumption": _BOOL}
_POINT_KEYS = {"f_hz": _NUM, "min_ratio": _NUM, "max_ratio": _NUM, "source": _STR, "assumption": _BOOL}


# ----------------------------------------------------------------------------- standard profiles

@dataclass(frozen=True)
class Limit:
    """One limit of a standard profile, with its source.

    ``assumption`` is True where the reference facts mark the number
    unconfirmed or it was inferred; the report labels such rows.
    """

    value: float
    source: str
    assumption: bool
    note: str = ""


@dataclass(frozen=True)
class Standard:
    """A standard profile: name, title, and the set-up and limits of each test it defines.

    ``tests`` maps a test name (see :data:`TESTS`) to its section: set-up
    values, ``source``/``assumption``/``note`` of the set-up, :class:`Limit`
    objects under ``limit_*`` keys, and for ``frequency_response`` a list of
    ``points`` (dicts with ``f_hz``, ``min_ratio``, ``max_ratio``, ``source``,
    ``assumption``, ``note``).
    """

    name: str
    title: str
    path: Path
    tests: Mapping[str, Mapping[str, object]]


def standard_names() -> list[str]:
    """Names of the built-in standard profiles, sorted."""
    return sorted(p.stem for p in STANDARDS_DIR.glob("*.toml"))


def _typed(where: str, key: str, kind: str, value):
    """``value`` checked against ``kind``; ValueError naming ``where.key`` otherwise."""
    def bad():
        return ValueError(f"{where}.{key} must be a {kind}; got {value!r}.")

    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _NUM:
        if not is_num or not math.isfinite(value):
            raise bad()
        return float(value)
    if kind == _NUMS:
        if not isinstance(value, list) or not value:
            raise bad()
        return tuple(_typed(where, key, _NUM, v) for v in value)
    if kind == _INT:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}.{key} must be an integer >= 1; got {value!r}.")
        return value
    if kind == _STR:
        if not isinstance(value, str):
            raise bad()
        return value
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind == _LIMIT:
        table = _table(f"{where}.{key}", value, _LIMIT_KEYS)
        return Limit(**table)
    if not isinstance(value, list) or not value:  # points
        raise ValueError(f"{where}.{key} must be a non-empty array of tables [[{where}.{key}]]; got {value!r}.")
    points = [_table(f"{where}.{key}[{i}]", p, _POINT_KEYS) for i, p in enumerate(value)]
    for i, p in enumerate(points):
        if not 0 <= p["min_ratio"] < p["max_ratio"]:
            raise ValueError(f"{where}.{key}[{i}] needs 0 <= min_ratio < max_ratio; got "
                             f"{p['min_ratio']!r}, {p['max_ratio']!r}.")
        check_positive(f"{where}.{key}[{i}].f_hz", p["f_hz"])
    return points


def _table(where: str, table, keys: Mapping[str, str]) -> dict:
    """A TOML table checked against ``keys`` (all required) plus the optional keys."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table; got {table!r}.")
    allowed = set(keys) | _OPTIONAL
    for key in table:
        if key not in allowed:
            raise ValueError(f"unknown key {where}.{key}; allowed: {', '.join(sorted(allowed))}."
                             f"{suggest(key, allowed)}")
    missing = [k for k in keys if k not in table]
    if missing:
        raise ValueError(f"{where} is missing {', '.join(missing)}.")
    out = {k: _typed(where, k, kind, table[k]) for k, kind in keys.items()}
    out.update({k: _typed(where, k, _STR, table[k]) for k in _OPTIONAL if k in table})
    out.setdefault("note", "")
    return out


def _parse_standard(data: dict, path: Path) -> Standard:
    where = path.name
    for key in data:
        if key not in ("name", "title", *TESTS):
            raise ValueError(f"{where}: unknown key or test {key!r}; allowed: name, title, "
                             f"{', '.join(TESTS)}.{suggest(key, TESTS)}")
    tests = {name: _table(f"{where}: [{name}]", data[name], {**SCHEMA[name], **_SETUP})
             for name in TESTS if name in data}
    if not tests:
        raise ValueError(f"{where} defines no test; give at least one of {', '.join(TESTS)}.")
    for name, section in tests.items():
        for key, value in section.items():
            if key.endswith(("_v_rms", "_ohm", "_hz", "_s", "amplitude_v")) and not key.startswith("limit"):
                for v in np.atleast_1d(value):
                    check_positive(f"{where}: [{name}] {key}", v)
    return Standard(name=str(data.get("name", path.stem)), title=str(data.get("title", path.stem)),
                    path=path, tests=tests)


def load_standard(name: str | Path) -> Standard:
    """A standard profile by built-in name, or from a TOML file path.

    Parameters
    ----------
    name : str or Path
        One of :func:`standard_names` (``iec60601-2-27``, ``iec60601-2-25``,
        ``aami-ec11``, ``aami-ec13``; case-insensitive), or the path of a
        ``.toml`` file with the same layout (copy a built-in file and edit
        it to correct or extend a limit; a test left out is not run).

    Raises
    ------
    ValueError
        Unknown name (with "did you mean"), unreadable file, invalid TOML,
        unknown or missing keys, wrong types.
    """
    text = str(name)
    path = Path(text)
    if path.suffix.lower() != ".toml":
        key = text.strip().lower()
        names = standard_names()
        if key not in names:
            raise ValueError(f"standard must be one of {', '.join(names)} or a .toml file path; "
                             f"got {text!r}.{suggest(key, names)}")
        path = STANDARDS_DIR / f"{key}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read standard file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"standard file {path} is not valid TOML: {exc}") from None
    return _parse_standard(data, path)


# ----------------------------------------------------------------------------- fixture stages

@dataclass(frozen=True)
class FixtureElectrodes(ElectrodeParams):
    """Electrode pair whose series network (``imbalance``) may sit in front of either input.

    Parameters
    ----------
    network_on_positive : bool
        False: the network is in series with the negative input (the
        :class:`ElectrodeParams` layout); True: with the positive one. The
        standards insert it in each lead electrode in turn; swapping the side
        flips the sign of the electrode divider's common-mode error relative
        to the amplifier's own, so the two sides can differ.
    """

    network_on_positive: bool = False

    @property
    def z_pos(self):
        """Impedances in front of the positive input."""
        return (self.z_electrode, self.imbalance) if self.network_on_positive else self.z_electrode

    @property
    def z_neg(self):
        """Impedances in front of the negative input."""
        return self.z_electrode if self.network_on_positive else (self.z_electrode, self.imbalance)


def input_impedance(amp: InAmpParams) -> ParallelRC:
    """Impedance seen by a source in series with one input: Z_cm || Z_diff (Z_cm without Z_diff).

    Two R || C networks in parallel are one: R = R1 || R2, C = C1 + C2.
    """
    if amp.z_diff is None:
        return amp.z_cm
    r1, r2 = amp.z_cm.r_ohm, amp.z_diff.r_ohm
    r = r2 if math.isinf(r1) else r1 if math.isinf(r2) else r1 * r2 / (r1 + r2)
    return ParallelRC(r, amp.z_cm.c_f + amp.z_diff.c_f)


class SourceImpedanceDivider(AnalogSosStage):
    """The differential test signal loaded by the amplifier input through a series network.

    Parameters
    ----------
    z_series : ElectrodeImpedance or ParallelRC
        Network in series with one electrode (620 kOhm || 4.7 nF).
    z_in : ParallelRC
        Input impedance of that amplifier input (:func:`input_impedance`).
    fs_hz : float
        Simulation rate.

    Notes
    -----
    With the generator's return at the amplifier's reference (the other
    electrode connected directly), the input under test sees the divider

        v_in / v_src = H(s) = Z_in / (Z_in + Z_s),   Z_in = Z_cm || Z_diff,

    a first-order section for R || C networks. Discretised by the bilinear
    transform at ``fs_hz``; its frequency error at f is about
    (pi f / fs)^2 / 3 (8e-5 at 40 Hz for 8 kHz), so the realised drop is
    that of :meth:`freq_response` to better than 1e-4. The electrode stage
    models only the common-mode path of the same impedances, so this stage
    supplies the loading of the differential signal.
    """

    def __init__(self, z_series, z_in: ParallelRC, fs_hz: float):
        if not isinstance(z_in, ParallelRC):
            raise TypeError(f"z_in must be a ParallelRC; got {type(z_in).__name__}.")
        if not isinstance(z_series, (ElectrodeImpedance, ParallelRC)):
            raise TypeError(f"z_series must be an ElectrodeImpedance or ParallelRC; got {type(z_series).__name__}.")
        self.fs_in_hz = self.fs_out_hz = check_positive("fs_hz", fs_hz)
        self.z_series, self.z_in = z_series, z_in
        (ns, ds), (ni, di) = z_series.s_polys(), z_in.s_polys()
        b = np.trim_zeros(np.polymul(ni, ds), "f")
        a = np.trim_zeros(np.polyadd(b, np.polymul(ns, di)), "f")
        self.sos = signal.tf2sos(*signal.bilinear(b / a[0], a / a[0], fs=self.fs_in_hz))
        self.reset()

    def freq_response(self, f_hz) -> np.ndarray:
        """Analytic Z_in / (Z_in + Z_s) at ``f_hz``."""
        z_in = self.z_in.z_ohm(f_hz)
        return z_in / (z_in + self.z_series.z_ohm(f_hz))



# ----------------------------------------------------------------------------- the device on the bench

def settling_time_s(frontend: Frontend) -> float:
    """Longest 1 % settling time of the device's stages, s (at least 1 s).

    Digital stages report ``settling_time_s``; an analog AC coupling of
    order n at f_c settles with its slowest pole, tau = 1/(2 pi f_c
    sin(pi/(2n))) (Butterworth); the amplifier's dc block with
    tau = 1/(2 pi f_dc). Time to 1 %: tau ln(100).
    """
    times = [1.0, *(float(getattr(s, "settling_time_s", 0.0)) for _, s in frontend.stages())]
    to_1pct = math.log(1 / SETTLING_FRACTION)
    for _, stage in frontend.analog.stages:
        if isinstance(stage, AcCoupling):
            times.append(to_1pct / (2 * math.pi * stage.corner_hz * math.sin(math.pi / (2 * stage.order))))
    dc_block_hz = frontend.info["amp"].dc_block_hz
    if dc_block_hz:
        times.append(to_1pct / (2 * math.pi * dc_block_hz))
    return max(times)


class _ArraySource:
    """A one-lead signal at the simulation rate, read in chunks by :func:`acquire.runner.run`."""

    def __init__(self, x_v: np.ndarray, fs_hz: float):
        self.x, self.fs_hz, self.n_samples = np.asarray(x_v, dtype=float)[None, :], fs_hz, len(x_v)
        self.reset()

    def reset(self) -> None:
        self.pos_ = 0

    def read(self, n: int) -> np.ndarray:
        out = self.x[:, self.pos_:self.pos_ + n]
        self.pos_ += n
        return out


@dataclass(frozen=True)
class _Fixture:
    """What the bench connects: network, side, offset, common mode, series loading, noise."""

    network: ElectrodeImpedance | None = None
    on_positive: bool = False
    both_electrodes: bool = False
    offset_v: float = 0.0
    cm_v_rms: float = 0.0
    mains_hz: float = 60.0
    divider: bool = False
    noise: bool = False


class _Bench:
    """Builds the device in a fixture and measures its response, caching reference runs."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.fs_sim_hz = float(cfg["run"]["fs_sim_hz"])
        self._cache: dict = {}
        probe = self.device(_Fixture())
        self.settle_s = settling_time_s(probe)
        self.fs_out_hz = probe.fs_out_hz
        self.amp = probe.info["amp"]
        self.preset = probe.info["preset"]

    def device(self, fx: _Fixture) -> Frontend:
        cfg = copy.deepcopy(self.cfg)
        cfg["mains"] = {"frequency_hz": fx.mains_hz, "harmonic_ratios": {}}
        cfg["body"] = {"mode": "direct", "cm_v_rms": fx.cm_v_rms}
        cfg["electrodes"] = {"imbalance": 0.0}
        if not fx.noise:
            cfg["amplifier"].update(noise_v_per_rthz=0.0, current_noise_a_per_rthz=0.0)
            cfg["adc"]["noise_v_rms"] = 0.0
        base = build_frontend(cfg, self.fs_sim_hz, 1)
        amp, fs, seed = base.info["amp"], self.fs_sim_hz, int(cfg["run"]["seed"])
        zero = ElectrodeImpedance(0.0)
        network = fx.network if fx.network is not None else zero
        electrodes = FixtureElectrodes(z_electrode=network if fx.both_electrodes else zero,
                                       imbalance=zero if fx.both_electrodes else network,
                                       offset_v=fx.offset_v, network_on_positive=fx.on_positive)
        stages = []
        if fx.divider:
            stages.append(("source_impedance", SourceImpedanceDivider(network, input_impedance(amp), fs)))
        if fx.cm_v_rms:
            stages.append(("mains", base.analog["mains"]))
        stages += [
            ("electrodes", ElectrodeStage(electrodes, amp.z_cm, fs, 1, seed=seed + SEED_STREAMS["electrodes"])),
            ("amplifier", InstrumentationAmplifier(amp, fs, z_pos=lumped(electrodes.z_pos),
                                                   z_neg=lumped(electrodes.z_neg), n_channels=1,
                                                   seed=seed + SEED_STREAMS["amplifier"])),
        ]
        stages += [(n, s) for n, s in base.analog.stages if n not in ("resample", "mains", "electrodes", "amplifier")]
        return Frontend(Chain(stages), base.adc, base.digital, base.nominal_gain_v_per_v,
                        {**base.info, "electrodes": electrodes})

    def _run(self, fx: _Fixture, x_v: np.ndarray) -> tuple[np.ndarray, dict]:
        result = run(self.device(fx), _ArraySource(x_v, self.fs_sim_hz), chunk_s=1.0)
        return result.recovered_v[0], result.counts

    def response(self, fx: _Fixture, x_v: np.ndarray | None, n_samples: int) -> tuple[np.ndarray, dict]:
        """Output RTI to the stimulus (test signal ``x_v``, common mode or noise), reference subtracted.

        The reference is the same fixture without the stimulus: zero input,
        no common mode, no noise. Returns the difference and the event
        counts of the run with the stimulus.
        """
        zeros = np.zeros(n_samples)
        y, counts = self._run(fx, zeros if x_v is None else x_v)
        ref = dataclasses.replace(fx, cm_v_rms=0.0, noise=False)
        key = (ref, n_samples)
        if key not in self._cache:
            self._cache[key] = self._run(ref, zeros)[0]
        return y - self._cache[key], counts

    def time_s(self, n_sim: int) -> np.ndarray:
        """Times of the output samples of a run of ``n_sim`` simulation samples."""
        n_out = int(round(n_sim * self.fs_out_hz / self.fs_sim_hz))
        return np.arange(n_out) / self.fs_out_hz


def _saturation(counts: Mapping[str, int]) -> tuple[int, str]:
    """(clipped samples, note) from a run's event counts."""
    clipped = {k: v for k, v in counts.items() if k.endswith("n_clipped") and v}
    cm = {k: v for k, v in counts.items() if k.endswith("n_cm_range_violations") and v}
    notes = []
    if clipped:
        notes.append("saturated: " + ", ".join(f"{k}={v}" for k, v in clipped.items()))
    if cm:
        notes.append("input common-mode range exceeded (not failed): " + ", ".join(f"{k}={v}" for k, v in cm.items()))
    return sum(clipped.values()), "; ".join(notes)


def tone_amplitudes_v(y, fs_hz: float, freqs_hz: Sequence[float]) -> np.ndarray:
    """Peak amplitude of each tone in ``y``, by joint least squares with a dc and a linear term.

    Notes
    -----
    ``y[n] ~ c0 + c1 t + sum_k (a_k cos w_k t + b_k sin w_k t)``, amplitude
    ``sqrt(a_k^2 + b_k^2)``. Exact for tones of any frequency on any window
    of at least 2 K + 2 samples; the linear term absorbs what remains of a
    slow transient (cf. :func:`acquire.metrics.goertzel_amplitude_v_rms`,
    one tone and dc).
    """
    y = np.asarray(y, dtype=float)
    t = np.arange(y.size) / fs_hz
    phase = 2 * np.pi * np.outer(t, np.asarray(freqs_hz, dtype=float))
    design = np.hstack([np.ones((y.size, 1)), t[:, None] - t.mean(), np.cos(phase), np.sin(phase)])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    k = len(freqs_hz)
    return np.hypot(coef[2:2 + k], coef[2 + k:])


def _periodic_pv(y: np.ndarray) -> float:
    """Peak-to-valley of the band-limited reconstruction of a window holding whole periods.

    The output of the CMR test is periodic over the window (an integer
    number of seconds holds whole 50 and 60 Hz periods), so FFT
    interpolation by :data:`CMR_OVERSAMPLE` gives the continuous trace at
    32 times the rate. A tone with P samples per period then reads at most
    1 - cos(pi / (32 P)) low: 4.8e-5 (0.0004 dB) for 50 Hz at 500 Hz,
    where the raw samples (10 per period) can read up to
    20 log10(cos 18 deg) = -0.44 dB low.
    """
    return float(np.ptp(signal.resample(y, y.size * CMR_OVERSAMPLE)))


# ----------------------------------------------------------------------------- rows and report

@dataclass(frozen=True)
class ComplianceRow:
    """One test condition's result.

    ``measured``, ``limit`` and ``margin`` are in ``unit`` (display units:
    mV, uV, %, dB); ``relation`` is ``"<="`` or ``">="``; ``margin`` is
    positive on the passing side; ``margin_db`` = 20 log10(limit/measured)
    for amplitude limits (inf when nothing was measured), None otherwise.
    ``assumption`` is True when the limit or the set-up rests on an
    unconfirmed number.
    """

    test: str
    condition: str
    measured: float
    limit: float
    unit: str
    relation: str
    margin: float
    margin_db: float | None
    passed: bool
    source: str
    assumption: bool
    note: str = ""


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
            if r.test not in out or (out[r.test].passed, out[r.test].margin) > (r.passed, r.margin):
                out[r.test] = r
        return list(out.values())


def _row(test: str, condition: str, measured: float, limit: Limit, section: Mapping, *, scale: float,
         unit: str, relation: str = "<=", clipped: int = 0, note: str = "", amplitude: bool = True):
    """A row from SI ``measured`` and ``limit`` shown in ``unit`` (multiplied by ``scale``)."""
    m, lim = measured * scale, limit.value * scale
    margin = lim - m if relation == "<=" else m - lim
    margin_db = None
    if amplitude:
        margin_db = math.inf if m == 0 else 20 * math.log10(lim / abs(m))
    notes = [n for n in (note, limit.note, section["note"] if section["assumption"] else "") if n]
    return ComplianceRow(test, condition, m, lim, unit, relation, margin, margin_db,
                         margin >= 0 and clipped == 0, limit.source,
                         limit.assumption or section["assumption"], "; ".join(notes))


def _side(on_positive: bool) -> str:
    return "network on + input" if on_positive else "network on - input"


def _mv(v: float) -> str:
    return f"{v * 1e3:+g} mV" if v else "0 mV"


def _sine(amplitude_v: float, f_hz: float, n: int, fs_hz: float) -> np.ndarray:
    return amplitude_v * np.sin(2 * np.pi * f_hz * np.arange(n) / fs_hz)


def _window_n(bench: _Bench, f_hz: float) -> int:
    """Simulation samples of settling plus a window of whole cycles (>= MIN_CYCLES, >= MIN_WINDOW_S)."""
    cycles = max(MIN_CYCLES, math.ceil(MIN_WINDOW_S * f_hz))
    return int(round((bench.settle_s + cycles / f_hz) * bench.fs_sim_hz))


def _ratio(a: float, b: float) -> float:
    """``a / b``, or 0 when the reference amplitude ``b`` is 0 (a saturated reference run)."""
    return a / b if b > 0 else 0.0


def _tail(bench: _Bench, y: np.ndarray) -> np.ndarray:
    """The output after the settling time."""
    return y[int(math.ceil(bench.settle_s * bench.fs_out_hz)):]


def _cmr(bench, sec, duration_scale):
    lim = sec["limit_pv_v"]
    window_s = max(1, round(sec["window_s"] * duration_scale))
    n = int(round((bench.settle_s + window_s) * bench.fs_sim_hz))
    net = ElectrodeImpedance(0.0, sec["network_r_ohm"], sec["network_c_f"])
    rows, worst = [], None
    for f in sec["mains_hz"]:
        for off in sec["offsets_v"]:
            for pos in (False, True):
                fx = _Fixture(network=net, on_positive=pos, offset_v=off, cm_v_rms=sec["cm_v_rms"], mains_hz=f)
                y, counts = bench.response(fx, None, n)
                y = y[y.size - int(round(window_s * bench.fs_out_hz)):]
                pv = _periodic_pv(y)
                clipped, note = _saturation(counts)
                cond = f"{sec['cm_v_rms']:g} V rms {f:g} Hz, {_mv(off)}, {_side(pos)}"
                rows.append(_row("cmr", cond, pv, lim, sec, scale=1e3, unit="mV p-v", clipped=clipped,
                                 note=f"window {window_s:g} s" + (f"; {note}" if note else "")))
                if worst is None or pv > worst[0]:
                    worst = (pv, f, y)
    pv, f, y = worst
    t = np.arange(y.size) / bench.fs_out_hz
    show = t < min(t[-1], 10 / f + 1e-9)
    cm = math.sqrt(2) * sec["cm_v_rms"] * np.cos(2 * np.pi * f * t[show])
    fig = {"kind": "compliance", "t_s": t[show], "input_v": cm, "output_v": y[show], "limit_v": lim.value,
           "limit_kind": "pp", "title": f"CMR: worst case at {f:g} Hz (10 periods shown)"}
    return rows, fig


def _noise(bench, sec, duration_scale):
    lim = sec["limit_pv_v"]
    n_win, win_s = sec["n_windows"], sec["window_s"]
    n = int(round((bench.settle_s + n_win * win_s) * bench.fs_sim_hz))
    net = ElectrodeImpedance(0.0, sec["network_r_ohm"], sec["network_c_f"])
    y, counts = bench.response(_Fixture(network=net, both_electrodes=True, noise=True), None, n)
    m = int(round(win_s * bench.fs_out_hz))
    windows = y[y.size - n_win * m:].reshape(n_win, m)
    pv = np.ptp(windows, axis=1)
    k = sec["min_passing"]
    if k > n_win:
        raise ValueError(f"noise.min_passing={k} exceeds noise.n_windows={n_win}.")
    decisive = float(np.sort(pv)[k - 1])
    clipped, note = _saturation(counts)
    n_ok = int(np.count_nonzero(pv <= lim.value))
    text = (f"{n_ok} of {n_win} windows within the limit (need {k}); p-v {pv.min() * 1e6:.3g} to "
            f"{pv.max() * 1e6:.3g} uV; rms {np.std(windows) * 1e6:.3g} uV" + (f"; {note}" if note else ""))
    cond = f"inputs tied through the network, {n_win} x {win_s:g} s, {k}th smallest p-v"
    rows = [_row("noise", cond, decisive, lim, sec, scale=1e6, unit="uV p-v", clipped=clipped, note=text)]
    w = windows[int(np.argmax(pv))]
    fig = {"kind": "compliance", "t_s": np.arange(m) / bench.fs_out_hz, "input_v": np.zeros(m), "output_v": w,
           "limit_v": lim.value, "limit_kind": "pp", "title": "System noise: noisiest 10 s window"}
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
            a_ref, ref_counts, _ = _amplitude(bench, _Fixture(offset_v=off), sec["amplitude_v"], f)
            a_net, counts, y = _amplitude(bench, _Fixture(network=net, offset_v=off, divider=True),
                                          sec["amplitude_v"], f)
            drop = 1.0 - _ratio(a_net, a_ref)
            clipped, note = _saturation({k: max(v, ref_counts[k]) for k, v in counts.items()})
            cond = f"{f:g} Hz, {_mv(off)}, network in series with one electrode"
            rows.append(_row("input_impedance", cond, drop, lim, sec, scale=100.0, unit="% drop", clipped=clipped,
                             note="; ".join(x for x in (note, "same for either electrode (symmetric divider)") if x),
                             amplitude=False))
            if worst is None or drop > worst[0]:
                worst = (drop, f, y)
    drop, f, y = worst
    t = np.arange(y.size) / bench.fs_out_hz
    show = t < MIN_CYCLES / f
    fig = {"kind": "compliance", "t_s": t[show], "input_v": _sine(sec["amplitude_v"], f, y.size, bench.fs_out_hz)[show],
           "output_v": y[show], "limit_v": (1 - lim.value) * sec["amplitude_v"], "limit_kind": "peak",
           "title": f"Input impedance: {f:g} Hz through the network (peaks must reach the dashed lines)"}
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
    y, counts = bench.response(_Fixture(), x, n)
    amps = tone_amplitudes_v(_tail(bench, y), bench.fs_out_hz, freqs)
    ratios = amps[1:] / amps[0]
    clipped, note = _saturation(counts)
    rows = []
    for p, r in zip(points, ratios):
        lo, hi = p["min_ratio"], p["max_ratio"]
        lower = r - lo <= hi - r
        limit = Limit(20 * math.log10(lo) if lower and lo > 0 else 20 * math.log10(hi) if not lower else -math.inf,
                      p["source"], p["assumption"], p["note"])
        m_db = 20 * math.log10(r) if r > 0 else -math.inf
        cond = f"{p['f_hz']:g} Hz re {sec['reference_hz']:g} Hz (allowed {lo * 100:.4g} to {hi * 100:.4g} %)"
        rows.append(_row("frequency_response", cond, m_db, limit, sec, scale=1.0, unit="dB",
                         relation=">=" if lower else "<=", clipped=clipped, note=note, amplitude=False))
    f_pts = np.array([p["f_hz"] for p in points])
    fig = {"kind": "sweep", "f_hz": f_pts, "measured_db": 20 * np.log10(np.maximum(ratios, 1e-12)),
           "lower_db": 20 * np.log10(np.maximum([p["min_ratio"] for p in points], 1e-12)),
           "upper_db": 20 * np.log10([p["max_ratio"] for p in points]),
           "title": f"Frequency response re {sec['reference_hz']:g} Hz"}
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
    y, counts = bench.response(_Fixture(), x, n)
    disp, slope = impulse_measures(y, bench.fs_out_hz, t0 + width, gap, win)
    clipped, note = _saturation(counts)
    cond = f"{a * 1e3:g} mV x {width * 1e3:g} ms pulse, {gap * 1e3:g} to {(gap + win) * 1e3:g} ms after it"
    rows = [_row("impulse", f"slope, {cond}", slope, sec["limit_slope_v_per_s"], sec, scale=1e3, unit="mV/s",
                 clipped=clipped, note=note),
            _row("impulse", f"displacement, {cond}", disp, sec["limit_displacement_v"], sec, scale=1e3, unit="mV",
                 clipped=clipped, note=note)]
    t_out = bench.time_s(n)[:y.size]
    fig = {"kind": "compliance", "t_s": t_out, "input_v": x[::int(round(bench.fs_sim_hz / bench.fs_out_hz))][:y.size],
           "output_v": y, "limit_v": sec["limit_displacement_v"].value, "limit_kind": "peak",
           "title": "Impulse response: displacement after the pulse within the dashed lines"}
    return rows, fig


def _gain(bench, sec, duration_scale):
    a, f = sec["amplitude_v"], sec["f_hz"]
    amp, counts, y = _amplitude(bench, _Fixture(), a, f)
    err = amp / a - 1.0
    clipped, note = _saturation(counts)
    rows = [_row("gain", f"{a * 1e3:g} mV sine at {f:g} Hz (measured gain {amp / a:.5g} of nominal)", abs(err),
                 sec["limit_error"], sec, scale=100.0, unit="% |error|", clipped=clipped, note=note, amplitude=False)]
    return rows, _sine_figure(bench, y, a, f, sec["limit_error"].value, "Gain accuracy")


def _sine_figure(bench, y, a, f, tol, title):
    t = np.arange(y.size) / bench.fs_out_hz
    show = t < MIN_CYCLES / f
    return {"kind": "compliance", "t_s": t[show], "input_v": _sine(a, f, y.size, bench.fs_out_hz)[show],
            "output_v": y[show], "limit_v": 2 * a * (1 + tol), "limit_kind": "pp",
            "title": f"{title}: output p-p must stay within the band (+{tol * 100:g} %)"}


def _offset(bench, sec, duration_scale):
    a, f = sec["amplitude_v"], sec["f_hz"]
    ref, ref_counts, _ = _amplitude(bench, _Fixture(), a, f)
    rows, worst = [], None
    for off in sec["offsets_v"]:
        amp, counts, y = _amplitude(bench, _Fixture(offset_v=off), a, f)
        change = abs(_ratio(amp, ref) - 1.0)
        clipped, note = _saturation({k: max(v, ref_counts[k]) for k, v in counts.items()})
        rows.append(_row("offset", f"{_mv(off)} dc, {a * 1e3:g} mV sine at {f:g} Hz", change, sec["limit_change"],
                         sec, scale=100.0, unit="% change", clipped=clipped, note=note, amplitude=False))
        if worst is None or (clipped, change) > worst[0]:
            worst = ((clipped, change), y)
    return rows, _sine_figure(bench, worst[1], a, f, sec["limit_change"].value, "Electrode offset tolerance")


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
    bench = _Bench(cfg)
    rows, figures = [], {}
    names = [t for t in TESTS if t in std.tests]
    for i, name in enumerate(names, 1):
        test_rows, figures[name] = _RUNNERS[name](bench, std.tests[name], scale)
        rows += test_rows
        if progress is not None:
            progress(i, len(names))
    a = bench.amp
    device = {"preset": bench.preset, "gain_v_per_v": bench.device(_Fixture()).nominal_gain_v_per_v,
              "cmrr_db": a.cmrr_db, "z_cm_ohm": a.z_cm.r_ohm, "z_cm_f": a.z_cm.c_f,
              "digital": [dict(d) for d in cfg["digital"]], "post": dict(cfg["post"]),
              "fs_sim_hz": bench.fs_sim_hz, "fs_out_hz": bench.fs_out_hz}
    return ComplianceReport(std, device, rows, figures, scale, bench.settle_s)


# ----------------------------------------------------------------------------- output files

def _json_safe(v):
    """Non-finite floats become None (JSON has no inf); containers recursively."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def report_dict(report: ComplianceReport) -> dict:
    """The report as a JSON-ready dict (``margin_db`` null = unbounded)."""
    return _json_safe({
        "standard": report.standard.name, "title": report.standard.title,
        "standard_file": str(report.standard.path), "passed": report.passed,
        "device": report.device, "duration_scale": report.duration_scale, "settle_s": report.settle_s,
        "rows": [dataclasses.asdict(r) for r in report.rows],
    })


def _figure(spec: dict):
    from acquire.output import figures as viz

    if spec["kind"] == "sweep":
        return viz.plot_sweep(spec["f_hz"], {"measured": spec["measured_db"], "lower limit": spec["lower_db"],
                                             "upper limit": spec["upper_db"]},
                              xlabel="Frequency (Hz)", ylabel="Response (dB)", logx=True, title=spec["title"])
    return viz.plot_compliance(spec["t_s"], spec["input_v"], spec["output_v"], spec["limit_v"],
                               title=spec["title"], limit_kind=spec["limit_kind"])


def write_compliance(report: ComplianceReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``compliance.json``, one figure per test and ``compliance.html`` into ``out_dir``.

    Every file is written to a temporary name and renamed when complete.
    Figures are ``compliance_<test>.png`` and ``.svg``: the test waveform and
    the output (worst condition) with the limit drawn. Returns the paths
    by kind (``json``, ``html``, ``figure:<test>``).
    """
    import matplotlib.pyplot as plt

    from acquire.output import figures as viz
    from acquire.output.report import Section, write_html_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": viz.atomic_write(out / "compliance.json",
                                      json.dumps(report_dict(report), indent=2).encode("utf-8"))}
    figs = []
    for test, spec in report.figures.items():
        fig = _figure(spec)
        paths[f"figure:{test}"] = viz.save_figure(fig, out / f"compliance_{test}")[0]
        figs.append(fig)
    verdict = "PASS" if report.passed else "FAIL"
    columns = ("test", "condition", "measured", "relation", "limit", "unit", "margin", "margin_db",
               "passed", "assumption", "source", "note")

    def table(rows):
        return [{c: getattr(r, c) for c in columns} for r in rows]

    sections = [
        Section("Verdict", paragraphs=[
            f"{verdict}: {sum(r.passed for r in report.rows)} of {len(report.rows)} conditions pass "
            f"{report.standard.title} (profile {report.standard.path.name}).",
            "Rows marked assumption rest on a limit or set-up that the reference facts mark unconfirmed "
            "or that was inferred; see the note and source of each row.",
            (f"Device: preset {report.device['preset']}, nominal gain {report.device['gain_v_per_v']:g} V/V; the "
             "configured post-amplifier, ADC and digital stages are part of the device. Outputs are referred "
             "to the input by dividing by the nominal gain; each run has the reference run without the "
             f"stimulus subtracted; measurements start after the settling time ({report.settle_s:.3g} s)."),
            f"CMR window scaled by duration_scale = {report.duration_scale:g}."],
            tables={"Worst case of each test": table(report.worst())}),
        Section("All conditions", tables={"Results": table(report.rows)}),
        Section("Figures", figures=figs),
    ]
    paths["html"] = write_html_report(out / "compliance.html", title=f"ecgfe compliance: {report.standard.title}",
                                      sections=sections)
    for fig in figs:
        plt.close(fig)
    return paths


def preset_compliance_matrix(presets: Sequence[str] | None = None, standards: Sequence[str] | None = None, *,
                             cfg: dict | None = None, duration_scale: float = MATRIX_DURATION_SCALE,
                             progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Which presets pass which standard: one row per preset.

    Parameters
    ----------
    presets : names, optional
        Built-in presets (default: all).
    standards : names or paths, optional
        Standard profiles (default: all built-in).
    cfg : dict, optional
        Base configuration (default :func:`acquire.config.default_config`);
        its ``[amplifier]`` is replaced by each preset.
    duration_scale : float
        Passed to :func:`run_compliance`; the default shortens the CMR window
        to 6 s, which gives the same p-v (see there).
    progress : callable(done, total), optional
        Called after each (preset, standard) pair.

    Returns
    -------
    list of dict
        ``{"preset": name, <standard>: "pass" or "fail: test, test", ...}``.
    """
    from acquire.config import default_config
    from frontend_models.presets import preset_names

    presets = list(preset_names() if presets is None else presets)
    standards = list(standard_names() if standards is None else standards)
    loaded = [load_standard(s) for s in standards]
    base = default_config() if cfg is None else cfg
    rows, done = [], 0
    for p in presets:
        c = copy.deepcopy(base)
        c["amplifier"] = {"preset": p}
        row = {"preset": p}
        for std in loaded:
            rep = run_compliance(c, std, duration_scale=duration_scale)
            failed = list(dict.fromkeys(r.test for r in rep.rows if not r.passed))
            row[std.name] = "pass" if not failed else "fail: " + ", ".join(failed)
            done += 1
            if progress is not None:
                progress(done, len(presets) * len(loaded))
        rows.append(row)
    return rows
