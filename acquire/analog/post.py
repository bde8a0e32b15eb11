"""Analog stages after the instrumentation amplifier: AC coupling, gain, anti-alias filter.

Each continuous-time filter is a Butterworth or Bessel prototype discretised
at the simulation rate by the bilinear transform prewarped at its corner
(scipy's digital design with ``fs=``), run as second-order sections with the
state carried between chunks.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from acquire._check import check_below_nyquist, check_option, check_positive
from acquire.stage import Chunk, SosState, dc_vector

#: Filter families of :class:`AntiAliasFilter`.
KINDS = ("butterworth", "bessel")
MAX_ORDER = 10


def _check_order(order: int) -> int:
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be an integer from 1 to {MAX_ORDER}; got {order!r}.")
    return int(order)


class AnalogSosStage(SosState):
    """Base of the analog stages discretised as SOS (``self.sos``): filtering of ``diff_v``.

    The common-mode fields pass unchanged; the state ``zi_`` is sized on the
    first chunk (the channel count) and cleared by ``reset()``, or, once
    primed (:meth:`acquire.stage.SosState.prime`), starts in and returns to
    the steady state for the dc operating point: an AC coupling primed with
    an electrode offset ``V`` holds ``V`` across its capacitor and outputs 0.
    """

    def process(self, chunk: Chunk) -> Chunk:
        """Filter ``chunk.diff_v``; the common-mode fields pass unchanged."""
        return chunk.with_diff(self._filter(np.asarray(chunk.diff_v, dtype=float)))


class _PrewarpedFilter(AnalogSosStage):
    """A prewarped bilinear discretisation of an analog low- or high-pass prototype.

    Notes
    -----
    scipy designs the analog prototype at the prewarped corner
    ``2 fs tan(pi f_c / fs)`` and maps it with ``s = 2 fs (z - 1)/(z + 1)``,
    so the digital response at ``f`` equals the analog prototype's at

    ``f' = f_c tan(pi f / fs) / tan(pi f_c / fs)``:

    exactly at dc, at the corner ``f_c`` (``f' = f_c``), and with a
    frequency error ``f'/f - 1`` of about ``(pi/fs)^2 (f^2 - f_c^2)/3`` elsewhere
    (Oppenheim & Schafer, Discrete-Time Signal Processing, 3rd ed., sec. 7.2.2).
    """

    def __init__(self, corner_hz: float, order: int, kind: str, btype: str, fs_hz: float):
        self.fs_in_hz = self.fs_out_hz = check_positive("fs_hz", fs_hz)
        self.corner_hz = check_below_nyquist("corner_hz", corner_hz, self.fs_in_hz)
        self.order = _check_order(order)
        self.kind = check_option("kind", kind, KINDS)
        design = signal.butter if kind == "butterworth" else _bessel_mag
        self.sos = design(self.order, self.corner_hz, btype, fs=self.fs_in_hz, output="sos")
        self._zpk = design(self.order, 2 * np.pi * self.corner_hz, btype, analog=True, output="zpk")
        self.reset()

    def freq_response(self, f_hz) -> np.ndarray:
        """Complex response of the continuous-time prototype at ``f_hz``."""
        f = np.atleast_1d(np.asarray(f_hz, dtype=float))
        return signal.freqs_zpk(*self._zpk, worN=2 * np.pi * f)[1]



def _bessel_mag(order, wn, btype, **kwargs):
    """Bessel filter normalised so that the corner is the -3 dB point."""
    return signal.bessel(order, wn, btype, norm="mag", **kwargs)


class AcCoupling(_PrewarpedFilter):
    """High-pass AC coupling (a series capacitor into a resistor, or its higher-order form).

    Parameters
    ----------
    corner_hz : float
        -3 dB corner, e.g. 0.05 Hz (diagnostic) or 0.5 Hz (monitoring).
    order : int, default 1
        Butterworth order; 1 is the plain RC, ``H(s) = s tau / (1 + s tau)``
        with ``tau = 1 / (2 pi corner_hz)``.
    fs_hz : float
        Simulation rate.

    Notes
    -----
    A dc step ``V`` at the input of the first-order coupling decays as
    ``V exp(-t / tau)`` at its output, which is how an electrode offset of a
    few hundred millivolts is removed at switch-on; primed with the offset
    (a steady start), the capacitor already holds ``V`` and the output
    carries none of it. Discretisation as in :class:`_PrewarpedFilter`.
    """

    def __init__(self, corner_hz: float, order: int = 1, *, fs_hz: float):
        super().__init__(corner_hz, order, "butterworth", "highpass", fs_hz)


class AntiAliasFilter(_PrewarpedFilter):
    """Analog anti-alias low-pass ahead of the ADC.

    Parameters
    ----------
    corner_hz : float
        -3 dB corner (for Bessel too: the magnitude-normalised design).
    order : int, default 2
        Filter order (e.g. 2 for the MAX30001's two-pole filter at 600 Hz).
    kind : {"butterworth", "bessel"}
        Maximally flat magnitude, or maximally flat group delay.
    fs_hz : float
        Simulation rate.

    Notes
    -----
    Analog prototypes from ``scipy.signal.butter`` / ``bessel(norm="mag")``
    with ``analog=True``; discretisation as in :class:`_PrewarpedFilter`.
    """

    def __init__(self, corner_hz: float, order: int = 2, kind: str = "butterworth", *,
                 fs_hz: float):
        super().__init__(corner_hz, order, kind, "lowpass", fs_hz)


class GainStage:
    """Ideal second gain stage with optional output swing limit.

    Parameters
    ----------
    gain_v_per_v : float
        Voltage gain (may be negative for an inverting stage, not zero).
    fs_hz : float
        Simulation rate.
    output_swing_v : float, optional
        The output is clipped to ``+-output_swing_v``; None for no limit.

    Attributes
    ----------
    n_clipped_ : int
        Samples (over all channels) that were clipped; zeroed by ``reset()``.
    """

    def __init__(self, gain_v_per_v: float, fs_hz: float, output_swing_v: float | None = None):
        g = float(gain_v_per_v)
        if not np.isfinite(g) or g == 0:
            raise ValueError(f"gain_v_per_v must be finite and non-zero; got {gain_v_per_v!r}.")
        self.gain_v_per_v = g
        self.fs_in_hz = self.fs_out_hz = check_positive("fs_hz", fs_hz)
        self.output_swing_v = None if output_swing_v is None else check_positive(
            "output_swing_v", output_swing_v)
        self.reset()

    def freq_response(self, f_hz) -> np.ndarray:
        """Complex response: the gain at every frequency."""
        return np.full(np.shape(np.atleast_1d(f_hz)), self.gain_v_per_v, dtype=complex)

    def reset(self) -> None:
        """Zero the clip count."""
        self.n_clipped_ = 0

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """The dc output ``clip(G dc_in_v, +-output_swing_v)``; the stage has no state to prime."""
        y = self.gain_v_per_v * dc_vector(dc_in_v)
        return y if self.output_swing_v is None else np.clip(y, -self.output_swing_v, self.output_swing_v)

    def process(self, chunk: Chunk) -> Chunk:
        """Amplify and clip ``chunk.diff_v``; the common-mode fields pass unchanged."""
        y = self.gain_v_per_v * np.asarray(chunk.diff_v, dtype=float)
        if self.output_swing_v is not None:
            self.n_clipped_ += int(np.count_nonzero(np.abs(y) > self.output_swing_v))
            y = np.clip(y, -self.output_swing_v, self.output_swing_v)
        return chunk.with_diff(y)
