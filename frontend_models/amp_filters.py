"""Discrete-time filters of the amplifier model: prewarped bilinear poles, current-noise shaping, 1/f noise.

Used by :class:`frontend_models.inamp.InstrumentationAmplifier`; each is
checked against its analytic response in ``tests/test_inamp.py``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from acquire.analog.impedance import ElectrodeImpedance

#: Upper edge of the band where the discretised filters are checked against
#: the analytic response, as a fraction of the sampling rate.
ACCURACY_BAND_FRACTION = 0.4
#: Lowest pole of the 1/f (pink) noise synthesis filter; the synthesised
#: spectrum is flat below it.
PINK_F_MIN_HZ = 0.01
#: Pole-zero pairs per decade of the pink-noise filter.
PINK_PAIRS_PER_DECADE = 2


def bilinear_sos(num_s, den_s, fs_hz: float, f_warp_hz: float) -> np.ndarray:
    """Bilinear transform of num_s/den_s (highest power first), exact at ``f_warp_hz``."""
    k = 2 * np.pi * f_warp_hz / math.tan(math.pi * f_warp_hz / fs_hz)
    b, a = signal.bilinear(num_s, den_s, fs=k / 2)
    return signal.tf2sos(b, a)


def magnitude_matched_sos(z: ElectrodeImpedance, tau_s: float, fs_hz: float) -> np.ndarray:
    """First-order filter with |H| = |Z(f)| at dc and 0.4 fs, for noise shaping (phase is irrelevant).

    H(z) = k (1 + b z^-1) / (1 - p z^-1) with the matched pole p = exp(-1/(tau fs));
    k and the minimum-phase b solve |H(1)| = Z(0) and |H(e^{j 0.8 pi})| = |Z(0.4 fs)|.
    Within 0.3 dB of |Z(f)| over (0, 0.4 fs] for any pole, where a bilinear
    section of a pole far below fs/2 is several dB low near 0.4 fs.
    """
    c = math.cos(2 * math.pi * ACCURACY_BAND_FRACTION)
    a0, a1 = z.r_dc_ohm, abs(z.z_ohm(ACCURACY_BAND_FRACTION * fs_hz))
    p = math.exp(-1 / (tau_s * fs_hz))
    r = (a1 / a0) ** 2 * (1 + p * p - 2 * p * c) / (1 - p) ** 2
    # (1 - r) b^2 + 2 (c - r) b + (1 - r) = 0 has roots b and 1/b; take |b| <= 1.
    b = 0.0 if math.isclose(r, 1.0) else float(min(np.roots([1 - r, 2 * (c - r), 1 - r]).real, key=abs))
    k = a0 * (1 - p) / (1 + b)
    return np.array([[k, k * b, 0.0, 1.0, -p, 0.0]])


def warp_hz(f_pole_hz: float, fs_hz: float) -> float:
    """Prewarp frequency: the pole itself, or the top of the accuracy band if higher."""
    return min(f_pole_hz, ACCURACY_BAND_FRACTION * fs_hz)


def pink_noise_sos(fs_hz: float) -> np.ndarray:
    """Filter that turns unit one-sided-PSD white noise into PSD 1/f (V^2/Hz per V^2).

    Notes
    -----
    Interlaced real poles p_k = f_min r^k and zeros p_k sqrt(r), r =
    10^(1/PINK_PAIRS_PER_DECADE), from f_min = 0.01 Hz until a pole passes
    fs/2: the rational approximation of 1/f noise (Keshner, Proc. IEEE
    70(3):212, 1982; alternatives reviewed by Kasdin, Proc. IEEE 83(5):802,
    1995). Equivalent in spectrum to a bank of low-passed white sources with
    the same poles, but it needs one white source instead of one per pole. Discretised by the bilinear transform; the gain
    makes the mean of 10 log10(|H|^2 f) over 0.1 Hz .. fs/10 zero. With two
    pairs per decade the realised PSD is within +-0.15 dB of 1/f from 0.1 Hz
    to fs/10 (checked in tests); below 0.01 Hz it flattens.
    """
    n_pairs = math.ceil(math.log10(fs_hz / 2 / PINK_F_MIN_HZ) * PINK_PAIRS_PER_DECADE) + 1
    poles_hz = PINK_F_MIN_HZ * 10 ** (np.arange(n_pairs) / PINK_PAIRS_PER_DECADE)
    zeros_hz = poles_hz * 10 ** (0.5 / PINK_PAIRS_PER_DECADE)
    z, p, k = signal.bilinear_zpk(-2 * np.pi * zeros_hz, -2 * np.pi * poles_hz, 1.0, fs_hz)
    sos = signal.zpk2sos(z, p, k)
    f_hz = np.logspace(-1, math.log10(fs_hz / 10), 200)
    _, h = signal.sosfreqz(sos, worN=f_hz, fs=fs_hz)
    sos[0, :3] *= 10 ** (-np.mean(10 * np.log10(np.abs(h) ** 2 * f_hz)) / 20)
    return sos


def unit_phasor(phase_rad: float) -> tuple[float, float]:
    """(cos, sin) of ``phase_rad``, exact (0, +-1) at multiples of pi/2 so that a sign flip is exact."""
    quarter = 2 * phase_rad / math.pi
    if quarter == round(quarter):
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(round(quarter)) % 4]
    return math.cos(phase_rad), math.sin(phase_rad)


def scaled(sos: np.ndarray, gain: float) -> np.ndarray:
    """``sos`` with its overall gain multiplied by ``gain``."""
    sos = sos.copy()
    sos[0, :3] *= gain
    return sos


def _power_coefficients(poly: np.ndarray) -> np.ndarray:
    """Coefficients of |c(z)|^2 = c(z) c(1/z) on the unit circle, z^d .. z^-d, for c in powers of z^-1."""
    return np.convolve(poly, poly[::-1])


def merged_noise_path(paths: list) -> float | np.ndarray:
    """One path whose output PSD is the sum of the PSDs of ``paths`` driven by independent unit white noise.

    Parameters
    ----------
    paths : list of float or ndarray
        Each a gain (white noise) or one second-order section ``[b0, b1, b2,
        1, a1, a2]`` (a first- or second-order shaping filter).

    Returns
    -------
    float or ndarray, shape (1, 6) or (n_sections, 6)
        A gain if every path is one, else a cascade H = g F(z) / D(z) with
        D the product of the paths' denominators and F the minimum-phase
        spectral factor of

            N(z) = sum_j |B_j(z)|^2 prod_{i != j} |A_i(z)|^2,

        so that |H|^2 = sum_j |B_j / A_j|^2 at every frequency (the sum of
        independent Gaussian processes is the Gaussian process with the
        summed PSD). N's roots come in pairs (rho, 1/rho*); F keeps those with
        |rho| <= 1 (Oppenheim & Schafer, Discrete-Time Signal Processing,
        3rd ed., sec. 5.6), and g matches |H|^2 at dc.
        One stream through one filter replaces a draw and a filter per path.
    """
    gains = [p for p in paths if isinstance(p, float)]
    sections = [np.asarray(p, dtype=float)[0] for p in paths if not isinstance(p, float)]
    if not sections:
        return math.sqrt(sum(g * g for g in gains))
    if len(sections) == 1 and not gains:
        return sections[0][None, :]
    dens = [np.trim_zeros(s[3:], "b") for s in sections]
    full_den = np.array([1.0])
    for d in dens:
        full_den = np.convolve(full_den, d)
    terms = [sum(g * g for g in gains) * _power_coefficients(full_den)]
    for j, s in enumerate(sections):
        shaped = np.trim_zeros(s[:3], "b")
        for i, d in enumerate(dens):
            if i != j:
                shaped = np.convolve(shaped, d)
        terms.append(_power_coefficients(shaped))
    width = max(len(t) for t in terms)
    power = sum(np.pad(t, (width - len(t)) // 2) for t in terms)
    degree = (width - 1) // 2
    roots = np.roots(power)
    inside = np.sort_complex(roots[np.abs(roots) <= 1.0])[:degree]
    factor = np.real(np.poly(inside))
    factor *= math.sqrt(power.sum()) / abs(factor.sum())
    return signal.tf2sos(factor, full_den)


def pink_ladder_rad(fs_hz: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The analog prototype of :func:`pink_noise_sos`: (zeros, poles) in rad/s and the gain k.

    |k prod (jw + z_i) / prod (jw + p_i)|^2 approximates 1/f (f in Hz), the
    gain chosen so that the mean of 10 log10(|H|^2 f) over 0.1 Hz .. fs/10 is 0.
    """
    n_pairs = math.ceil(math.log10(fs_hz / 2 / PINK_F_MIN_HZ) * PINK_PAIRS_PER_DECADE) + 1
    poles = 2 * np.pi * PINK_F_MIN_HZ * 10 ** (np.arange(n_pairs) / PINK_PAIRS_PER_DECADE)
    zeros = poles * 10 ** (0.5 / PINK_PAIRS_PER_DECADE)
    f_hz = np.logspace(-1, math.log10(fs_hz / 10), 200)
    w2 = (2 * np.pi * f_hz[:, None]) ** 2
    h2 = np.prod((w2 + zeros ** 2) / (w2 + poles ** 2), axis=1)
    return zeros, poles, 10 ** (-np.mean(10 * np.log10(h2 * f_hz)) / 20)


def lorentzian_sum_sos(const: float, weights, rates_rad, fs_hz: float) -> np.ndarray:
    """A filter whose |H(jw)|^2 is ``const + sum_k weights[k] / (w^2 + rates_rad[k]^2)``, discretised bilinearly.

    Parameters
    ----------
    const : float
        The flat (white) part, >= 0.
    weights, rates_rad : array_like
        Positive weights c_k and distinct positive corner rates a_k (rad/s)
        of the Lorentzian parts.
    fs_hz : float

    Returns
    -------
    ndarray, shape (n_sections, 6)

    Notes
    -----
    As a function of x = w^2, S(x) = C + sum_k c_k / (x + a_k^2) has a pole
    at each -a_k^2, and with every c_k > 0 it runs from -inf to +inf between
    consecutive poles, so it has exactly one zero in each gap, and one more
    below the lowest pole when C > 0 (S -> C there). Those zeros x_j = -b_j^2,
    found by bracketing, give the minimum-phase factor
    H(s) = sqrt(C) prod (s + b_j) / prod (s + a_k) (for C = 0 the leading
    coefficient sum c_k replaces C and one zero fewer), the spectral factor
    of a sum of independent first-order noises and white noise.
    """
    from scipy.optimize import brentq

    order = np.argsort(rates_rad)
    c, a2 = np.asarray(weights, dtype=float)[order], np.asarray(rates_rad, dtype=float)[order] ** 2

    def s_of(t):  # S at x = -exp(t)
        return const + np.sum(c / (a2 - math.exp(t)))

    log_a2 = np.log(a2)
    edges = list(zip(log_a2[:-1], log_a2[1:]))
    if const > 0:
        edges.append((log_a2[-1], log_a2[-1] + 2 * math.log(10) + math.log(1 + c.sum() / (const * a2[-1]))))
    zeros = []
    for lo, hi in edges:
        pad = 1e-9 * (hi - lo)
        zeros.append(math.sqrt(math.exp(brentq(s_of, lo + pad, hi - pad, xtol=1e-15, rtol=1e-15))))
    lead = math.sqrt(const) if const > 0 else math.sqrt(c.sum())
    z, p, k = signal.bilinear_zpk(-np.array(zeros), -np.sqrt(a2), lead, fs_hz)
    return signal.zpk2sos(z, p, k)


#: Largest error of the one-stream noise filter against the noise model over 0.1 Hz .. 0.4 fs, dB.
ONE_STREAM_TOLERANCE_DB = 0.3


def one_stream_noise_sos(e_n: float, f_c_hz: float, i_n: float, electrodes, fs_hz: float):
    """One filter for all amplifier noise: PSD e_n^2 (1 + f_c/f) + i_n^2 sum |Z(f)|^2, or None.

    Parameters
    ----------
    e_n, i_n : float
        Voltage (V/sqrt(Hz)) and current (A/sqrt(Hz)) noise densities, gain included.
    f_c_hz : float
        1/f corner (0: none).
    electrodes : list of ElectrodeImpedance
        The impedances the current noise flows through.
    fs_hz : float

    Returns
    -------
    ndarray or None
        Sections for unit one-sided-PSD white input (:func:`lorentzian_sum_sos`),
        or None when there is no white part, the spectral factor's zeros
        cannot be bracketed in floating point, or the realised PSD is more than
        :data:`ONE_STREAM_TOLERANCE_DB` off the model somewhere in 0.1 Hz ..
        0.4 fs (the bilinear transform compresses a Lorentzian near fs/2, which
        shows where current noise dominates there).

    Notes
    -----
    Every part is white or a sum of Lorentzians c / (w^2 + a^2): the 1/f
    ladder of :func:`pink_ladder_rad` by partial fractions in w^2 (interlaced
    poles and zeros give positive residues), and |r_s + r_d / (1 + j w tau)|^2
    = r_s^2 + (r_d^2 + 2 r_s r_d) / tau^2 / (w^2 + 1/tau^2).
    """
    const = e_n ** 2
    weights, rates = [], []
    if f_c_hz:
        zeros, poles, k = pink_ladder_rad(fs_hz)
        scale = e_n ** 2 * f_c_hz * k * k
        const += scale
        for j, p in enumerate(poles):
            others = np.delete(poles, j)
            weights.append(scale * (zeros[j] ** 2 - p * p) * np.prod((np.delete(zeros, j) ** 2 - p * p)
                                                                    / (others ** 2 - p * p)))
            rates.append(p)
    for z in electrodes:
        const += (i_n * z.r_s_ohm) ** 2
        tau = z.r_d_ohm * z.c_d_f
        if tau and i_n:
            weights.append(i_n ** 2 * (z.r_d_ohm ** 2 + 2 * z.r_s_ohm * z.r_d_ohm) / tau ** 2)
            rates.append(1.0 / tau)
        elif i_n:
            const += (i_n * z.r_d_ohm) ** 2 + 2 * i_n ** 2 * z.r_s_ohm * z.r_d_ohm
    rates = np.asarray(rates, dtype=float)
    if not (e_n > 0 and rates.size) or np.unique(rates).size < rates.size:
        return None
    try:
        sos = lorentzian_sum_sos(const, weights, rates, fs_hz)
    except ValueError:  # parts so many decades apart that a zero's bracket loses its sign change to rounding
        return None
    f_hz = np.logspace(-1, math.log10(ACCURACY_BAND_FRACTION * fs_hz), 400)
    model = e_n ** 2 * (1 + f_c_hz / f_hz) + sum(i_n ** 2 * np.abs(z.z_ohm(f_hz)) ** 2 for z in electrodes)
    _, h = signal.sosfreqz(sos, worN=f_hz, fs=fs_hz)
    return sos if np.max(np.abs(10 * np.log10(np.abs(h) ** 2 / model))) <= ONE_STREAM_TOLERANCE_DB else None


#: Largest relative deviation max |H_par / H_cas - 1| accepted for the parallel form (0.1 mHz .. 0.4 fs).
PARALLEL_TOLERANCE = 1e-5


def parallel_form(sos: np.ndarray, fs_hz: float) -> tuple[float, np.ndarray, np.ndarray] | None:
    """The cascade ``sos`` as a direct term and first-order real-pole parts, or None.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
    fs_hz : float

    Returns
    -------
    (direct, poles, residues) or None
        ``H(z) = direct + sum_k residues[k] / (1 - poles[k] z^-1)``; None
        when a pole is complex or repeated, there are more zeros than poles
        (away from the origin), or when ``max |H_par / H_cas - 1|`` on a log grid
        from 1e-4 Hz to 0.4 fs exceeds :data:`PARALLEL_TOLERANCE`.

    Notes
    -----
    With ``H = k prod_j (1 - z_j w) / prod_i (1 - p_i w)`` in ``w = z^-1``
    (roots at the origin dropped), the residues are
    ``r_k = k prod_j (1 - z_j / p_k) / prod_{i != k} (1 - p_i / p_k)`` and
    ``direct = H(w -> inf) = k prod z_j / prod p_i`` (0 with fewer zeros).
    Products of root differences are accurate to about eps / |p_i - p_k|
    even for poles crowding z = 1, where the polynomial route of
    ``scipy.signal.residuez`` is not. The parts' recursions are independent,
    so a compiled loop runs them side by side (SIMD) where the cascade waits
    on each section in turn. The noise filters here (1/f ladder and
    Lorentzian spectral factors, poles from 1e-5 below z = 1 to negative
    real) have real poles and positive-dominated residues; for the default
    amplifier at 8 kHz the forms agree to 8e-7 near 1 mHz and 1e-9 above
    1 Hz, the gap being the cascade's own rounding of its coefficients
    (``1 + a1 + a2 ~ 1e-10`` for a section near z = 1). In time, a part
    near z = 1 has a dc gain up to 1/(1 - p) ~ 1e5 and the relative rounding
    it carries grows only as eps / sqrt(1 - p), about 1e-13; the amplifier's
    noise through both forms, from the same draws, agrees to 7e-9 of its rms
    over 60 s (checked in ``tests/test_inamp.py``).
    """
    zeros, poles, gain = signal.sos2zpk(sos)
    zeros, poles = zeros[zeros != 0], poles[poles != 0]
    if np.any(poles.imag != 0) or len(zeros) > len(poles) or np.unique(poles).size < poles.size:
        return None
    poles = poles.real
    # Complex zeros come in conjugate pairs: the products are real up to rounding.
    residues = np.real([gain * np.prod(1 - zeros / p) / np.prod(1 - np.delete(poles, k) / p)
                        for k, p in enumerate(poles)])
    direct = float(np.real(gain * np.prod(zeros) / np.prod(poles))) if len(zeros) == len(poles) else 0.0
    f_hz = np.logspace(-4, math.log10(ACCURACY_BAND_FRACTION * fs_hz), 600)
    _, h_cascade = signal.sosfreqz(sos, worN=f_hz, fs=fs_hz)
    w = np.exp(-2j * np.pi * f_hz / fs_hz)[:, None]
    h_parallel = direct + np.sum(residues / (1 - poles * w), axis=1)
    if np.max(np.abs(h_parallel / h_cascade - 1)) > PARALLEL_TOLERANCE:
        return None
    return direct, poles, residues
