"""Every metric of one tap, accumulated chunk by chunk as the chains run.

A :class:`TapMeter` is fed, in lockstep, the simulated output ``y``, the
ideal twin's output ``x`` and the source reference ``s`` at one tap, all
``(n_channels, m)`` chunks of the same samples, and holds only the
accumulators of :mod:`acquire.evaluation.accumulators`, a streaming QRS
detector per channel, one beat window of look-back and one value per beat
and per second. Its metrics are therefore those of the whole record
(:func:`acquire.evaluation.evaluate.simulate` defines them) in memory that
does not grow with the record's samples.
"""

from __future__ import annotations

import math

import numpy as np

from acquire.evaluation import metrics as m
from acquire.evaluation.accumulator_kernels import beat_errors
from acquire.evaluation.accumulators import Lookback, PairStats, RmsEnvelope, ToneFit, compact
from acquire.evaluation.qrs import QrsDetector

#: Most mains harmonics measured (fewer when they would reach Nyquist).
N_HARMONICS_MEASURED = 5
#: Reference beats scored for amplitude and ST lie this far after the start of the scored part...
BEAT_MARGIN_START_S = 0.1
#: ... and this far before the end of the record, s.
BEAT_MARGIN_END_S = 0.2
#: The output has settled when the 1-second rms of its error against the
#: source reference stays below this multiple of its steady-state value (the
#: largest over the second half of the record) plus SETTLED_FLOOR_V.
SETTLED_FACTOR = 1.2
SETTLED_FLOOR_V = 1e-6
#: Samples gathered before they are measured (:meth:`TapMeter.update`): 8 s at 500 SPS.
METER_SPAN = 4096


class TapMeter:
    """The metrics of one tap, from consecutive chunks (see the module docstring).

    Parameters
    ----------
    fs_hz : float
        The tap's rate.
    n_channels : int
    skip : int
        Samples excluded at the start (the settle time).
    beats : array of int
        Reference beats at the tap's rate, delayed like the tap, sorted.
    mains_hz : float
        Fundamental of the residual mains fit.
    """

    def __init__(self, fs_hz: float, n_channels: int, skip: int, beats: np.ndarray, mains_hz: float):
        self.fs_hz, self.n_channels, self.skip = float(fs_hz), int(n_channels), int(skip)
        self.n = self.n_measured = 0  # samples fed, samples measured
        self.pending = []
        self.vs_ideal, self.vs_source = PairStats(), PairStats()
        n_harmonics = min(N_HARMONICS_MEASURED, math.ceil(fs_hz / 2 / mains_hz) - 1)
        harmonics, probes = m.mains_tones_hz(fs_hz, mains_hz, n_harmonics), m.floor_probes_hz(fs_hz, mains_hz)
        # One accumulator for both fits (the harmonics', the probes'): each tone's sums stand alone.
        self.tones = ToneFit(fs_hz, harmonics + probes)
        self.harmonics, self.probes = range(len(harmonics)), range(len(harmonics), len(harmonics) + len(probes))
        self.settling = RmsEnvelope(round(fs_hz))
        self.detectors = [QrsDetector(fs_hz) for _ in range(n_channels)]
        self.detected = [[] for _ in range(n_channels)]
        beats = np.asarray(beats, dtype=np.int64)
        self.beats = beats[beats >= skip + int(BEAT_MARGIN_START_S * fs_hz)]
        self.next_beat = 0
        self.qrs_window, self.st_offsets = m.qrs_window(fs_hz), m.st_offsets(fs_hz)
        self.window = (min(*self.qrs_window, *self.st_offsets), max(*self.qrs_window, *self.st_offsets))
        self.lookback = Lookback(self.window[1] - self.window[0])
        self.beat_errors = {"beats": [], "qrs": [], "st": []}

    def update(self, y: np.ndarray, x: np.ndarray, s: np.ndarray) -> None:
        """Add the next chunk of the output ``y``, the ideal output ``x`` and the source reference ``s``.

        Chunks are gathered into spans of at least :data:`METER_SPAN` samples
        before they are measured: the per-call cost of every accumulator is
        paid once per span, not once per chunk. Every metric is chunk-invariant
        (the detector's beats, the envelope, the beat errors exactly; the sums
        up to the grouping of their floating-point additions), so the span
        changes nothing but speed.
        """
        self.pending.append((y, x, s))
        self.n += y.shape[1]
        if self.n - self.n_measured >= METER_SPAN:
            self._measure()

    def _measure(self) -> None:
        """Measure the gathered chunks as one."""
        if not self.pending:
            return
        y, x, s = (np.concatenate(parts, axis=1) for parts in zip(*self.pending))
        self.pending = []
        start, n = self.n_measured, y.shape[1]
        self.n_measured += n
        self.settling.update(x - s)
        for c, det in enumerate(self.detectors):
            self.detected[c].append(det.process_samples(y[c]))
            compact(self.detected[c])
        cut = max(0, self.skip - start)
        if cut < n:
            yc, xc, sc = y[:, cut:], x[:, cut:], s[:, cut:]
            self.vs_ideal.update(xc, yc)
            self.vs_source.update(sc, yc)
            self.tones.update(yc - xc)
        self._beats(*self.lookback.push(x, y))

    def _beats(self, start: int, signals: list[np.ndarray]) -> None:
        """Errors of the reference beats whose whole window has arrived."""
        x, y = signals
        end = start + x.shape[1]
        stop = int(np.searchsorted(self.beats, end - self.window[1], side="left"))
        beats = self.beats[self.next_beat:stop]
        self.next_beat = stop
        if not beats.size:
            return
        local = beats - start  # every window inside (the look-back holds one window)
        qrs, st = beat_errors(x, y, local, self.qrs_window, self.st_offsets)
        for key, value in (("beats", beats), ("qrs", qrs), ("st", st)):
            self.beat_errors[key].append(value)
            compact(self.beat_errors[key])

    def finish(self) -> None:
        """End of the record: measure what is gathered, flush the detectors."""
        self._measure()
        for c, det in enumerate(self.detectors):
            self.detected[c].append(det.flush())
        self.detected = [np.concatenate(d).astype(np.int64) for d in self.detected]

    def beat_summaries(self) -> tuple[list[dict], list[dict]]:
        """Per channel, the QRS amplitude and the ST level error summaries (µV) over the scored beats."""
        if not self.beat_errors["beats"]:
            empty = [m.beat_error_summary_uv([]) for _ in range(self.n_channels)]
            return empty, list(empty)
        beats = np.concatenate(self.beat_errors["beats"])
        inside = beats < self.n - int(BEAT_MARGIN_END_S * self.fs_hz)
        qrs, st = (np.concatenate(self.beat_errors[k], axis=1)[:, inside] for k in ("qrs", "st"))
        return ([m.beat_error_summary_uv(qrs[c]) for c in range(self.n_channels)],
                [m.beat_error_summary_uv(st[c]) for c in range(self.n_channels)])

    def mains(self) -> tuple[np.ndarray, np.ndarray]:
        """Fitted rms of each harmonic, shape (n_harmonics, n_channels), and the lock-in floor per channel, V."""
        return self.tones.rms(self.harmonics), np.sqrt(np.mean(self.tones.rms(self.probes) ** 2, axis=0))


def start_up_settling_s(error_v: np.ndarray, fs_hz: float) -> float:
    """Time until the error's 1-s rms envelope stays within its steady-state level.

    The envelope is the rms over consecutive 1-second windows; the steady
    level is its largest value over the second half of the record; the output has
    settled once the envelope stays below SETTLED_FACTOR times that level
    plus SETTLED_FLOOR_V. Resolution: one window (1 s).
    """
    env = RmsEnvelope(round(fs_hz))
    env.update(np.atleast_2d(np.asarray(error_v, dtype=float)))
    return start_up_settling_from(env.envelope())[0]


def start_up_settling_from(envelope: np.ndarray) -> list[float]:
    """:func:`start_up_settling_s` of each series from its 1-s rms envelope, shape (n_series, n_windows)."""
    n = envelope.shape[1]
    if n < 2:
        return [math.nan] * envelope.shape[0]
    return [m.settling_time_s(env, 1.0, SETTLED_FACTOR * np.max(env[n // 2:]) + SETTLED_FLOOR_V)
            for env in envelope]
