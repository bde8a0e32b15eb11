"""Behavioural instrumentation amplifier: gain, CMRR(f), bandwidth, noise, dc errors, rails.

One stage models one amplifier per lead (``n_channels`` identical, independent
amplifiers that share the electrode pair model and the body common mode).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from acquire._check import FrontendWarning, check_below_nyquist, check_positive
from acquire.analog.impedance import ElectrodeImpedance, ParallelRC
from acquire.noise import FastBlockNoise
from acquire.stage import Chunk, dc_vector, sos_steady_state, sosfilt_carry
from frontend_models.amp_filters import (ACCURACY_BAND_FRACTION, bilinear_sos, magnitude_matched_sos,
                                         merged_noise_path, one_stream_noise_sos, pink_noise_sos,
                                         scaled, unit_phasor, warp_hz)
from frontend_models.amp_kernel import amplifier_pass, noise_bank

#: The chunk's common-mode fields, in the order amplifier_pass takes them.
_CM_FIELDS = ("cm_v", "cm_dvdt_v_per_s", "cm_quad_v", "cm_quad_dvdt_v_per_s")
#: An unused field for amplifier_pass.
_NONE = np.zeros(0)
#: Largest accepted magnitude error in that band before a warning, dB.
ACCURACY_DB = 0.1
#: Samples per random-number block; noise for absolute sample ``n`` comes
#: from block ``n // NOISE_BLOCK_SAMPLES``, so chunking cannot change it. Seeding a
#: generator costs ~20 us, so blocks are long (0.5 MB per lead and stream).
NOISE_BLOCK_SAMPLES = 65536

_STREAM_WHITE, _STREAM_PINK = range(2)


def _finite(param: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{param} must be a finite number; got {value!r}.")
    return v


def _positive_or_inf(param: str, value: float) -> float:
    v = float(value)
    if not (v > 0 and not math.isnan(v)):
        raise ValueError(f"{param} must be > 0 (math.inf for no limit); got {value!r}.")
    return v


@dataclass(frozen=True)
class InAmpParams:
    """Parameters of the behavioural instrumentation amplifier (SI units).

    Parameters
    ----------
    gain_v_per_v : float
        Differential gain G (> 0).
    cmrr_db : float
        Common-mode rejection ratio at dc, dB (> 0).
    cmrr_hf_point : (f_hz, cmrr_db) or None
        A datasheet point on the falling CMRR curve; the corner ``f_z`` of
        CMRR(f) = CMRR_dc / (1 + j f/f_z) is solved so that |CMRR(f_hz)|
        equals it. Mutually exclusive with ``cmrr_corner_hz``.
    cmrr_corner_hz : float or None
        The CMRR corner ``f_z`` directly. Neither given: CMRR is flat.
    bandwidth_hz, gbw_hz : float or None
        The -3 dB bandwidth, or the gain-bandwidth product (then bandwidth =
        gbw_hz / gain_v_per_v). Exactly one must be given.
    noise_v_per_rthz : float
        White input voltage-noise density e_n, V/sqrt(Hz).
    noise_corner_hz : float
        1/f corner f_c of the voltage noise (0: no 1/f noise).
    current_noise_a_per_rthz : float
        White input current-noise density i_n per input, A/sqrt(Hz).
    bias_current_a, offset_current_a : float
        Input bias current I_b (into the pins) and offset current I_os
        (I_b+ - I_b-), amperes.
    offset_v : float
        Input offset voltage V_os, volts.
    output_swing_v : float
        Output clips at +-output_swing_v (math.inf: never).
    input_cm_range_v : (min_v, max_v)
        Allowed input common-mode range; samples outside are counted.
    z_cm : ParallelRC
        Common-mode input impedance of each input (default 10 GOhm || 5 pF,
        a generic value; presets give the datasheet's). Used by the electrode
        stage for the CM-to-DM divider, not applied here.
    z_cm_mismatch : float
        Signed mismatch of the two inputs' common-mode impedances: the
        positive input has Z_cm (1 + m/2), the negative Z_cm (1 - m/2)
        (|m| < 1). Used by the electrode stage's divider.
    z_diff : ParallelRC or None
        Differential input impedance, for the electrode stage.
    dc_block_hz : float
        Corner of a first-order dc-blocking high-pass on the amplified signal
        (integrator feedback, as in the AD8232); 0 for a dc-coupled amplifier.
    cmrr_phase_rad : float
        Phase of the common-mode gain, radians: A_cm(f) is multiplied by
        exp(j cmrr_phase_rad). A datasheet gives |CMRR| only; its sign and
        phase come from the part's resistor and capacitor mismatch, so they
        are unknown. 0 is a common-mode gain in phase with v_cm, pi the
        opposite sign; :func:`acquire.frontend.amplifier_params` chooses the
        worst case by default (``amplifier.cmrr_polarity``).

    Notes
    -----
    The CMRR fit: |CMRR(f_h)| = CMRR_dc / sqrt(1 + (f_h/f_z)^2), so
    f_z = f_h / sqrt(r^2 - 1) with r = 10^((cmrr_db - cmrr_h_db)/20)
    (behavioural model of facts.md section 4; e.g. INA826 G=1: 95 dB at dc,
    84 dB at 5 kHz gives f_z = 1.47 kHz).
    """

    gain_v_per_v: float
    cmrr_db: float
    cmrr_hf_point: tuple[float, float] | None = None
    cmrr_corner_hz: float | None = None
    bandwidth_hz: float | None = None
    gbw_hz: float | None = None
    noise_v_per_rthz: float = 0.0
    noise_corner_hz: float = 0.0
    current_noise_a_per_rthz: float = 0.0
    bias_current_a: float = 0.0
    offset_current_a: float = 0.0
    offset_v: float = 0.0
    output_swing_v: float = math.inf
    input_cm_range_v: tuple[float, float] = (-math.inf, math.inf)
    z_cm: ParallelRC = field(default_factory=lambda: ParallelRC(10e9, 5e-12))
    z_diff: ParallelRC | None = None
    dc_block_hz: float = 0.0
    z_cm_mismatch: float = 0.0
    cmrr_phase_rad: float = 0.0

    def __post_init__(self):
        check_positive("gain_v_per_v", self.gain_v_per_v)
        check_positive("cmrr_db", self.cmrr_db)
        if self.cmrr_hf_point is not None and self.cmrr_corner_hz is not None:
            raise ValueError("Give at most one of cmrr_hf_point or cmrr_corner_hz; got "
                             f"cmrr_hf_point={self.cmrr_hf_point!r}, cmrr_corner_hz={self.cmrr_corner_hz!r}.")
        if self.cmrr_hf_point is not None:
            point = tuple(self.cmrr_hf_point)
            if len(point) != 2:
                raise ValueError(f"cmrr_hf_point must be (f_hz, cmrr_db); got {self.cmrr_hf_point!r}.")
            check_positive("cmrr_hf_point f_hz", point[0])
            if not float(point[1]) < self.cmrr_db:
                raise ValueError(f"cmrr_hf_point cmrr_db must be below the dc cmrr_db={self.cmrr_db:g} "
                                 f"(CMRR falls with frequency); got {point[1]!r}.")
        if self.cmrr_corner_hz is not None:
            check_positive("cmrr_corner_hz", self.cmrr_corner_hz)
        if (self.bandwidth_hz is None) == (self.gbw_hz is None):
            raise ValueError("Give exactly one of bandwidth_hz or gbw_hz; got "
                             f"bandwidth_hz={self.bandwidth_hz!r}, gbw_hz={self.gbw_hz!r}.")
        if self.bandwidth_hz is not None:
            check_positive("bandwidth_hz", self.bandwidth_hz)
        else:
            check_positive("gbw_hz", self.gbw_hz)
        for name in ("noise_v_per_rthz", "noise_corner_hz", "current_noise_a_per_rthz", "dc_block_hz"):
            check_positive(name, getattr(self, name), allow_zero=True)
        for name in ("bias_current_a", "offset_current_a", "offset_v", "cmrr_phase_rad"):
            _finite(name, getattr(self, name))
        _positive_or_inf("output_swing_v", self.output_swing_v)
        if not abs(_finite("z_cm_mismatch", self.z_cm_mismatch)) < 1:
            raise ValueError(f"z_cm_mismatch must be a fraction with |z_cm_mismatch| < 1; got {self.z_cm_mismatch!r}.")
        lo, hi = self.input_cm_range_v
        if not float(lo) < float(hi):
            raise ValueError(f"input_cm_range_v must be (min_v, max_v) with min_v < max_v; "
                             f"got {self.input_cm_range_v!r}.")
        if not isinstance(self.z_cm, ParallelRC):
            raise TypeError(f"z_cm must be a ParallelRC; got {type(self.z_cm).__name__}.")
        if self.z_diff is not None and not isinstance(self.z_diff, ParallelRC):
            raise TypeError(f"z_diff must be a ParallelRC or None; got {type(self.z_diff).__name__}.")

    @property
    def f_3db_hz(self) -> float:
        """-3 dB bandwidth: ``bandwidth_hz``, or ``gbw_hz / gain_v_per_v``."""
        return self.bandwidth_hz if self.bandwidth_hz is not None else self.gbw_hz / self.gain_v_per_v

    @property
    def cmrr_zero_hz(self) -> float:
        """CMRR corner f_z (math.inf when CMRR is flat)."""
        if self.cmrr_corner_hz is not None:
            return float(self.cmrr_corner_hz)
        if self.cmrr_hf_point is None:
            return math.inf
        f_h, cmrr_h_db = self.cmrr_hf_point
        r = 10 ** ((self.cmrr_db - cmrr_h_db) / 20)
        return f_h / math.sqrt(r * r - 1)

    def _band(self, f_hz) -> np.ndarray:
        """Shared band shape: dc block times the bandwidth pole."""
        jf = 1j * np.asarray(f_hz, dtype=float)
        h = 1.0 / (1.0 + jf / self.f_3db_hz)
        if self.dc_block_hz:
            h = h * (jf / self.dc_block_hz) / (1.0 + jf / self.dc_block_hz)
        return h

    def diff_gain(self, f_hz) -> np.ndarray:
        """Analytic differential gain G / (1 + j f/f_3dB) (times the dc block, if any)."""
        return self.gain_v_per_v * self._band(f_hz)

    def cm_gain(self, f_hz) -> np.ndarray:
        """Analytic common-mode gain (G / CMRR_dc)(1 + j f/f_z) exp(j phase) times the band shape."""
        zero = 1.0 + 1j * np.asarray(f_hz, dtype=float) / self.cmrr_zero_hz
        rotation = complex(*unit_phasor(self.cmrr_phase_rad))
        return self.gain_v_per_v * 10 ** (-self.cmrr_db / 20) * rotation * zero * self._band(f_hz)

    def cmrr_db_at(self, f_hz) -> np.ndarray:
        """|CMRR(f)| in dB: cmrr_db - 10 log10(1 + (f/f_z)^2)."""
        return self.cmrr_db - 10 * np.log10(1.0 + (np.asarray(f_hz, dtype=float) / self.cmrr_zero_hz) ** 2)


class InstrumentationAmplifier:
    """Streaming behavioural instrumentation amplifier (fs_in_hz = fs_out_hz = fs_hz).

    Parameters
    ----------
    params : InAmpParams
    fs_hz : float
        Simulation rate of the analog path.
    z_pos, z_neg : ElectrodeImpedance or None
        Electrode impedance in series with the + and - inputs; bias and noise
        currents flow through them. None: a zero-ohm source.
    n_channels : int
        Number of leads (one independent amplifier each).
    seed : int
        Seed of the amplifier's noise (>= 0).

    Attributes
    ----------
    n_clipped_ : int
        Output samples (channel x sample) clipped at +-output_swing_v.
    n_cm_range_violations_ : int
        Input samples (channel x sample) where either input, cm_v +- diff_v/2,
        left ``input_cm_range_v``.

    Notes
    -----
    Per lead, with u the differential input voltage (``diff_v``)::

        y = LP( HP( G*(u + e_n + i_n+ * Z_pos - i_n- * Z_neg)
                    + (G/CMRR_dc)*(v_cm + (dv_cm/dt)/w_z) ) ) + G*V_dc

    then clipped to +-output_swing_v. w_z = 2 pi f_z, so the common-mode path
    is CMRR(f) = CMRR_dc/(1 + j f/f_z) (facts.md section 4), evaluated with the
    exact derivative carried by the chunk: no discretisation error. A chunk
    with ``cm_v`` but no ``cm_dvdt_v_per_s`` is refused when f_z is finite.

    V_dc = V_os - (I_b + I_os/2) R_pos + (I_b - I_os/2) R_neg: the bias
    currents flow into the pins through the electrodes' dc resistances. It is
    added after the filters as its steady-state value (no power-on
    transient); with ``dc_block_hz`` > 0 it is blocked and omitted.

    LP is the first-order bandwidth pole f_3dB, HP the optional dc block;
    both are discretised by the bilinear transform prewarped at
    min(f_pole, 0.4 fs). A pole above fs/2 (real amplifiers have 100 kHz+
    bandwidths) is thus kept, exact at 0.4 fs; its magnitude error below
    0.4 fs is at most about 0.27 (fs/f_3dB)^2 dB and its phase error about
    7 deg * fs/f_3dB; the bilinear zero at fs/2 removes the response in the
    last 20 % of the band. Such a pole maps to a negative real z-pole, so a
    step also excites a decaying oscillation at fs/2 of relative size
    K/(K + w_3dB) ~ 0.13 fs/f_3dB (K = 0.82 fs), which the following
    anti-alias filter removes. When the realised response differs from
    :meth:`diff_gain` by more than 0.1 dB somewhere below 0.4 fs (any
    f_3dB below about 1.6 fs), a FrontendWarning says up to which frequency
    it still matches.

    Noise (per lead, independent): white e_n; 1/f as e_n sqrt(f_c) times
    unit white noise through :func:`pink_noise_sos`; current noise i_n per
    input through a first-order filter matching |Z(f)| of its electrode
    within 0.3 dB up to 0.4 fs (:func:`magnitude_matched_sos`). All of it is
    drawn as one stream through one filter with the model's PSD
    (:func:`one_stream_noise_sos`: white, the 1/f ladder and the currents'
    Lorentzians, spectrally factored) when that filter is within 0.3 dB of
    the model up to 0.4 fs; otherwise white and current noise as one stream
    (:func:`merged_noise_path`, the same summed PSD) and 1/f as a second.
    Random numbers for absolute sample n come from a compiled ziggurat over
    an SFC64 generator seeded with ``SeedSequence([seed, stream, n //
    NOISE_BLOCK_SAMPLES])`` (:class:`acquire.noise.FastBlockNoise`), so the
    noise does not depend on chunking and ``reset()`` replays it. Each
    stream's filter runs in parallel form when one matches it
    (:func:`frontend_models.amp_kernel.noise_bank`). Cost per lead-sample:
    about 3 ns per stream drawn and 10 ns for the compiled pass with a
    16-part parallel form (:func:`frontend_models.amp_kernel.amplifier_pass`).

    ``z_cm`` and ``z_diff`` are not applied here: the electrode stage uses
    them for the CM-to-DM divider that arrives in ``diff_v``.

    Steady start (:meth:`prime`): for a constant input u_dc the band filters
    start in their steady state for G u_dc, so the output is
    clip(H(1) G u_dc + G V_dc) from sample 0, H(1) the band's dc gain
    (1 dc-coupled, 0 with the dc block, whose capacitor then holds the
    amplified offset). The noise filters stay at rest (zero-mean inputs).
    """

    def __init__(self, params: InAmpParams, fs_hz: float, *, z_pos: ElectrodeImpedance | None = None,
                 z_neg: ElectrodeImpedance | None = None, n_channels: int = 1, seed: int = 0):
        if not isinstance(params, InAmpParams):
            raise TypeError(f"params must be an InAmpParams; got {type(params).__name__}.")
        fs_hz = check_positive("fs_hz", fs_hz)
        for name, z in (("z_pos", z_pos), ("z_neg", z_neg)):
            if z is not None and not isinstance(z, ElectrodeImpedance):
                raise TypeError(f"{name} must be an ElectrodeImpedance or None; got {type(z).__name__}.")
        if not (isinstance(n_channels, (int, np.integer)) and n_channels >= 1):
            raise ValueError(f"n_channels must be an integer >= 1; got {n_channels!r}.")
        if not (isinstance(seed, (int, np.integer)) and seed >= 0):
            raise ValueError(f"seed must be an integer >= 0; got {seed!r}.")
        if params.dc_block_hz:
            check_below_nyquist("dc_block_hz", params.dc_block_hz, fs_hz)
        self.params, self.z_pos, self.z_neg = params, z_pos, z_neg
        self.fs_in_hz = self.fs_out_hz = fs_hz
        self.n_channels, self.seed = int(n_channels), int(seed)

        p, g = params, params.gain_v_per_v
        f_c = p.f_3db_hz
        sos = [bilinear_sos([2 * np.pi * f_c], [1.0, 2 * np.pi * f_c], fs_hz, warp_hz(f_c, fs_hz))]
        if p.dc_block_hz:
            w_h = 2 * np.pi * p.dc_block_hz
            sos.append(bilinear_sos([1.0, 0.0], [1.0, w_h], fs_hz, warp_hz(p.dc_block_hz, fs_hz)))
        self._band_sos = np.vstack(sos)
        self._check_band_accuracy()

        sigma = math.sqrt(fs_hz / 2)  # std of unit one-sided-PSD white noise
        # stream -> gain (float) or SOS filter (ndarray): one stream for every noise when the
        # one-stream filter matches the model (one_stream_noise_sos), else white + currents and 1/f.
        single = one_stream_noise_sos(g * p.noise_v_per_rthz, p.noise_corner_hz, g * p.current_noise_a_per_rthz,
                                      [z for z in (z_pos, z_neg) if z is not None], fs_hz)
        self._noise_paths = ({_STREAM_WHITE: scaled(single, sigma)} if single is not None
                             else self._two_stream_noise_paths(sigma))
        self._noise_cascades, self._noise_bank = noise_bank(self._noise_paths, fs_hz)

        if p.dc_block_hz:
            self._dc_out_v = 0.0
        else:
            r_pos = z_pos.r_dc_ohm if z_pos is not None else 0.0
            r_neg = z_neg.r_dc_ohm if z_neg is not None else 0.0
            i_pos = p.bias_current_a + p.offset_current_a / 2
            i_neg = p.bias_current_a - p.offset_current_a / 2
            self._dc_out_v = g * (p.offset_v - i_pos * r_pos + i_neg * r_neg)
        self._cm_scale = g * 10 ** (-p.cmrr_db / 20)
        cos_phase, sin_phase = unit_phasor(p.cmrr_phase_rad)
        self._cm_coef = np.array([self._cm_scale, cos_phase, sin_phase, 2 * np.pi * p.cmrr_zero_hz])
        corner, rotated = math.isfinite(p.cmrr_zero_hz), sin_phase != 0.0
        self._cm_fields_used = (True, corner, rotated, rotated and corner)  # of _CM_FIELDS
        self._cm_range = np.array(p.input_cm_range_v, dtype=float)
        self._band_zi0 = np.zeros((self._band_sos.shape[0], self.n_channels, 2))
        self.reset()

    def _two_stream_noise_paths(self, sigma: float) -> dict:
        """White and current noise merged (:func:`merged_noise_path`), 1/f noise apart."""
        p, g, fs_hz, paths = self.params, self.params.gain_v_per_v, self.fs_in_hz, {}
        flat = [g * p.noise_v_per_rthz * sigma] if p.noise_v_per_rthz else []
        if p.noise_v_per_rthz and p.noise_corner_hz:
            paths[_STREAM_PINK] = scaled(
                pink_noise_sos(fs_hz), g * p.noise_v_per_rthz * math.sqrt(p.noise_corner_hz) * sigma)
        for z, sign in ((self.z_pos, 1.0), (self.z_neg, -1.0)):
            if z is None or not p.current_noise_a_per_rthz:
                continue
            scale = sign * g * p.current_noise_a_per_rthz * sigma
            tau_s = z.r_d_ohm * z.c_d_f
            flat.append(scaled(magnitude_matched_sos(z, tau_s, fs_hz), scale) if tau_s else scale * z.r_dc_ohm)
        if flat:
            paths[_STREAM_WHITE] = merged_noise_path(flat)
        return paths

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """Start in the steady state for the constant differential input ``dc_in_v`` (n_channels,).

        Returns
        -------
        ndarray, shape (n_channels,)
            The dc output, clipped as :meth:`process` clips:
            ``clip(H(1) G dc_in_v + G V_dc, +-output_swing_v)``; ``reset()``
            returns to this state.

        Notes
        -----
        The band filters' state is :func:`acquire.stage.sos_steady_state` for
        ``u = G dc_in_v``: the state they reach after u has been applied for
        ever, since clipping acts after them.
        """
        self._band_zi0, band_out = sos_steady_state(self._band_sos, self.params.gain_v_per_v
                                                    * dc_vector(dc_in_v, self.n_channels))
        self.reset()
        swing = self.params.output_swing_v
        return np.clip(band_out + self._dc_out_v, -swing, swing)

    def _check_band_accuracy(self) -> None:
        f_top = ACCURACY_BAND_FRACTION * self.fs_in_hz
        f_hz = np.linspace(f_top / 2000, f_top, 2000)
        _, h = signal.sosfreqz(self._band_sos, worN=f_hz, fs=self.fs_in_hz)
        err_db = np.abs(20 * np.log10(np.abs(h) / np.abs(self.params._band(f_hz))))
        bad = np.flatnonzero(err_db > ACCURACY_DB)
        if bad.size:
            f_ok = f_hz[bad[0] - 1] if bad[0] else 0.0
            warnings.warn(
                f"With bandwidth {self.params.f_3db_hz:g} Hz at fs_hz={self.fs_in_hz:g}, the discretised "
                f"amplifier response matches the analytic one within {ACCURACY_DB} dB only up to "
                f"{f_ok:g} Hz (worst {err_db.max():.2f} dB below {f_top:g} Hz): a first-order pole below "
                f"about 1.6*fs_hz is not matched up to 0.4*fs_hz; raise fs_hz if the response above "
                f"{f_ok:g} Hz matters.",
                FrontendWarning, stacklevel=3)

    def reset(self) -> None:
        """Back to the initial band state (rest, or primed), zero counters; the noise replays from sample 0."""
        n_ch = self.n_channels
        self.band_zi_ = self._band_zi0.copy()
        self.noise_zi_ = {stream: np.zeros((len(sos), n_ch, 2)) for stream, sos in self._noise_cascades.items()}
        self.bank_state_ = np.zeros((n_ch, *self._noise_bank[1].shape))
        self.noise_ = {stream: FastBlockNoise(self.seed, stream, self.n_channels, NOISE_BLOCK_SAMPLES)
                       for stream in self._noise_paths}
        self.n_clipped_ = 0
        self.n_cm_range_violations_ = 0

    def process(self, chunk: Chunk) -> Chunk:
        """Amplify one chunk; returns the output voltage with ``cm_v`` consumed."""
        p, n = self.params, chunk.n_samples
        x = np.asarray(chunk.diff_v, dtype=float)
        if x.ndim != 2 or x.shape[0] != self.n_channels:
            raise ValueError(f"diff_v must have shape (n_channels={self.n_channels}, n_samples); got {x.shape}.")
        if n == 0:
            return Chunk(diff_v=x.copy(), start_sample=chunk.start_sample)
        k0 = chunk.start_sample
        noise = np.empty((len(self.noise_), self.n_channels, n))
        for i, (stream, source) in enumerate(self.noise_.items()):
            source.normal(k0, k0 + n, out=noise[i])
            if stream in self._noise_cascades:
                noise[i], self.noise_zi_[stream] = sosfilt_carry(self._noise_cascades[stream], noise[i],
                                                                 self.noise_zi_[stream])
        y = np.empty_like(x)
        clipped, outside = amplifier_pass(np.ascontiguousarray(x), p.gain_v_per_v, noise, self._noise_bank,
                                          self.bank_state_, *self._common_mode(chunk), self._band_sos,
                                          self.band_zi_, self._dc_out_v, self._cm_range, p.output_swing_v, y)
        self.n_clipped_ += clipped
        self.n_cm_range_violations_ += outside
        return Chunk(diff_v=y, start_sample=chunk.start_sample)

    def _common_mode(self, chunk: Chunk) -> tuple[tuple, np.ndarray]:
        """The chunk's common-mode fields for :func:`amplifier_pass` and their coefficients.

        The term before the band shape is (G/CMRR) Re{exp(j phase) (1 + s/w_z) v_cm}:
        with c = v_cm + v_cm'/w_z and q its quadrature partner (same from
        ``cm_quad_v``), a rotation by the phase is cos(phase) c - sin(phase) q.

        Returns
        -------
        fields : tuple of 4 ndarray
            ``cm_v``, ``cm_dvdt_v_per_s``, ``cm_quad_v``, ``cm_quad_dvdt_v_per_s``
            (contiguous float), each empty where the term does not use it
            (all empty without ``cm_v``).
        coef : ndarray, shape (4,)
            ``(G/CMRR, cos(phase), sin(phase), w_z)``.
        """
        p, coef, used = self.params, self._cm_coef, self._cm_fields_used
        if chunk.cm_v is None:
            return (_NONE,) * 4, coef
        fields = (chunk.cm_v, chunk.cm_dvdt_v_per_s, chunk.cm_quad_v, chunk.cm_quad_dvdt_v_per_s)
        for name, value, use in zip(_CM_FIELDS, fields, used):
            if use and value is None:
                raise ValueError(f"This amplifier (cmrr_zero_hz={p.cmrr_zero_hz:g} Hz, cmrr_phase_rad="
                                 f"{p.cmrr_phase_rad:g}) needs the chunk's {name}, which the mains stage "
                                 "generates analytically; it is None here.")
        return tuple(np.ascontiguousarray(value, dtype=float) if use else _NONE
                     for value, use in zip(fields, used)), coef

    def diff_gain(self, f_hz) -> np.ndarray:
        """Analytic differential gain, complex (see :meth:`InAmpParams.diff_gain`)."""
        return self.params.diff_gain(f_hz)

    def cm_gain(self, f_hz) -> np.ndarray:
        """Analytic common-mode gain, complex (see :meth:`InAmpParams.cm_gain`)."""
        return self.params.cm_gain(f_hz)

    def cmrr_db_at(self, f_hz) -> np.ndarray:
        """|CMRR(f)| in dB."""
        return self.params.cmrr_db_at(f_hz)

    def input_noise_psd_v2_per_hz(self, f_hz) -> np.ndarray:
        """Input-referred one-sided noise PSD, V^2/Hz.

        e_n^2 (1 + f_c/f) + i_n^2 (|Z_pos(f)|^2 + |Z_neg(f)|^2); the model the
        synthesis approximates (flat below 0.01 Hz, see :func:`pink_noise_sos`).
        """
        p, f = self.params, np.asarray(f_hz, dtype=float)
        psd = p.noise_v_per_rthz ** 2 * (1.0 + p.noise_corner_hz / f)
        for z in (self.z_pos, self.z_neg):
            if z is not None:
                psd = psd + p.current_noise_a_per_rthz ** 2 * np.abs(z.z_ohm(f)) ** 2
        return psd
