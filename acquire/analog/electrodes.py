"""Electrodes: half-cell offsets, electrode noise, and common-mode to differential conversion.

Each lead is a pair of electrodes, the positive one of impedance Z_e and the
negative one of Z_e in series with an imbalance (the standards' 51 kOhm ||
47 nF). Each amplifier input has its common-mode input impedance Z_cm to
ground, so the body common mode v_cm reaches the two inputs through two
slightly different dividers and part of it becomes differential
(facts.md section 2.2). :class:`ElectrodeStage` adds that error, the
half-cell dc offsets (with a slow drift) and the electrode noise to every
lead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

from acquire._check import FrontendWarning, check_option, check_positive, suggest
from acquire.analog.impedance import IEC_IMBALANCE, ElectrodeImpedance, ParallelRC
from acquire.analog.kernels import exponential_divider
from acquire.noise import BlockNoise
from acquire.stage import Chunk, dc_vector, sosfilt_carry

#: Names accepted by :func:`parse_imbalance`.
IMBALANCE_NAMES = {"iec": IEC_IMBALANCE}
#: Default electrode impedance: R_s = 1 kOhm in series with 100 kOhm || 47 nF.
#: An assumption of the order of wet gel electrodes on unprepared skin (the
#: R_s + R_d || C_d form of facts.md section 2.3; no measured value was read).
DEFAULT_ELECTRODE = ElectrodeImpedance(r_s_ohm=1e3, r_d_ohm=100e3, c_d_f=47e-9)
#: Half-cell offset difference the standards test with (+-300 mV, facts.md
#: 1.2); larger values warn.
OFFSET_TEST_V = 0.3
#: Largest accepted half-cell offset difference (1000 mV is seen between body
#: sites, facts.md 2.1).
OFFSET_MAX_V = 1.0
#: Upper edge of the electrode-noise band, Hz: the diagnostic band (facts.md
#: 1.3), so ``noise_v_rms`` is the noise an ECG band sees whatever the
#: simulation rate.
NOISE_BAND_HZ = 150.0
#: Order of the Butterworth low-pass that band-limits the electrode noise.
NOISE_ORDER = 2
#: Relative separation below which two poles of the divider count as repeated.
_POLE_SEPARATION = 1e-9
#: Frequency scale of the Laplace variable while forming polynomials, rad/s.
_W_SCALE = 2 * np.pi * 1e3
_STREAM_NOISE, _STREAM_DRIFT = 201, 202


def parse_imbalance(value) -> ElectrodeImpedance:
    """An electrode imbalance from a name, a resistance or an impedance.

    Parameters
    ----------
    value : {'iec'} or float or str or dict or ElectrodeImpedance
        'iec' is 51 kOhm || 47 nF (IEC 60601-2-25/-27, AAMI EC13); a number,
        or a string such as ``"51e3"``, is a resistance in ohms (>= 0); a
        table ``{r_s_ohm, r_d_ohm, c_d_f}`` is R_s + (R_d || C_d).

    Raises
    ------
    ValueError
        Unknown name (with "did you mean") or a negative resistance.
    TypeError
        Any other type.
    """
    if isinstance(value, ElectrodeImpedance):
        return value
    if isinstance(value, dict):
        parts = {"r_s_ohm": 0.0, "r_d_ohm": 0.0, "c_d_f": 0.0, **value}
        if set(parts) != {"r_s_ohm", "r_d_ohm", "c_d_f"} or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in parts.values()):
            raise ValueError(f"an imbalance table has numbers r_s_ohm, r_d_ohm and c_d_f (missing ones are 0); "
                             f"got {value!r}.")
        return ElectrodeImpedance(**parts)
    if isinstance(value, str):
        name = value.strip().lower()
        if name in IMBALANCE_NAMES:
            return IMBALANCE_NAMES[name]
        try:
            ohms = float(name)
        except ValueError:
            raise ValueError(f"imbalance must be one of {sorted(IMBALANCE_NAMES)} or a resistance in ohms "
                             f"(e.g. '51e3'); got {value!r}.{suggest(name, IMBALANCE_NAMES)}") from None
        return ElectrodeImpedance(r_s_ohm=check_positive("imbalance", ohms, allow_zero=True))
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"imbalance must be 'iec', a resistance in ohms or an ElectrodeImpedance; "
                        f"got {value!r}.")
    return ElectrodeImpedance(r_s_ohm=check_positive("imbalance", value, allow_zero=True))


def _parts(z) -> tuple:
    """An impedance, or a sequence of impedances in series, as a tuple."""
    return tuple(z) if isinstance(z, Sequence) else (z,)


def _z_ohm(z, f_hz) -> np.ndarray:
    return sum(part.z_ohm(f_hz) for part in _parts(z))


def cm_to_dm_transfer(f_hz, z_pos, z_neg, z_cm: ParallelRC, z_cm_neg: ParallelRC | None = None):
    """Differential error per volt of body common mode, v_d / v_cm.

    Parameters
    ----------
    f_hz : float or array
        Frequency, Hz.
    z_pos, z_neg : impedance or sequence of impedances
        Electrode impedances of the positive and negative input (objects with
        ``z_ohm(f_hz)``; a sequence means its members in series).
    z_cm : ParallelRC
        Impedance from each amplifier input to ground (its common-mode
        input impedance, with any cable capacitance): of the positive input,
        and of the negative one too unless ``z_cm_neg`` is given.
    z_cm_neg : ParallelRC, optional
        That of the negative input, when the two differ
        (:meth:`ElectrodeParams.input_shunts`).

    Returns
    -------
    complex or complex ndarray

    Notes
    -----
    Each input sees the divider Z_c/(Z + Z_c), so

        v_d/v_cm = Z_cp/(Z_pos + Z_cp) - Z_cn/(Z_neg + Z_cn)
                 = (Z_cp Z_neg - Z_cn Z_pos) / ((Z_pos + Z_cp)(Z_neg + Z_cn)),

    evaluated in the second form (no cancellation); with equal shunts about
    (Z_neg - Z_pos)/Z_cm when Z_cm >> Z (facts.md 2.2). Worked example:
    10 kOhm against 10 kOhm + 51 kOhm || 47 nF with Z_cm = 100 MOhm || 2 pF
    gives 4.080e-4 at 50 Hz.
    """
    zp, zn, zcp = _z_ohm(z_pos, f_hz), _z_ohm(z_neg, f_hz), z_cm.z_ohm(f_hz)
    zcn = zcp if z_cm_neg is None else z_cm_neg.z_ohm(f_hz)
    h = divider_from_impedances(zp, zn, zcp, zcn)
    return complex(h) if np.ndim(h) == 0 else h


def divider_from_impedances(z_pos, z_neg, z_cm_pos, z_cm_neg):
    """v_d/v_cm from complex impedances (arrays broadcast): (Z_cp Z_n - Z_cn Z_p) / ((Z_p + Z_cp)(Z_n + Z_cn)).

    The formula of :func:`cm_to_dm_transfer`, for callers that hold
    impedance values rather than impedance objects (a Monte Carlo's draws).
    """
    return (z_cm_pos * z_neg - z_cm_neg * z_pos) / ((z_pos + z_cm_pos) * (z_neg + z_cm_neg))


def shunt_rc(r_ohm, c_f, z_cm_mismatch, cable_c_f, cable_c_mismatch, sign: float):
    """(R, C) of one input's shunt: Z_cm (1 + sign m/2) in parallel with C_cable (1 + sign m_c/2); arrays broadcast.

    Scaling an R || C impedance by k scales R by k and C by 1/k; the cable's
    capacitance adds to C. ``sign`` is +1 for the positive input, -1 for the negative.
    """
    k = 1.0 + sign * z_cm_mismatch / 2
    return r_ohm * k, c_f / k + cable_c_f * (1.0 + sign * cable_c_mismatch / 2)


def cmrr_eff_db(cmrr_db: float, z_pos, z_neg, z_cm: ParallelRC, f_hz):
    """Effective CMRR of amplifier plus electrode imbalance, dB.

    Parameters
    ----------
    cmrr_db : float
        Amplifier CMRR, dB (math.inf for an ideal amplifier).
    z_pos, z_neg, z_cm, f_hz
        As in :func:`cm_to_dm_transfer`.

    Notes
    -----
    1/CMRR_eff = 1/CMRR + |Z_neg - Z_pos|/|Z_cm| (facts.md 2.2): 51 kOhm ||
    47 nF against a resistive 100 MOhm caps CMRR_eff at 67.80 dB at 50 Hz.
    """
    if math.isnan(float(cmrr_db)):
        raise ValueError(f"cmrr_db must be a number (math.inf for an ideal amplifier); got {cmrr_db!r}.")
    dz = np.abs(_z_ohm(z_neg, f_hz) - _z_ohm(z_pos, f_hz)) / np.abs(z_cm.z_ohm(f_hz))
    with np.errstate(divide="ignore"):
        out = -20.0 * np.log10(10.0 ** (-float(cmrr_db) / 20.0) + dz)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class ElectrodeParams:
    """Electrode pair of every lead.

    Parameters
    ----------
    z_electrode : ElectrodeImpedance
        Impedance of each electrode (default :data:`DEFAULT_ELECTRODE`, an
        assumption).
    imbalance : ElectrodeImpedance or float or str
        Extra impedance in series with each lead's negative electrode; see
        :func:`parse_imbalance` ('iec' = 51 kOhm || 47 nF, the default).
    offset_v : float or sequence of float
        Half-cell dc offset difference of each lead (one value for all), V;
        |offset| <= 1 V, with a FrontendWarning above the standards' 0.3 V.
    offset_drift_v_per_rts : float
        Drift of the offset as a random walk (Wiener process): its standard
        deviation grows as ``offset_drift_v_per_rts * sqrt(t)``, V/sqrt(s).
    noise_v_rms : float
        Electrode noise of each lead, V rms, Gaussian, band-limited to
        :data:`NOISE_BAND_HZ` (a few uV p-p is typical, facts.md 2.1).
    imbalance_lead : {"-", "+"}
        The input whose electrode carries the imbalance.
    cable_c_f : float
        Capacitance of each input's lead (cable, protection) to ground, F;
        it is in parallel with the amplifier's common-mode input impedance.
    cable_c_mismatch : float
        Signed mismatch of the two leads' capacitances: C (1 + m/2) on the
        positive input, C (1 - m/2) on the negative (|m| < 1).
    """

    z_electrode: ElectrodeImpedance = DEFAULT_ELECTRODE
    imbalance: ElectrodeImpedance | float | str = IEC_IMBALANCE
    offset_v: float | tuple[float, ...] = 0.0
    offset_drift_v_per_rts: float = 0.0
    noise_v_rms: float = 0.0
    imbalance_lead: str = "-"
    cable_c_f: float = 0.0
    cable_c_mismatch: float = 0.0

    def __post_init__(self):
        set_ = object.__setattr__
        if not isinstance(self.z_electrode, ElectrodeImpedance):
            raise TypeError(f"z_electrode must be an ElectrodeImpedance; got {self.z_electrode!r}.")
        set_(self, "imbalance", parse_imbalance(self.imbalance))
        scalar = np.ndim(self.offset_v) == 0
        offsets = tuple(float(v) for v in np.atleast_1d(self.offset_v))
        if not offsets:
            raise ValueError("offset_v must be a number or a non-empty sequence, V; got an empty sequence.")
        for v in offsets:
            if not (math.isfinite(v) and abs(v) <= OFFSET_MAX_V):
                raise ValueError(f"offset_v must be finite with |offset_v| <= {OFFSET_MAX_V:g} V; "
                                 f"got {self.offset_v!r}.")
        if max(abs(v) for v in offsets) > OFFSET_TEST_V:
            warnings.warn(f"offset_v={self.offset_v!r} exceeds the +-{OFFSET_TEST_V:g} V half-cell offset "
                          "the standards test with (IEC 60601-2-27, AAMI EC11).", FrontendWarning,
                          stacklevel=3)
        set_(self, "offset_v", offsets[0] if scalar else offsets)
        set_(self, "offset_drift_v_per_rts",
             check_positive("offset_drift_v_per_rts", self.offset_drift_v_per_rts, allow_zero=True))
        set_(self, "noise_v_rms", check_positive("noise_v_rms", self.noise_v_rms, allow_zero=True))
        check_option("imbalance_lead", self.imbalance_lead, ("-", "+"))
        set_(self, "cable_c_f", check_positive("cable_c_f", self.cable_c_f, allow_zero=True))
        if not (math.isfinite(self.cable_c_mismatch) and abs(self.cable_c_mismatch) < 1):
            raise ValueError(f"cable_c_mismatch must be a fraction with |cable_c_mismatch| < 1; "
                             f"got {self.cable_c_mismatch!r}.")

    @property
    def z_pos(self):
        """Impedance(s) in series in front of each positive input (the electrode, and the imbalance on "+")."""
        return (self.z_electrode, self.imbalance) if self.imbalance_lead == "+" else self.z_electrode

    @property
    def z_neg(self):
        """Impedance(s) in series in front of each negative input (the electrode, and the imbalance on "-")."""
        return (self.z_electrode, self.imbalance) if self.imbalance_lead == "-" else self.z_electrode

    def input_shunts(self, z_cm: ParallelRC, z_cm_mismatch: float = 0.0) -> tuple[ParallelRC, ParallelRC]:
        """Impedance to ground at the positive and negative input: Z_cm (1 +- m/2) in parallel with the cable.

        Parameters
        ----------
        z_cm : ParallelRC
            The amplifier's nominal common-mode input impedance.
        z_cm_mismatch : float
            Its signed mismatch m between the inputs (``InAmpParams.z_cm_mismatch``);
            scaling an R || C impedance by k scales R by k and C by 1/k.
        """
        pos, neg = (ParallelRC(*shunt_rc(z_cm.r_ohm, z_cm.c_f, z_cm_mismatch, self.cable_c_f, self.cable_c_mismatch,
                                         sign)) for sign in (1.0, -1.0))
        return pos, neg

    def offsets_v(self, n_channels: int) -> np.ndarray:
        """Offset of each of ``n_channels`` leads, shape (n_channels, 1)."""
        off = np.atleast_1d(self.offset_v)
        if len(off) not in (1, n_channels):
            raise ValueError(f"offset_v must have 1 or n_channels={n_channels} values; got {len(off)}.")
        return np.broadcast_to(np.array(off, dtype=float), (n_channels,)).reshape(-1, 1).copy()


def _scaled_polys(z) -> tuple[np.ndarray, np.ndarray]:
    """(num, den) of Z in the scaled variable s' = s/_W_SCALE, highest power first."""
    num, den = np.array([1.0]), None
    for part in _parts(z):
        n2, d2 = (np.trim_zeros(np.asarray(c, dtype=float), "f") for c in part.s_polys())
        n2, d2 = (c * _W_SCALE ** np.arange(len(c) - 1, -1, -1) for c in (n2, d2))
        num, den = (n2, d2) if den is None else (np.polyadd(np.polymul(num, d2), np.polymul(n2, den)),
                                                 np.polymul(den, d2))
    return num, den


def _divider_fractions(z, z_cm: ParallelRC) -> tuple[np.ndarray, np.ndarray, float]:
    """Partial fractions of Z_cm/(Z + Z_cm): (poles, residues) in rad/s, and the direct term."""
    nz, dz = _scaled_polys(z)
    nc, dc = _scaled_polys(z_cm)
    num = np.polymul(nc, dz)
    den = np.trim_zeros(np.polyadd(np.polymul(nz, dc), num), "f")
    poles = np.roots(den)
    if np.any(np.abs(poles.imag) > 1e-9 * np.abs(poles)) or np.any(poles.real >= 0):
        raise ValueError(f"The electrode divider has poles {poles * _W_SCALE} rad/s that are not real and "
                         "negative; the impedances must be passive RC networks.")
    poles = poles.real
    gaps = np.abs(poles[:, None] - poles[None, :]) + np.diag(np.abs(poles))
    if np.any(gaps < _POLE_SEPARATION * np.abs(poles)[:, None]):
        raise ValueError(f"The electrode divider has (nearly) repeated poles {poles * _W_SCALE} rad/s; "
                         "change an impedance slightly.")
    diffs = poles[:, None] - poles[None, :] + np.eye(len(poles))
    residues = np.polyval(num, poles) / (den[0] * np.prod(diffs, axis=1))
    direct = num[0] / den[0] if len(num) == len(den) else 0.0
    return poles * _W_SCALE, residues * _W_SCALE, float(direct)


def _hermite_weights(z: float) -> np.ndarray:
    """Weights of the cubic Hermite basis (x_n, T x'_n, x_n+1, T x'_n+1) in int_0^1 e^{z(1-u)} x(u) du."""
    if abs(z) < 1.0:  # m_k = sum_j z^j k!/(j+k+1)!, converged to machine precision in 25 terms
        m = [sum(z ** j * math.factorial(k) / math.factorial(j + k + 1) for j in range(25))
             for k in range(4)]
    else:  # m_0 = (e^z - 1)/z, m_k = (k m_{k-1} - 1)/z: stable for |z| >= 1
        m = [math.expm1(z) / z]
        for k in range(1, 4):
            m.append((k * m[-1] - 1.0) / z)
    m0, m1, m2, m3 = m
    return np.array([m0 - 3 * m2 + 2 * m3, m1 - 2 * m2 + m3, 3 * m2 - 2 * m3, m3 - m2])


class ElectrodeStage:
    """Adds electrode offsets, drift, noise and the CM-to-DM error to every lead.

    Parameters
    ----------
    params : ElectrodeParams
    z_cm : ParallelRC
        Common-mode input impedance of each amplifier input.
    fs_hz : float
        Sampling rate.
    n_channels : int
        Number of leads.
    seed : int
        Seed of the noise and the drift.
    z_cm_mismatch : float
        Signed mismatch of the inputs' Z_cm (:meth:`ElectrodeParams.input_shunts`,
        which also adds the cable capacitance).

    Notes
    -----
    Per lead, ``diff_v += V_off + w(t) + e(t) + h * v_cm``:

    * V_off: ``offset_v``; w(t): Wiener drift, w_n = w_{n-1} +
      sigma sqrt(T) g_n; e(t): white Gaussian noise through a Butterworth
      low-pass at min(NOISE_BAND_HZ, 0.4 fs), scaled to ``noise_v_rms`` by
      the filter's noise gain (root sum of its squared impulse response).
    * h * v_cm: the divider of :func:`cm_to_dm_transfer`, H(s) =
      H_pos(s) - H_neg(s) with H_x = Z_cx/(Z_x + Z_cx) (Z_cx the input's
      shunt: Z_cm with its mismatch, parallel to the cable), written as partial
      fractions sum_i r_i/(s - p_i) (+ a direct term). Each first-order part
      is integrated exactly for the cubic Hermite interpolant of v_cm built
      from ``cm_v`` and the exact derivative ``cm_dvdt_v_per_s`` at the
      samples (an exponential integrator):

          y_i[n+1] = e^{p_i T} y_i[n] + r_i T int_0^1 e^{p_i T (1-u)} x_H(u) du,

      in one compiled pass per chunk (:func:`acquire.analog.kernels.exponential_divider`).

      The only error is the interpolation's, at most (w T)^4/384 of a
      sinusoid's amplitude: 5e-7 at 150 Hz and 3e-5 at 420 Hz for
      fs = 8 kHz (a bilinear transform would be off by 9e-4 at 150 Hz for
      the worked example). RC networks have real, negative poles; the
      stiff ones (Z_cm's capacitance against the electrodes, MHz) are exact
      too. The filters start at rest with zero common mode before sample 0,
      so the first few time constants (ms) are a transient.

    The stage's dc operating point (:meth:`prime`) is its input plus
    V_off: the drift starts at 0, the noise has zero mean and the body
    common mode has no dc, so no state changes.

    Noise and drift draws come from :class:`acquire.noise.BlockNoise`, keyed
    on the absolute sample index; all recursions carry their state, so
    chunking cannot change the output.
    """

    def __init__(self, params: ElectrodeParams, z_cm: ParallelRC, fs_hz: float, n_channels: int, *,
                 seed: int = 0, z_cm_mismatch: float = 0.0):
        if not isinstance(params, ElectrodeParams):
            raise TypeError(f"params must be an ElectrodeParams; got {type(params).__name__}.")
        if not isinstance(z_cm, ParallelRC):
            raise TypeError(f"z_cm must be a ParallelRC; got {type(z_cm).__name__}.")
        if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise ValueError(f"n_channels must be an integer >= 1; got {n_channels!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {seed!r}.")
        self.fs_in_hz = self.fs_out_hz = fs_hz = check_positive("fs_hz", fs_hz)
        self.params, self.z_cm, self.n_channels, self.seed = params, z_cm, int(n_channels), int(seed)
        self._offsets = params.offsets_v(self.n_channels)

        t = 1.0 / fs_hz
        shunt_pos, shunt_neg = params.input_shunts(z_cm, z_cm_mismatch)
        pp, rp, dp = _divider_fractions(params.z_pos, shunt_pos)
        pn, rn, dn = _divider_fractions(params.z_neg, shunt_neg)
        poles, residues = np.concatenate([pp, pn]), np.concatenate([rp, -rn])
        self._direct = dp - dn
        decay = np.exp(poles * t)
        w = np.array([_hermite_weights(p * t) for p in poles]).reshape(-1, 4)
        coef = (residues * t)[:, None] * w * np.array([1.0, t, 1.0, t])
        # Poles so fast that e^{pT} underflows to 0 have no memory: y = u, merged into one term.
        self._static_coef = coef[decay == 0].sum(axis=0)
        self._decay, self._coef = decay[decay > 0], coef[decay > 0]

        self._noise = self._drift = None
        if params.noise_v_rms:
            band_hz = min(NOISE_BAND_HZ, 0.4 * fs_hz)
            sos = signal.butter(NOISE_ORDER, band_hz, fs=fs_hz, output="sos")
            impulse = np.zeros(int(200 * fs_hz / band_hz))
            impulse[0] = 1.0
            gain = math.sqrt(np.sum(signal.sosfilt(sos, impulse) ** 2))
            sos[:, :3] *= (params.noise_v_rms / gain) ** (1.0 / len(sos))
            self._noise_sos = sos
            self._noise = BlockNoise(self.seed, _STREAM_NOISE, self.n_channels)
        if params.offset_drift_v_per_rts:
            self._drift = BlockNoise(self.seed, _STREAM_DRIFT, self.n_channels)
            self._drift_step_v = params.offset_drift_v_per_rts * math.sqrt(t)
        self.reset()

    def reset(self) -> None:
        """Back to rest: zero divider state, zero drift, noise filter at rest."""
        self.cm_prev_ = np.zeros(2)  # v_cm and its derivative before the next sample
        self.zi_ = np.zeros(len(self._decay))
        self.drift_v_ = np.zeros((self.n_channels, 1))
        self.noise_zi_ = None if self._noise is None else np.zeros((len(self._noise_sos), self.n_channels, 2))
        for gen in (self._noise, self._drift):
            if gen is not None:
                gen.reset()

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """The dc output for the constant input ``dc_in_v`` (n_channels,): ``dc_in_v + V_off``.

        No state is changed: the divider, drift and noise filter stay at rest.
        """
        return dc_vector(dc_in_v, self.n_channels) + self._offsets[:, 0]

    def _add_cm_to_dm(self, x: np.ndarray, dx: np.ndarray, out: np.ndarray) -> None:
        """``out += `` the divider's CM-to-DM error for v_cm ``x`` and its derivative ``dx``, in place."""
        exponential_divider(np.ascontiguousarray(x), np.ascontiguousarray(dx), self.cm_prev_, self._direct,
                            self._static_coef, self._decay, self._coef, self.zi_, out)

    def process(self, chunk: Chunk) -> Chunk:
        """Add offsets, drift, noise and the CM-to-DM error to ``diff_v``; cm fields pass unchanged."""
        x = np.asarray(chunk.diff_v, dtype=float)
        if x.ndim != 2 or x.shape[0] != self.n_channels:
            raise ValueError(f"diff_v must have shape (n_channels={self.n_channels}, n); got {x.shape}.")
        n = x.shape[1]
        if n == 0:
            return chunk
        k0 = chunk.start_sample
        out = x + self._offsets
        if self._drift is not None:
            steps = self._drift_step_v * self._drift.normal(k0, k0 + n)
            walk = np.cumsum(np.concatenate([self.drift_v_, steps], axis=1), axis=1)[:, 1:]
            self.drift_v_ = walk[:, -1:]
            out = out + walk
        if self._noise is not None:
            e, self.noise_zi_ = sosfilt_carry(self._noise_sos, self._noise.normal(k0, k0 + n), self.noise_zi_)
            out = out + e
        if chunk.cm_v is not None:
            if chunk.cm_dvdt_v_per_s is None:
                raise ValueError("ElectrodeStage needs cm_dvdt_v_per_s with cm_v (MainsStage provides both).")
            self._add_cm_to_dm(np.asarray(chunk.cm_v, dtype=float), np.asarray(chunk.cm_dvdt_v_per_s, dtype=float),
                               out)  # a new array: never the chunk's own
        return chunk.with_diff(out)
