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

import numpy as np


class PairStats:
    """Sums of a reference ``x`` and a test ``y`` for SNR, PRD, PRDN and correlation.

    State per series: count ``n``, means, centred second moments
    ``M2x = sum (x - mean x)^2``, ``M2y``, co-moment ``Cxy``, ``sum x^2`` and
    ``sum (x - y)^2``. Chunks are merged with Chan et al.'s update
    ``M2 = M2a + M2b + d^2 na nb / n`` (d the difference of the chunk means),
    ``C = Ca + Cb + dx dy na nb / n``.
    """

    def __init__(self):
        self.n = 0
        self.mean_x = self.mean_y = self.m2x = self.m2y = self.cxy = self.sum_x2 = self.sum_d2 = 0.0

    def update(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add the next chunk of ``x`` and ``y``, shape (..., m)."""
        m = x.shape[-1]
        if m == 0:
            return
        mx, my = x.mean(axis=-1), y.mean(axis=-1)
        dx, dy = x - mx[..., None], y - my[..., None]
        n = self.n + m
        ex, ey = mx - self.mean_x, my - self.mean_y
        w = self.n * m / n
        self.m2x = self.m2x + np.sum(dx**2, -1) + ex**2 * w
        self.m2y = self.m2y + np.sum(dy**2, -1) + ey**2 * w
        self.cxy = self.cxy + np.sum(dx * dy, -1) + ex * ey * w
        self.mean_x, self.mean_y = self.mean_x + ex * (m / n), self.mean_y + ey * (m / n)
        self.sum_x2 = self.sum_x2 + np.sum(x**2, -1)
        self.sum_d2 = self.sum_d2 + np.sum((x - y) ** 2, -1)
        self.n = n

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
    The model ``x[n] = c + sum_k a_k cos(2 pi f_k n/fs) + b_k sin(2 pi f_k n/fs)``
    with ``n`` counted from the first sample fed. Each chunk adds its design
    rows to ``G = D^T D`` and ``D^T x``; :meth:`rms` solves ``G c = D^T x``.
    Over a record of many periods the columns are nearly orthogonal (``G``
    close to diag(n, n/2, ...), condition number about 2), so the normal
    equations lose no accuracy against a QR least-squares solve.
    """

    def __init__(self, fs_hz: float, freqs_hz):
        self.fs_hz, self.freqs_hz = float(fs_hz), np.asarray(freqs_hz, dtype=float)
        k = 2 * self.freqs_hz.size + 1
        self.n = 0
        self.gram = np.zeros((k, k))
        self.dtx = None

    def update(self, x: np.ndarray) -> None:
        """Add the next chunk, shape (..., m)."""
        m = x.shape[-1]
        if m == 0:
            return
        phase = 2 * np.pi * np.outer(np.arange(self.n, self.n + m) / self.fs_hz, self.freqs_hz)
        design = np.hstack([np.ones((m, 1)), np.cos(phase), np.sin(phase)])
        self.gram += design.T @ design
        dtx = x.reshape(-1, m) @ design
        self.dtx = dtx if self.dtx is None else self.dtx + dtx
        self.lead = x.shape[:-1]
        self.n += m

    def rms(self) -> np.ndarray:
        """RMS amplitude ``sqrt(a_k^2 + b_k^2)/sqrt(2)`` of each tone, shape (n_tones, ...) over the series."""
        k = self.freqs_hz.size
        if self.n < 2 * k + 1:
            raise ValueError(f"x needs at least {2 * k + 1} samples to fit {k} tone(s) and dc; got {self.n}.")
        coef = np.linalg.solve(self.gram, self.dtx.T)
        amplitude = np.hypot(coef[1:k + 1], coef[k + 1:])
        return (amplitude / np.sqrt(2)).reshape((k, *self.lead))


class RmsEnvelope:
    """RMS of a signal over consecutive windows of ``n_win`` samples, from its first sample.

    The samples of an incomplete last window are left out. State: the
    incomplete window and one value per complete window (one float per
    second of record for 1-s windows).
    """

    def __init__(self, n_win: int):
        self.n_win = max(1, int(n_win))
        self.rest = None
        self.values = []

    def update(self, e: np.ndarray) -> None:
        """Add the next chunk, shape (n_series, m)."""
        e = e if self.rest is None else np.concatenate([self.rest, e], axis=-1)
        n = e.shape[-1] // self.n_win
        if n:
            block = e[:, :n * self.n_win].reshape(e.shape[0], n, self.n_win)
            self.values.append(np.sqrt(np.mean(block**2, axis=2)))
            compact(self.values)
        self.rest = e[:, n * self.n_win:]

    def envelope(self) -> np.ndarray:
        """Shape (n_series, n_windows)."""
        n_series = 0 if self.rest is None else self.rest.shape[0]
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
