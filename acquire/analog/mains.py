"""Power-line interference: the mains voltage, the amplifier's common mode and magnetic pickup.

The mains voltage (fundamental, harmonics, slow frequency drift and amplitude
modulation) couples to the patient's body through stray capacitances; the
patient circuit (:mod:`acquire.analog.patient`: reference electrode, driven
right leg, isolation, the inputs' load) sets the common-mode voltage ``v_cm``
the amplifier sees, shared by every electrode; the mains current's magnetic
field induces a differential voltage in the loop formed by the lead wires.
:class:`MainsStage` adds both to the signal path, generating ``v_cm`` and its
exact time derivative analytically from the absolute sample index.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from acquire._check import FrontendWarning, check_below_nyquist, check_positive
from acquire.analog.patient import BodyParams, PatientCircuit, as_circuit
from acquire.noise import BlockNoise
from acquire.stage import Chunk, dc_vector

#: Nominal mains voltage of each grid frequency, V rms: 230 V on 50 Hz grids
#: (Europe), 120 V on 60 Hz grids (North America).
NOMINAL_V_RMS = {50.0: 230.0, 60.0: 120.0}
#: Largest slow frequency drift, fraction of nominal: the EN 50160 range for
#: 99.5 % of a year on interconnected systems (facts.md section 2.4).
DRIFT_BOUND_FRACTION = 0.01
#: Allowed static frequency offset, fractions of nominal: the EN 50160 range
#: for 100 % of the time (+4 % / -6 %, facts.md section 2.4).
OFFSET_RANGE_FRACTION = (-0.06, 0.04)
#: Default harmonic content: half of the EN 50160 limits for the 3rd, 5th and
#: 7th harmonics (5 %, 6 %, 5 %; facts.md section 2.4). An assumption derived
#: from the limits, not a measured spectrum.
DEFAULT_HARMONIC_RATIOS = {3: 0.025, 5: 0.03, 7: 0.025}
#: Spacing of the knots of the frequency-drift process, seconds.
DRIFT_KNOT_S = 0.1
#: Longest chunk (samples) read from the cached tiled table of a steady mains: 10 s at 8 kHz,
#: 3.3 MB kept; longer chunks tile their own copy.
MAX_CACHED_SAMPLES = 80_000
#: Default correlation time of the frequency drift, seconds (assumption: grid
#: frequency wanders over tens of seconds to minutes as load and generation
#: are rebalanced).
DEFAULT_DRIFT_TAU_S = 60.0
#: BlockNoise stream of the frequency-drift innovations.
_STREAM_DRIFT = 101
#: Longest period (samples) of a steady mains waveform that is tabulated once
#: instead of synthesised per chunk (2^16 samples: 2.6 MB of table).
MAX_TABLE_SAMPLES = 2 ** 16



def _finite(param: str, value) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{param} must be a finite number; got {value!r}.")
    return v


def _frac(x: np.ndarray) -> np.ndarray:
    """Fractional part in [0, 1] (faster than ``np.mod``; phases only need it modulo 1)."""
    return x - np.floor(x)


def period_samples(f_hz: float, fs_hz: float, max_samples: int = MAX_TABLE_SAMPLES) -> int | None:
    """Smallest P <= ``max_samples`` with P f_hz / fs_hz a whole number of cycles, or None.

    Rates are read as decimal fractions (denominators up to 10^6, exact to
    1e-15 relative), so that 60 Hz at 8 kHz has P = 400 and 60.1 Hz P = 80000.
    """
    f, fs = (Fraction(x).limit_denominator(10 ** 6) for x in (f_hz, fs_hz))
    if not (math.isclose(float(f), f_hz, rel_tol=1e-15) and math.isclose(float(fs), fs_hz, rel_tol=1e-15)):
        return None
    period = (f / fs).denominator
    return period if period <= max_samples else None


def _harmonic_table(param: str, table, check) -> dict[int, float]:
    """``{k: value}`` with integer harmonic numbers k >= 2 (TOML gives string keys)."""
    if not isinstance(table, Mapping):
        raise TypeError(f"{param} must be a mapping harmonic number -> value; got {table!r}.")
    out = {}
    for key, value in table.items():
        try:
            k = int(key)
        except (TypeError, ValueError):
            k = 0
        if k < 2 or str(key).strip() != str(k):
            raise ValueError(f"{param} keys must be integer harmonic numbers >= 2; got {key!r}.")
        out[k] = check(f"{param}[{k}]", value)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class MainsParams:
    """The mains voltage: frequency, amplitude, harmonics, drift, modulation.

    Parameters
    ----------
    frequency_hz : {50, 60}
        Nominal grid frequency. Required: there is no sensible default.
    mains_v_rms : float or None
        Fundamental line-to-neutral voltage, V rms; None gives the nominal
        value of the grid, 230 V at 50 Hz or 120 V at 60 Hz.
    offset_hz : float
        Static deviation from nominal, Hz, within the EN 50160 range for
        100 % of the time (+4 % / -6 %); a FrontendWarning above the 1 % range
        of normal operation.
    drift_hz_rms : float
        Rms of the slow random frequency drift, Hz (0: none; at most 1 % of
        nominal). See Notes.
    drift_tau_s : float
        Correlation time of the drift, seconds.
    harmonic_ratios : mapping int -> float
        Amplitude of harmonic k relative to the fundamental. Default
        :data:`DEFAULT_HARMONIC_RATIOS` (an assumption: half the EN 50160
        limits); ``{}`` for a pure sine.
    harmonic_phases_rad : mapping int -> float
        Phase of harmonic k relative to k times the fundamental's phase
        (default 0); keys must be among ``harmonic_ratios``.
    am_depth : float
        Depth m of a slow sinusoidal amplitude modulation, 0 <= m < 1.
    am_hz : float
        Frequency of the amplitude modulation, Hz.

    Notes
    -----
    The instantaneous frequency is ``f(t) = frequency_hz + offset_hz + d(t)``.
    The drift ``d`` is an Ornstein-Uhlenbeck process (a mean-reverting random
    walk) of rms ``drift_hz_rms`` and correlation time ``drift_tau_s``,
    sampled at knots every :data:`DRIFT_KNOT_S` seconds,

        d_0 = sigma g_0,  d_{m+1} = a d_m + sqrt(1 - a^2) sigma g_{m+1},
        a = exp(-DRIFT_KNOT_S / drift_tau_s),

    each knot clipped to +-1 % of nominal (EN 50160, facts.md section 2.4)
    and linearly interpolated between knots; the phase is its exact integral.
    """

    frequency_hz: float
    mains_v_rms: float | None = None
    offset_hz: float = 0.0
    drift_hz_rms: float = 0.0
    drift_tau_s: float = DEFAULT_DRIFT_TAU_S
    harmonic_ratios: Mapping[int, float] = field(default_factory=lambda: dict(DEFAULT_HARMONIC_RATIOS))
    harmonic_phases_rad: Mapping[int, float] = field(default_factory=dict)
    am_depth: float = 0.0
    am_hz: float = 0.1

    def __post_init__(self):
        f0 = self.frequency_hz
        if isinstance(f0, bool) or not isinstance(f0, (int, float, np.integer, np.floating)) \
                or float(f0) not in NOMINAL_V_RMS:
            raise ValueError(f"frequency_hz must be 50 or 60 (the nominal grid frequency; use offset_hz "
                             f"for a deviation); got {f0!r}.")
        set_ = object.__setattr__
        set_(self, "frequency_hz", float(f0))
        v = NOMINAL_V_RMS[self.frequency_hz] if self.mains_v_rms is None else self.mains_v_rms
        set_(self, "mains_v_rms", check_positive("mains_v_rms", v))
        offset = _finite("offset_hz", self.offset_hz)
        lo, hi = (r * self.frequency_hz for r in OFFSET_RANGE_FRACTION)
        if not lo <= offset <= hi:
            raise ValueError(f"offset_hz must lie in the EN 50160 range [{lo:g}, {hi:g}] Hz for "
                             f"{self.frequency_hz:g} Hz mains; got {self.offset_hz!r}.")
        if abs(offset) > DRIFT_BOUND_FRACTION * self.frequency_hz:
            warnings.warn(f"offset_hz={offset:g} Hz is outside the +-1 % EN 50160 range of normal "
                          "operation of interconnected grids.", FrontendWarning, stacklevel=3)
        set_(self, "offset_hz", offset)
        drift = check_positive("drift_hz_rms", self.drift_hz_rms, allow_zero=True)
        if drift > self.drift_bound_hz:
            raise ValueError(f"drift_hz_rms must be <= {self.drift_bound_hz:g} Hz (the +-1 % EN 50160 "
                             f"range it is clipped to); got {self.drift_hz_rms!r}.")
        set_(self, "drift_hz_rms", drift)
        set_(self, "drift_tau_s", check_positive("drift_tau_s", self.drift_tau_s))
        ratios = _harmonic_table("harmonic_ratios", self.harmonic_ratios,
                                 lambda p, v: check_positive(p, v, allow_zero=True))
        phases = _harmonic_table("harmonic_phases_rad", self.harmonic_phases_rad, _finite)
        extra = sorted(set(phases) - set(ratios))
        if extra:
            raise ValueError(f"harmonic_phases_rad has harmonics {extra} that are not in "
                             f"harmonic_ratios {sorted(ratios)}.")
        set_(self, "harmonic_ratios", ratios)
        set_(self, "harmonic_phases_rad", phases)
        depth = check_positive("am_depth", self.am_depth, allow_zero=True)
        if not depth < 1:
            raise ValueError(f"am_depth must be in [0, 1); got {self.am_depth!r}.")
        set_(self, "am_depth", depth)
        set_(self, "am_hz", check_positive("am_hz", self.am_hz))

    @property
    def center_hz(self) -> float:
        """Frequency without drift: ``frequency_hz + offset_hz``."""
        return self.frequency_hz + self.offset_hz

    @property
    def drift_bound_hz(self) -> float:
        """Largest drift, Hz (1 % of nominal)."""
        return DRIFT_BOUND_FRACTION * self.frequency_hz

    def components(self) -> list[tuple[int, complex]]:
        """``(k, ratio_k exp(j phase_k))`` for the fundamental (k = 1) and each harmonic."""
        return [(1, 1.0 + 0j)] + [(k, r * np.exp(1j * self.harmonic_phases_rad.get(k, 0.0)))
                                  for k, r in self.harmonic_ratios.items()]


def cm_harmonics(mains: MainsParams, patient, y_in=None) -> list[tuple[float, complex]]:
    """The amplifier's common mode as ``(f_hz, rms phasor in volts)``, fundamental first.

    ``patient`` is a :class:`~acquire.analog.patient.PatientCircuit` (or a
    bare :class:`~acquire.analog.patient.BodyParams`: no input loading). The
    analytic prediction of what :class:`MainsStage` generates without drift or
    modulation: ``cm_v(t) = sum_k Re(sqrt(2) V_k exp(j 2 pi f_k t))``, at
    ``f_k = k (frequency_hz + offset_hz)``, V_k the harmonic's share of the
    mains through the patient circuit. ``y_in``: a callable f -> the inputs'
    load admittance (arrays over Monte Carlo draws), instead of the circuit's own.
    """
    circuit = as_circuit(patient)
    f1 = mains.center_hz
    out = []
    for k, c in mains.components():
        v = c * circuit.cm_phasor_v(mains.mains_v_rms, k * f1, None if y_in is None else y_in(k * f1))
        out.append((k * f1, v if np.ndim(v) else complex(v)))
    return out


def magnetic_pickup_v_peak(mains: MainsParams, body: BodyParams) -> float:
    """Peak differential voltage induced in the lead loop, ``w B A`` (volts)."""
    body = as_circuit(body).body
    return 2 * np.pi * mains.center_hz * body.flux_density_t * body.loop_area_m2


class MainsStage:
    """Adds the body common mode (and magnetic pickup) to a chunk of ECG.

    Parameters
    ----------
    mains : MainsParams
    body : PatientCircuit or BodyParams
        The patient circuit from the mains to the amplifier's inputs (a bare
        BodyParams has no input loading).
    fs_hz : float
        Sampling rate (the analog simulation rate); every generated
        component must lie below Nyquist.
    seed : int
        Seed of the frequency drift.

    Notes
    -----
    With the harmonics' rms phasors V_k of :func:`cm_harmonics` and the
    instantaneous mains phase phi(t) (see :class:`MainsParams`),

        cm_v(t) = E(t) sum_k Re(sqrt(2) V_k exp(j k phi(t))),
        E(t) = 1 + m sin(2 pi f_am t),

    ``cm_quad_v`` is the same sum with every harmonic delayed by 90 degrees,
    E(t) sum_k Re(-j sqrt(2) V_k exp(j k phi(t))) (the Hilbert transform of
    cm_v for constant E and f; with modulation, its narrow-band form), and
    ``cm_dvdt_v_per_s`` is the exact derivative of cm_v,
    E' s(t) + E(t) sum_k Re(j k phi'(t) sqrt(2) V_k exp(j k phi(t))), with
    phi'(t) = 2 pi f(t). V_k is evaluated at the undrifted harmonic
    frequency: with drift within +-1 % the body transfer changes by at most
    about 1 % (grounded body; not at all floating). Everything is a function
    of the absolute sample index n (t = n / fs_hz), and cos k phi, sin k phi
    come from cos phi, sin phi by exact complex multiplication, so chunking
    cannot change a bit of the output. Magnetic pickup w(t) B A sin phi(t) is
    added to every lead of ``diff_v``.

    Without drift and modulation the waveforms repeat every P samples
    (:func:`period_samples`; 400 for 60 Hz at 8 kHz): one period is
    synthesised at construction and each chunk reads it at n mod P, the
    phase of sample n then exact (no rounding of n f / fs growing with n).
    """

    def __init__(self, mains: MainsParams, body: BodyParams, fs_hz: float, *, seed: int = 0):
        if not isinstance(mains, MainsParams):
            raise TypeError(f"mains must be a MainsParams; got {type(mains).__name__}.")
        if not isinstance(body, (BodyParams, PatientCircuit)):
            raise TypeError(f"body must be a PatientCircuit or BodyParams; got {type(body).__name__}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {seed!r}.")
        self.fs_in_hz = self.fs_out_hz = fs_hz = check_positive("fs_hz", fs_hz)
        self.circuit = as_circuit(body)
        self.mains, self.body, self.seed = mains, self.circuit.body, int(seed)
        k_max = max(k for k, _ in mains.components())
        f_top = k_max * (mains.center_hz + (mains.drift_bound_hz if mains.drift_hz_rms else 0.0))
        check_below_nyquist(f"highest mains harmonic ({k_max} x {mains.center_hz:g} Hz)", f_top, fs_hz)
        if mains.am_depth:
            check_below_nyquist("am_hz", mains.am_hz, fs_hz)
        peaks = {k: math.sqrt(2) * v for (k, _), (_, v) in zip(mains.components(), cm_harmonics(mains, self.circuit))}
        self._k_max = k_max
        self._cos_coef = {k: c.real for k, c in peaks.items()}
        self._sin_coef = {k: -c.imag for k, c in peaks.items()}
        self._mag_ba = self.body.flux_density_t * self.body.loop_area_m2
        self._knot_samples = max(1, round(DRIFT_KNOT_S * fs_hz))
        self._drift = BlockNoise(self.seed, _STREAM_DRIFT, 1, block_size=1024)
        steady = not (mains.drift_hz_rms or mains.am_depth)
        period = period_samples(mains.center_hz, fs_hz) if steady else None
        self._table = None if period is None else self._waveforms(np.arange(period, dtype=np.int64))
        self._tiled = None  # the table tiled for chunks (_periodic)
        self.reset()

    def reset(self) -> None:
        """Restart the drift process at knot 0."""
        self._drift.reset()
        self.knot_ = None  # (m, d_m in Hz, D_m = integral of d up to knot m, in cycles mod 1)

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """The dc output for the constant input ``dc_in_v``: itself (the added mains has no dc; no state)."""
        return dc_vector(dc_in_v)

    def _knots(self, m0: int, m1: int) -> tuple[np.ndarray, np.ndarray]:
        """Drift d_m (Hz) and its integral D_m (cycles mod 1) at knots m0 .. m1 + 1.

        Knots are generated in order from knot 0, so their values depend on
        the knot index only; the state kept is knot m1, where the next
        contiguous chunk starts.
        """
        p = self.mains
        t_knot = self._knot_samples / self.fs_in_hz
        a = math.exp(-t_knot / p.drift_tau_s)
        b, bound = math.sqrt(1.0 - a * a) * p.drift_hz_rms, p.drift_bound_hz
        if self.knot_ is None or self.knot_[0] > m0:
            d0 = p.drift_hz_rms * float(self._drift.normal(0, 1)[0, 0])
            self.knot_ = (0, min(max(d0, -bound), bound), 0.0)
        m_s, d, big_d = self.knot_
        g = self._drift.normal(m_s + 1, m1 + 2)[0]
        ds, bigs = np.empty(m1 + 2 - m0), np.empty(m1 + 2 - m0)
        for m in range(m_s, m1 + 2):
            if m >= m0:
                ds[m - m0], bigs[m - m0] = d, big_d
            if m == m1:
                self.knot_ = (m, d, big_d)
            if m <= m1:
                d_next = min(max(a * d + b * g[m - m_s], -bound), bound)
                big_d = (big_d + 0.5 * (d + d_next) * t_knot) % 1.0
                d = d_next
        return ds, bigs

    def _phase(self, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mains phase phi (rad, in [0, 2 pi)) and its rate phi' (rad/s) at absolute samples ``n``."""
        fs, fc = self.fs_in_hz, self.mains.center_hz
        cycles = _frac(n * (fc / fs))
        freq = np.full(n.shape, fc)
        if self.mains.drift_hz_rms and n.size:
            k = self._knot_samples
            m = n // k
            m0 = int(m[0])
            d, big_d = self._knots(m0, int(m[-1]))
            i = m - m0
            tau = (n - m * k) / fs
            slope = (d[i + 1] - d[i]) * (fs / k)
            cycles = cycles + big_d[i] + tau * (d[i] + 0.5 * slope * tau)
            freq = freq + d[i] + slope * tau
        return 2 * np.pi * _frac(cycles), 2 * np.pi * freq

    def _waveforms(self, n: np.ndarray) -> np.ndarray:
        """Rows cm_v, its derivative, cm_quad_v, its derivative and the magnetic pickup at samples ``n``."""
        phi, w = self._phase(n)
        c1, s1 = np.cos(phi), np.sin(phi)
        ck, sk = c1, s1
        cm, dcm_dphi = np.zeros(n.shape), np.zeros(n.shape)
        quad, dquad_dphi = np.zeros(n.shape), np.zeros(n.shape)
        for k in range(1, self._k_max + 1):
            if k > 1:
                ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1
            if k in self._cos_coef:
                a, b = self._cos_coef[k], self._sin_coef[k]
                cm = cm + (a * ck + b * sk)
                dcm_dphi = dcm_dphi + k * (b * ck - a * sk)
                quad = quad + (a * sk - b * ck)
                dquad_dphi = dquad_dphi + k * (a * ck + b * sk)
        dcm, dquad = w * dcm_dphi, w * dquad_dphi
        p = self.mains
        if p.am_depth:
            theta = 2 * np.pi * _frac(n * (p.am_hz / self.fs_in_hz))
            env = 1.0 + p.am_depth * np.sin(theta)
            denv = (2 * np.pi * p.am_hz * p.am_depth) * np.cos(theta)
            cm, dcm = env * cm, env * dcm + denv * cm
            quad, dquad = env * quad, env * dquad + denv * quad
        return np.stack([cm, dcm, quad, dquad, self._mag_ba * w * s1])

    def _periodic(self, k0: int, n: int) -> np.ndarray:
        """Table columns for samples ``k0 .. k0 + n - 1`` (from column ``k0 mod P``, wrapping), shape (5, n).

        For chunks up to :data:`MAX_CACHED_SAMPLES` a read-only view of the
        table tiled once to cover any such chunk (no copy per chunk); longer
        chunks get their own tiled copy.
        """
        period = self._table.shape[1]
        first = k0 % period
        if n > MAX_CACHED_SAMPLES:
            return np.tile(self._table, -(-(first + n) // period))[:, first:first + n]
        if self._tiled is None or self._tiled.shape[1] < first + n:
            self._tiled = np.tile(self._table, -(-(period + n) // period))
            self._tiled.flags.writeable = False  # chunks share it
        return self._tiled[:, first:first + n]

    def process(self, chunk: Chunk) -> Chunk:
        """Add ``cm_v``, ``cm_dvdt_v_per_s`` (to any already present) and magnetic pickup."""
        x = np.asarray(chunk.diff_v, dtype=float)
        k0, n = chunk.start_sample, x.shape[-1]
        if self._table is None:
            cm, dcm, quad, dquad, pickup = self._waveforms(k0 + np.arange(n, dtype=np.int64))
        else:  # samples k0 .. k0 + n - 1 are table columns (k0 mod P) onwards, wrapping
            cm, dcm, quad, dquad, pickup = self._periodic(k0, n)
        if chunk.cm_v is not None:
            if chunk.cm_dvdt_v_per_s is None:
                raise ValueError("The input chunk has cm_v but no cm_dvdt_v_per_s; MainsStage "
                                 "adds to both, so it needs both.")
            cm, dcm = chunk.cm_v + cm, chunk.cm_dvdt_v_per_s + dcm
            if chunk.cm_quad_v is not None:
                quad, dquad = chunk.cm_quad_v + quad, chunk.cm_quad_dvdt_v_per_s + dquad
        if self._mag_ba:
            x = x + pickup
        return Chunk(x, cm, dcm, chunk.start_sample, quad, dquad)
