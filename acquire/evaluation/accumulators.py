"""Streaming forms of the fidelity metrics: sufficient statistics updated chunk by chunk.

Each accumulator takes a signal in consecutive chunks of shape
``(n_series, m)`` and holds only fixed-size state (a few sums per series, a
small Gram matrix, a look-back of one beat window), so a 24-hour record is
measured in memory bounded by the chunk. The whole-array metrics of
:mod:`acquire.evaluation.metrics` are these accumulators fed one block, so
the streamed and the in-memory values come from one implementation and
differ only by the order of floating-point sums (about 1e-13 relative over
a day of samples).

References
----------
T. F. Chan, G. H. Golub, R. J. LeVeque, "Algorithms for computing the sample
variance: analysis and recommendations", The American Statistician 37(3),
1983: the pairwise update of means, centred second moments and co-moments
used by :class:`PairStats`, stable where ``sum x^2 - n mean^2`` is not.
"""

from __future__ import annotations

import cmath
import math
from fractions import Fraction

import numpy as np

from acquire.evaluation.accumulator_kernels import (CXY, M2X, M2Y, MEAN_X, MEAN_Y, SUM_D2, SUM_X2, pair_update,
                                                    window_rms)


class PairStats:
    """Sums of a reference ``x`` and a test ``y`` for SNR, PRD, PRDN and correlation.

    State per series: count ``n``, means, centred second moments
    ``M2x = sum (x - mean x)^2``, ``M2y``, co-moment ``Cxy``, ``sum x^2`` and
    ``sum (x - y)^2``. Chunks are merged with Chan et al.'s update
    ``M2 = M2a + M2b + d^2 na nb / n`` (d the difference of the chunk means),
    ``C = Ca + Cb + dx dy na nb / n``, in one compiled pass per chunk
    (:func:`~acquire.evaluation.accumulator_kernels.pair_update`).
    """

    def __init__(self):
        self.n = 0
        self.state = None
        self.lead = ()

    def update(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add the next chunk of ``x`` and ``y``, shape (..., m)."""
        m = x.shape[-1]
        if m == 0:
            return
        if self.state is None:
            self.lead = x.shape[:-1]
            self.state = np.zeros((int(np.prod(self.lead)), 7))
        rows = (np.ascontiguousarray(v.reshape(-1, m), dtype=float) for v in (x, y))
        pair_update(*rows, self.n, self.state)
        self.n += m

    def _column(self, k: int):
        return 0.0 if self.state is None else self.state[:, k].reshape(self.lead)

    mean_x = property(lambda self: self._column(MEAN_X))
    mean_y = property(lambda self: self._column(MEAN_Y))
    m2x = property(lambda self: self._column(M2X))
    m2y = property(lambda self: self._column(M2Y))
    cxy = property(lambda self: self._column(CXY))
    sum_x2 = property(lambda self: self._column(SUM_X2))
    sum_d2 = property(lambda self: self._column(SUM_D2))

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> "PairStats":
        """The statistics of one block."""
        stats = cls()
        stats.update(x, y)
        return stats


def ratio(num, den) -> np.ndarray:
    """``num/den`` with 0/0 = 0 and num/0 = inf, without warnings."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(num == 0, 0.0, num / den)


#: :class:`ToneFit` sums a chunk in blocks of TONE_BLOCK samples (inner table) times
#: each block's rotation (outer table), over pieces of at most TONE_SPAN samples: two
#: small tables (12 kB and 25 kB for 12 tones) instead of one per chunk length.
TONE_BLOCK, TONE_SPAN = 64, 8192


class ToneFit:
    """Joint least-squares fit of dc and tones, from the normal equations accumulated per chunk.

    Parameters
    ----------
    fs_hz : float
        Sampling rate.
    freqs_hz : sequence of float
        Tone frequencies.

    Notes
    -----
    The model ``x[n] = c + sum_k a_k cos(2 pi r_k n) + b_k sin(2 pi r_k n)``,
    ``r_k = f_k / fs`` (cycles per sample), with ``n`` counted from the first
    sample fed; :meth:`rms` solves the normal equations ``G c = D^T x``.

    ``D^T x`` (the sum of ``x`` and, per tone, a complex sum whose real and
    imaginary parts are the cos and sin columns') is accumulated per chunk
    without evaluating the design at the chunk's absolute indices: a chunk of
    ``m`` samples starting at ``n0`` contributes
    ``sum_i x[i] e^{j 2 pi r (n0 + i)} = e^{j 2 pi r n0} z``, where
    ``z = sum_a e^{j 2 pi r B a} sum_{b<B} x[B a + b] e^{j 2 pi r b}``
    (``B`` = :data:`TONE_BLOCK`; one matrix product over the blocks, then
    one weighted sum; pieces of at most :data:`TONE_SPAN` samples). Every
    phase, in the tables and the rotation ``frac(n0 r)``, is reduced exactly
    in integers (``r`` is a binary fraction ``p / 2^e``), so it stays
    accurate to one rounding however long the record.

    ``G = D^T D`` depends only on the sample count ``N`` and the ``r_k``: its
    entries are Dirichlet-kernel sums
    ``S(r) = sum_{n<N} e^{j 2 pi r n} = e^{j pi r (N-1)} sin(pi r N) / sin(pi r)``
    (``N`` for integer ``r``), with ``cos a cos b = (cos(a-b) + cos(a+b))/2``
    and the like, evaluated at the end with the same exact phase reduction.
    Over a record of many periods the columns are nearly orthogonal (``G``
    close to diag(N, N/2, ...), condition number about 2), so the normal
    equations lose no accuracy against a QR least-squares solve.
    """

    def __init__(self, fs_hz: float, freqs_hz):
        self.fs_hz, self.freqs_hz = float(fs_hz), np.asarray(freqs_hz, dtype=float)
        self.cycles = [Fraction(float(f) / self.fs_hz) for f in self.freqs_hz]
        self.ratios = [(r.numerator, r.denominator) for r in self.cycles]
        self.n = 0
        self.dtx = None
        # e^{j 2 pi r b}, b < B, interleaved (cos, sin) per tone (a real product viewed as complex), and
        # e^{j 2 pi r B a} for the blocks a of a piece.
        self.inner = np.exp(2j * np.pi * self._turns(range(TONE_BLOCK))).view(float)
        self.outer = np.exp(2j * np.pi * self._turns(range(0, TONE_SPAN, TONE_BLOCK)))

    def _turns(self, counts) -> np.ndarray:
        """``frac(n r_k)`` for each count ``n`` (rows) and tone (columns), exact before one rounding."""
        return np.array([[(n * p % q) / q for p, q in self.ratios] for n in counts]).reshape(-1, len(self.ratios))

    def update(self, x: np.ndarray) -> None:
        """Add the next chunk, shape (..., m), in pieces of at most :data:`TONE_SPAN` samples."""
        for i in range(0, x.shape[-1], TONE_SPAN):
            self._add(x[..., i:i + TONE_SPAN])

    def _add(self, x: np.ndarray) -> None:
        m = x.shape[-1]
        rows = x.reshape(-1, m)
        n_blocks = -(-m // TONE_BLOCK)
        if m % TONE_BLOCK:
            rows = np.concatenate([rows, np.zeros((rows.shape[0], n_blocks * TONE_BLOCK - m))], axis=1)
        inner = (rows.reshape(-1, TONE_BLOCK) @ self.inner).view(complex).reshape(rows.shape[0], n_blocks, -1)
        z = np.einsum("rak,ak->rk", inner, self.outer[:n_blocks]) * np.exp(2j * np.pi * self._turns([self.n])[0])
        dc = rows.sum(axis=-1)
        if self.dtx is None:
            self.dtx = [dc, z]
        else:
            self.dtx[0] = self.dtx[0] + dc
            self.dtx[1] = self.dtx[1] + z
        self.lead = x.shape[:-1]
        self.n += m

    def gram(self, tones=None) -> np.ndarray:
        """``G = D^T D`` over the samples fed, from its closed form (class Notes), for dc and ``tones`` (indices)."""
        cycles = [self.cycles[t] for t in self._tones(tones)]
        k, n = len(cycles), self.n
        cc, ss, cs = (np.empty((k, k)) for _ in range(3))
        for a, ra in enumerate(cycles):
            for b, rb in enumerate(cycles):
                minus, plus = _dirichlet(ra - rb, n), _dirichlet(ra + rb, n)
                cc[a, b] = 0.5 * (minus.real + plus.real)
                ss[a, b] = 0.5 * (minus.real - plus.real)
                cs[a, b] = 0.5 * (plus.imag - minus.imag)  # sum cos(a i) sin(b i)
        ones = np.array([_dirichlet(r, n) for r in cycles])
        return np.block([[np.array([[float(n)]]), ones.real[None], ones.imag[None]],
                         [ones.real[:, None], cc, cs],
                         [ones.imag[:, None], cs.T, ss]])

    def _tones(self, tones) -> list[int]:
        return list(range(self.freqs_hz.size)) if tones is None else [int(t) for t in tones]

    def rms(self, tones=None) -> np.ndarray:
        """RMS amplitude ``sqrt(a_k^2 + b_k^2)/sqrt(2)`` of each tone, shape (n_tones, ...) over the series.

        ``tones`` (indices into ``freqs_hz``, default all) are fitted jointly
        with dc, the others left out of the model: the sums of each tone do
        not depend on the others, so one accumulator serves several fits.
        """
        sel = self._tones(tones)
        k = len(sel)
        if self.n < 2 * k + 1:
            raise ValueError(f"x needs at least {2 * k + 1} samples to fit {k} tone(s) and dc; got {self.n}.")
        dc, z = self.dtx
        z = z[:, sel]
        coef = np.linalg.solve(self.gram(sel), np.hstack([dc[:, None], z.real, z.imag]).T)
        amplitude = np.hypot(coef[1:k + 1], coef[k + 1:])
        return (amplitude / np.sqrt(2)).reshape((k, *self.lead))


def _dirichlet(r: Fraction, n: int) -> complex:
    """``sum_{i<n} e^{j 2 pi r i}`` for an exact ``r`` (cycles per sample), phases reduced exactly."""
    p, q = r.numerator, r.denominator
    if q == 1:
        return complex(n)

    def half(k: int) -> float:  # pi r k reduced modulo 2 pi, in integers: (p k mod 2q) / 2q turns
        return 2 * math.pi * ((p * k) % (2 * q) / (2 * q))

    return cmath.exp(1j * half(n - 1)) * math.sin(half(n)) / math.sin(half(1))


class RmsEnvelope:
    """RMS of a signal over consecutive windows of ``n_win`` samples, from its first sample.

    The samples of an incomplete last window are left out. State: the sum of
    squares and count of the incomplete window and one value per complete
    window (one float per second of record for 1-s windows), updated in one
    compiled pass per chunk (:func:`~acquire.evaluation.accumulator_kernels.window_rms`).
    """

    def __init__(self, n_win: int):
        self.n_win = max(1, int(n_win))
        self.partial, self.n_partial = None, 0
        self.values = []

    def update(self, e: np.ndarray) -> None:
        """Add the next chunk, shape (n_series, m)."""
        if self.partial is None:
            self.partial = np.zeros(e.shape[0])
        self.values.append(window_rms(np.ascontiguousarray(e, dtype=float), self.n_win, self.partial,
                                      self.n_partial))
        self.n_partial = (self.n_partial + e.shape[1]) % self.n_win
        compact(self.values)

    def envelope(self) -> np.ndarray:
        """Shape (n_series, n_windows)."""
        n_series = 0 if self.partial is None else self.partial.size
        return np.concatenate(self.values, axis=1) if self.values else np.zeros((n_series, 0))


def compact(pieces: list, limit: int = 1024) -> None:
    """Join a list of arrays along their last axis into one once it holds more than ``limit``.

    Keeps a list grown by one small array per chunk at a few arrays: the
    memory of the values, not of a Python object per chunk (about 100 bytes
    each, 40 MB over a day of 2-s chunks for a handful of such lists).
    """
    if len(pieces) > limit:
        pieces[:] = [np.concatenate(pieces, axis=-1)]


class Lookback:
    """Chunks of several aligned signals with the last ``n_keep`` samples of the previous ones in front.

    :meth:`push` returns the concatenated look-back plus chunk and the index
    of its first sample, so that a window of up to ``n_keep + 1`` samples
    ending in the chunk is always whole.
    """

    def __init__(self, n_keep: int):
        self.n_keep = int(n_keep)
        self.tail = None
        self.end = 0

    def push(self, *chunks: np.ndarray) -> tuple[int, list[np.ndarray]]:
        """``(first sample index, [look-back + chunk for each signal])``."""
        if self.tail is None:
            self.tail = [c[..., :0] for c in chunks]
        joined = [np.concatenate([t, c], axis=-1) for t, c in zip(self.tail, chunks)]
        self.end += chunks[0].shape[-1]
        start = self.end - joined[0].shape[-1]
        self.tail = [j[..., max(0, j.shape[-1] - self.n_keep):] for j in joined]
        return start, joined
