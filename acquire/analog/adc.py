"""Analog-to-digital converter: sampling, input-referred noise floor, PGA, quantisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from acquire._check import check_positive
from acquire.analog.kernels import quantise
from acquire.noise import BlockNoise
from acquire.stage import Chunk, dc_vector

#: Noise is drawn in blocks of this many ADC samples, each keyed on (seed, block index).
NOISE_BLOCK = 4096
#: Stream number of the ADC's noise floor (acquire.noise.BlockNoise).
NOISE_STREAM = 4


@dataclass(frozen=True)
class AdcParams:
    """ADC settings.

    Parameters
    ----------
    n_bits : int, default 24
        Resolution, two's complement (2 to 32).
    vref_v : float, default 2.4
        Reference voltage; the full scale at the ADC input is ``+-vref_v``.
    pga_gain_v_per_v : float, default 1
        Programmable-gain amplifier ahead of the converter; the full scale at
        the PGA input is ``+-vref_v / pga_gain_v_per_v``.
    fs_adc_hz : float, default 500
        Output data rate.
    noise_v_rms : float, default 0
        Input-referred noise floor at the PGA input (white at the ADC
        samples), e.g. from a delta-sigma AFE's noise table.
    """

    n_bits: int = 24
    vref_v: float = 2.4
    pga_gain_v_per_v: float = 1.0
    fs_adc_hz: float = 500.0
    noise_v_rms: float = 0.0

    def __post_init__(self):
        if isinstance(self.n_bits, bool) or not isinstance(self.n_bits, int | np.integer) \
                or not 2 <= self.n_bits <= 32:
            raise ValueError(f"n_bits must be an integer from 2 to 32; got {self.n_bits!r}.")
        check_positive("vref_v", self.vref_v)
        check_positive("pga_gain_v_per_v", self.pga_gain_v_per_v)
        check_positive("fs_adc_hz", self.fs_adc_hz)
        check_positive("noise_v_rms", self.noise_v_rms, allow_zero=True)

    @property
    def lsb_v(self) -> float:
        """Code step referred to the PGA input: ``vref / (pga * 2**(n_bits - 1))``."""
        return self.vref_v / (self.pga_gain_v_per_v * 2 ** (self.n_bits - 1))

    @property
    def full_scale_v(self) -> float:
        """Positive full scale at the PGA input, ``vref / pga``."""
        return self.vref_v / self.pga_gain_v_per_v


class Adc:
    """Sample every M-th input, add the noise floor, apply the PGA and quantise.

    Parameters
    ----------
    params : AdcParams
        Converter settings.
    fs_in_hz : float
        Rate of the incoming (analog simulation) signal; must be an integer
        multiple ``M`` of ``params.fs_adc_hz``.
    seed : int, default 0
        Seed of the noise floor.
    ideal : bool, default False
        Sample only: no noise floor, no quantisation, no clipping. The ideal
        reference chain uses it to separate what the converter does from
        what interference does.

    Attributes
    ----------
    n_clipped_ : int
        Samples (over all channels) whose code fell outside the range and
        were clipped; zeroed by ``reset()``.

    Notes
    -----
    Input sample ``n`` (absolute index) is converted when ``n % M == 0`` and
    becomes output sample ``n // M``. An anti-alias filter, if any, is a
    separate stage before this one. The code is

    ``c = clip(round((v + e) / LSB), -2**(N-1), 2**(N-1) - 1)``,
    ``LSB = Vref / (G_pga 2**(N-1))``

    with ``e`` the noise floor, and the output is ``c * LSB`` volts at the PGA
    input, so the PGA changes resolution and range but not the signal's
    scale. The quantisation error of a busy signal is uniform, ``LSB/sqrt(12)``
    rms (facts.md section 4). For the ADS1298 (PGA 6, Vref 2.4 V, 24 bits) a
    full scale of ``+-Vref/G`` gives LSB = 47.7 nV (worked-examples.md; the
    datasheet's own statement of the full scale is **unconfirmed** in
    facts.md).
    """

    def __init__(self, params: AdcParams, fs_in_hz: float, *, seed: int = 0, ideal: bool = False):
        self.params, self.ideal = params, ideal
        self.fs_in_hz = check_positive("fs_in_hz", fs_in_hz)
        self.fs_out_hz = params.fs_adc_hz
        ratio = self.fs_in_hz / params.fs_adc_hz
        self.factor = round(ratio)
        if self.factor < 1 or not math.isclose(ratio, self.factor, rel_tol=1e-9):
            raise ValueError(
                f"fs_in_hz={self.fs_in_hz:g} Hz must be an integer multiple of fs_adc_hz="
                f"{params.fs_adc_hz:g} Hz (ratio {ratio:g}); set the simulation rate to a multiple "
                f"of the ADC rate, e.g. {params.fs_adc_hz * max(1, math.ceil(ratio)):g} Hz."
            )
        self.seed = seed
        self.reset()

    @property
    def lsb_v(self) -> float:
        """Code step at the PGA input, volts."""
        return self.params.lsb_v

    @property
    def full_scale_v(self) -> float:
        """Positive full scale at the PGA input, volts."""
        return self.params.full_scale_v

    def reset(self) -> None:
        """Zero the clip count and forget the cached noise block."""
        self.n_clipped_ = 0
        self.noise_ = None  # sized on the first chunk (the channel count)

    def _quantise(self, v: np.ndarray) -> tuple[np.ndarray, int]:
        """(``c * LSB``, number of clipped codes) for input volts ``v`` (n_channels, n), a view is fine."""
        out = np.empty(v.shape)
        return out, quantise(v, self.lsb_v, float(2 ** (self.params.n_bits - 1)), out)

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """The converted constant input ``dc_in_v`` (n_channels,): quantised and clipped; no state.

        The noise floor has zero mean and is left out: with noise the mean
        code of a constant input differs from the noiseless one by less than
        half an LSB. The ideal converter returns ``dc_in_v`` unchanged.
        """
        dc = dc_vector(dc_in_v)
        return dc if self.ideal else self._quantise(dc[:, None])[0][:, 0]

    def process(self, chunk: Chunk) -> Chunk:
        """Convert the input samples of ``chunk`` that fall on ADC instants."""
        M = self.factor
        n0 = chunk.start_sample
        first = (-n0) % M
        k0 = (n0 + first) // M
        pick = slice(first, None, M)
        v = np.asarray(chunk.diff_v, dtype=float)[:, pick]
        cm = [None if c is None else c[pick] for c in chunk.common_mode()]
        if self.ideal:
            return Chunk(v, cm[0], cm[1], k0, cm[2], cm[3])
        if self.params.noise_v_rms > 0:
            if self.noise_ is None:
                self.noise_ = BlockNoise(self.seed, NOISE_STREAM, v.shape[0], NOISE_BLOCK)
            v = v + self.params.noise_v_rms * self.noise_.normal(k0, k0 + v.shape[1])
        out, n_clipped = self._quantise(v)
        self.n_clipped_ += n_clipped
        return Chunk(out, cm[0], cm[1], k0, cm[2], cm[3])
