"""Streaming, causal QRS detection of the Pan-Tompkins family.

The detector runs chunk by chunk with a fixed, reported worst-case decision
delay, and finds the same beats whatever the chunking (one sample included).
It re-acquires after what front ends do to the ECG (saturation, lead-off,
electrode-offset steps, baseline jumps): see :class:`QrsDetector`, Notes.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy import signal

from acquire._check import check_below_nyquist, check_positive
from acquire.evaluation.qrs_kernel import filter_chunk, find_candidates

_RR_HISTORY = 8  # Pan & Tompkins average the last eight RR intervals.
#: THR1 = NPK + fraction (SPK - NPK), levels on the amplitude scale sqrt(w).
_THRESHOLD_FRACTION = 0.35
#: Both thresholds are scaled by this while the rhythm is irregular (Pan & Tompkins: halved).
_IRREGULAR_SCALE = 0.5
#: A candidate sooner than this fraction of RR AVERAGE2 after the last beat is premature.
_PREMATURE_FRACTION = 0.7
#: Lost: levels are learned again when the largest candidate of a failed search-back
#: window exceeds this multiple of the noise level at the last beat.
_RELEARN_CONTRAST = 2.0


class QrsDetector:
    """Streaming Pan-Tompkins QRS detector for one ECG channel.

    Parameters
    ----------
    fs_hz : float
        Sampling rate of the ECG.
    band_hz : (float, float)
        Pass band of the Butterworth band-pass (second order per edge). The
        default 5-25 Hz keeps more of the QRS than Pan & Tompkins' 5-15 Hz
        where low-frequency interference (tremor, T waves, PVC tails) fills
        that band, as in MIT-BIH's V1 leads.
    integration_s : float
        Length of the moving-window integrator.
    refractory_s : float
        Minimum time between two beats; also the half-width of the window in
        which a candidate peak must dominate the integrated signal.
    t_wave_s : float
        A beat candidate closer than this to the previous beat is a T wave if
        its maximal slope is under half that beat's slope.
    learning_s : float
        Length of the initial learning phase that sets the first thresholds.
    searchback_max_s : float
        Upper bound on the search-back interval (1.66 times the RR average).
        It bounds the decision delay.

    Attributes
    ----------
    delay_s : float
        Worst-case time from an R peak to the ``process_samples`` call that
        returns it (see Notes).

    Notes
    -----
    Signal path (Pan & Tompkins, IEEE TBME 32(3):230-236, 1985):

    1. band-pass ``y`` (Butterworth SOS, 5-25 Hz by default), its initial
       state set to the steady state of the first sample so a dc offset
       gives no start-up transient;
    2. five-point derivative ``d[n] = fs (2y[n] + y[n-1] - y[n-3] - 2y[n-4]) / 8``;
    3. squaring and moving-window integration over ``N = round(integration_s fs)``
       samples: ``w[n] = (1/N) sum_{k<N} d[n-k]^2``.

    Candidates are the samples where ``w`` is larger than every sample in the
    preceding ``refractory_s`` and at least as large as every sample in the
    following ``refractory_s``; so no two candidates are closer than the
    refractory period, and a candidate is known ``refractory_s`` after it.
    For each candidate the peak of ``|y|`` over the samples that feed ``w[n]``
    (``n-N-3 .. n``) and the maximal slope ``max |d|`` over ``n-N+1 .. n`` are
    taken. The R peak is reported at the ``|y|`` maximum minus the
    band-pass group delay at the geometric centre of the band.

    Decision rules, per candidate in time order (Pan & Tompkins 1985, with
    the changes marked *):

    - levels ``SPK`` (signal) and ``NPK`` (noise) for both ``sqrt(w)`` (*
      the amplitude scale, so that a large PVC raises SPK by its amplitude,
      not its energy) and ``|y|``; thresholds
      ``THR1 = NPK + 0.35 (SPK - NPK)`` (* Pan & Tompkins: 1/4 on ``w``) and
      ``THR2 = THR1/2``;
    - a candidate above ``THR1`` on both signals is a beat, unless it lies
      within ``t_wave_s`` of the previous beat with less than half its slope
      (a T wave); beats update ``SPK <- PEAK/8 + 7 SPK/8``, everything else
      ``NPK <- PEAK/8 + 7 NPK/8``;
    - irregular rhythm: unless all of the last eight RR intervals lie within
      92-116 % of ``RR_AVG2``, both thresholds are halved;
    - * premature candidates: one sooner than 0.7 ``RR_AVG2`` after the last
      beat must also clear the un-halved ``THR1`` on one of the two signals
      (a false beat makes the rhythm irregular and halves the thresholds;
      without this rule that lets more noise through, e.g. tremor in V1);
    - search-back: when no beat has been found ``RR_MISSED = 1.66 RR_AVG2``
      (capped at ``searchback_max_s``; * also before the first beat) after
      the last one, the largest candidate since then above ``THR2`` on both
      signals (T-wave rule applied) is taken as a beat with
      ``SPK <- PEAK/4 + 3 SPK/4``. ``RR_AVG2`` averages the last eight RR
      intervals within 92-116 % of it (the first interval is always
      accepted);
    - * lost: when no candidate qualifies and the largest one since the last
      beat exceeds twice the noise level ``NPK`` held at that beat, the
      levels are learned again from those candidates (``SPK`` their maximum,
      ``NPK`` at most half their median), the RR history is dropped and the
      candidates are classified again. So a saturation, lead-off, offset
      step or baseline jump that raised ``SPK`` costs at most one window;
      a pause with nothing above the noise leaves the levels alone. If
      nothing is found, the window restarts at the deadline;
    - learning, over the first ``learning_s``: ``SPK = sqrt(max(w)/3)`` and
      ``max|y|/3``; ``NPK = sqrt(median(w))`` and ``median|y|`` (* medians:
      a transient in the first seconds does not lift the noise level).

    The default band and the numbers marked * (0.35, 0.7, 2) were chosen on
    the 23 MIT-BIH records of the test mirror, both leads, scored as
    EC57/bxb; they are not validated on other data.

    Delay: a candidate ``n`` is known at ``n + refractory``; a beat found by
    search-back is decided at most ``searchback_max_s`` after it, and beats in
    the learning phase at ``learning_s``. The R peak precedes ``n`` by at most
    ``N + 3`` samples plus the group delay, hence
    ``delay_s = (N + 3 + group delay + refractory)/fs + max(searchback_max_s, learning_s)``;
    candidates classified again when lost are decided at a search-back
    deadline, within the same bound.

    Examples
    --------
    >>> det = QrsDetector(360.0)
    >>> beats = np.concatenate([det.process_samples(c) for c in chunks] + [det.flush()])
    """

    def __init__(self, fs_hz: float, *, band_hz: tuple[float, float] = (5.0, 25.0),
                 integration_s: float = 0.150, refractory_s: float = 0.200,
                 t_wave_s: float = 0.360, learning_s: float = 2.0,
                 searchback_max_s: float = 2.0):
        self.fs_hz = check_positive("fs_hz", fs_hz)
        lo, hi = (check_below_nyquist("band_hz", f, fs_hz) for f in band_hz)
        if not lo < hi:
            raise ValueError(f"band_hz must be (low, high) with low < high; got {band_hz!r}.")
        for name, value in (("integration_s", integration_s), ("refractory_s", refractory_s),
                            ("t_wave_s", t_wave_s), ("learning_s", learning_s),
                            ("searchback_max_s", searchback_max_s)):
            check_positive(name, value)
        self.band_hz = (lo, hi)
        self.sos = signal.butter(2, self.band_hz, btype="bandpass", fs=fs_hz, output="sos")
        self.n_int = max(1, round(integration_s * fs_hz))
        self.n_ref = max(1, round(refractory_s * fs_hz))
        self.n_twave = round(t_wave_s * fs_hz)
        self.n_learn = max(1, round(learning_s * fs_hz))
        self.searchback_max = round(searchback_max_s * fs_hz)
        b, a = signal.sos2tf(self.sos)
        _, gd = signal.group_delay((b, a), w=[np.sqrt(lo * hi)], fs=fs_hz)
        self.group_delay = round(float(gd[0]))
        self.deriv_b = np.array([2.0, 1.0, 0.0, -1.0, -2.0]) * fs_hz / 8.0
        self.n_pad = max(self.n_ref, self.n_int + 3)
        self.delay_s = ((self.n_int + 3 + self.group_delay + self.n_ref) / fs_hz
                        + max(searchback_max_s, learning_s))
        self.reset()

    def reset(self) -> None:
        """Forget the stream: filters, buffers, levels and RR history."""
        self.n_seen_ = 0
        self.zi_bp_ = None
        # One buffer, rows w, y, d (qrs_kernel), from sample buf_start_; it starts with
        # n_pad samples before time 0 (w = -inf, y = d = 0) so every window exists.
        self.buf_start_ = -self.n_pad
        self.buf_ = np.zeros((3, 4 * self.n_pad))
        self.buf_[0, :self.n_pad] = -np.inf
        self.n_buf_ = self.n_pad
        self.examined_ = 0          # candidates are known for all indices below this
        self.learn_ = []            # (w, |y|) pieces of the learning phase
        self.levels_ = None         # [SPKI, NPKI, SPKF, NPKF] once learned
        self.npk_at_beat_ = None    # NPKI when the last beat was accepted
        self.queue_ = deque()       # candidates not yet decided
        self.pending_ = []          # candidates since the last beat, for search-back
        self.last_beat_ = None      # (candidate index, slope) of the last beat
        self.window_start_ = 0      # start of the current search-back window
        self.rr_all_ = deque(maxlen=_RR_HISTORY)  # RR AVERAGE1: the last eight intervals
        self.rr_ok_ = deque(maxlen=_RR_HISTORY)   # RR AVERAGE2: the last eight regular ones
        self._rhythm_changed()

    # -- streaming ---------------------------------------------------------

    def process_samples(self, x: np.ndarray) -> np.ndarray:
        """Consume samples of one channel; return the R peaks decided now.

        Parameters
        ----------
        x : ndarray, shape (n,)
            Next samples of the ECG (any unit; the detector is scale-free).

        Returns
        -------
        ndarray of int
            Absolute sample indices of the R peaks decided during this call.
        """
        x = np.asarray(x, dtype=float)
        if x.ndim != 1:
            raise ValueError(f"x must be 1-D (one channel); got shape {x.shape}.")
        if x.size == 0:
            return np.zeros(0, dtype=np.int64)
        self._filter(x)
        return self._advance(final=False)

    def flush(self) -> np.ndarray:
        """End the stream: decide the remaining candidates and return their R peaks.

        Candidates in the last ``refractory_s`` are compared only with the
        samples that exist. Call :meth:`reset` before feeding a new stream.
        """
        return self._advance(final=True)

    def _filter(self, x: np.ndarray) -> None:
        if self.zi_bp_ is None:
            self.zi_bp_ = signal.sosfilt_zi(self.sos) * x[0]
        n0, m = self.n_buf_, x.size
        if n0 + m > self.buf_.shape[1]:
            grown = np.empty((3, 2 * (n0 + m)))
            grown[:, :n0] = self.buf_[:, :n0]
            self.buf_ = grown
        filter_chunk(np.ascontiguousarray(x), self.sos, self.zi_bp_, self.deriv_b, self.n_int, self.buf_, n0)
        self.n_buf_ += m
        if self.levels_ is None and self.n_seen_ < self.n_learn:
            take = min(m, self.n_learn - self.n_seen_)
            self.learn_.append((self.buf_[0, n0:n0 + take].copy(), np.abs(self.buf_[1, n0:n0 + take])))
        self.n_seen_ += m

    def _advance(self, final: bool) -> np.ndarray:
        if self.n_seen_ == 0:
            return np.zeros(0, dtype=np.int64)
        # Candidates are known for indices below `limit`.
        limit = self.n_seen_ if final else self.n_seen_ - self.n_ref
        if limit > self.examined_:
            self._find_candidates(limit)
            self.examined_ = limit
        if self.levels_ is None:
            if not (final or self.n_seen_ >= self.n_learn):
                return np.zeros(0, dtype=np.int64)
            self._learn()
        beats = self._decide(limit)
        keep = self.examined_ - self.n_pad - self.buf_start_
        if keep > 0:  # drop what no window reaches any more
            self.buf_[:, :self.n_buf_ - keep] = self.buf_[:, keep:self.n_buf_]
            self.n_buf_ -= keep
            self.buf_start_ += keep
        return np.asarray(beats, dtype=np.int64)

    def _find_candidates(self, limit: int) -> None:
        o = self.buf_start_
        found = find_candidates(self.buf_, self.n_buf_, self.examined_ - o, limit - o, self.n_ref, self.n_int)
        for pos, peak_w, peak_y, slope, arg in found.tolist():  # a few per beat
            n = int(pos) + o
            self.queue_.append((n, peak_w, peak_y, slope, max(n - self.n_int - 3 + int(arg) - self.group_delay, 0)))

    def _learn(self) -> None:
        w = np.concatenate([p[0] for p in self.learn_])
        y = np.concatenate([p[1] for p in self.learn_])
        self.levels_ = [np.sqrt(w.max() / 3), np.sqrt(np.median(w)), y.max() / 3, float(np.median(y))]
        self.npk_at_beat_ = self.levels_[1]
        self.learn_ = []

    # -- decision logic (runs once per candidate) --------------------------

    def _rr_average(self) -> float | None:
        """RR AVERAGE2: the mean of the last eight regular RR intervals, None before any."""
        return self.rr_avg_

    def _rhythm_changed(self) -> None:
        """Recompute RR AVERAGE2 and whether the rhythm is regular (after the RR history changed)."""
        avg = self.rr_avg_ = sum(self.rr_ok_) / len(self.rr_ok_) if self.rr_ok_ else None
        self.regular_ = avg is None or all(0.92 * avg <= rr <= 1.16 * avg for rr in self.rr_all_)

    def _full_thresholds(self) -> tuple[float, float]:
        spki, npki, spkf, npkf = self.levels_
        f = _THRESHOLD_FRACTION
        return npki + f * (spki - npki), npkf + f * (spkf - npkf)

    def _thresholds(self) -> tuple[float, float]:
        thr_w, thr_y = self._full_thresholds()
        if self.regular_:
            return thr_w, thr_y
        return _IRREGULAR_SCALE * thr_w, _IRREGULAR_SCALE * thr_y

    def _deadline(self) -> float:
        avg = self._rr_average()
        missed = self.searchback_max if avg is None else min(round(1.66 * avg), self.searchback_max)
        return self.window_start_ + missed

    def _is_t_wave(self, n: int, slope: float) -> bool:
        last = self.last_beat_
        return last is not None and n - last[0] < self.n_twave and slope < 0.5 * last[1]

    def _weak_premature(self, cand) -> bool:
        avg = self._rr_average()
        if avg is None or cand[0] - self.last_beat_[0] >= _PREMATURE_FRACTION * avg:
            return False
        thr_w, thr_y = self._full_thresholds()
        return cand[1] <= thr_w and cand[2] <= thr_y

    def _decide(self, limit: int) -> list[int]:
        # Events in time order: candidates, and search-back deadlines once every
        # candidate before them is known.
        beats = []
        while True:
            deadline = self._deadline()
            next_n = self.queue_[0][0] if self.queue_ else limit
            if deadline < next_n:
                self._search_back(deadline, beats)
            elif self.queue_:
                self._classify(self.queue_.popleft(), beats)
            else:
                return beats

    def _classify(self, cand, beats: list[int]) -> None:
        n, peak_w, peak_y, slope, _ = cand
        thr_w, thr_y = self._thresholds()
        if (peak_w > thr_w and peak_y > thr_y and not self._is_t_wave(n, slope)
                and not self._weak_premature(cand)):
            self._accept(cand, 0.125, beats)
        else:
            lv = self.levels_
            lv[1] += 0.125 * (peak_w - lv[1])
            lv[3] += 0.125 * (peak_y - lv[3])
            self.pending_.append(cand)

    def _search_back(self, deadline: float, beats: list[int]) -> None:
        thr_w, thr_y = self._thresholds()
        eligible = [c for c in self.pending_
                    if c[1] > 0.5 * thr_w and c[2] > 0.5 * thr_y and not self._is_t_wave(c[0], c[3])]
        if eligible:
            self._accept(max(eligible, key=lambda c: c[1]), 0.25, beats)
            return
        pending, start = self.pending_, self.window_start_
        self.pending_ = []
        if pending and max(c[1] for c in pending) > _RELEARN_CONTRAST * self.npk_at_beat_:
            self._relearn(pending)
            for cand in pending:
                self._classify(cand, beats)
        if self.window_start_ == start:  # nothing found: the next window starts here
            self.pending_ = []
            self.window_start_ = int(deadline)

    def _relearn(self, pending: list) -> None:
        """Lost: levels from the candidates since the last beat; the rhythm forgotten."""
        w = np.array([c[1] for c in pending])
        y = np.array([c[2] for c in pending])
        lv = self.levels_
        lv[0], lv[2] = float(w.max()), float(y.max())
        lv[1], lv[3] = min(lv[1], 0.5 * float(np.median(w))), min(lv[3], 0.5 * float(np.median(y)))
        self.rr_all_.clear()
        self.rr_ok_.clear()
        self._rhythm_changed()

    def _accept(self, cand, weight: float, beats: list[int]) -> None:
        n, peak_w, peak_y, slope, r_peak = cand
        lv = self.levels_
        lv[0] += weight * (peak_w - lv[0])
        lv[2] += weight * (peak_y - lv[2])
        if self.last_beat_ is not None:
            rr = n - self.last_beat_[0]
            avg = self._rr_average()
            self.rr_all_.append(rr)
            if avg is None or 0.92 * avg <= rr <= 1.16 * avg:
                self.rr_ok_.append(rr)
            self._rhythm_changed()
        self.last_beat_ = (n, slope)
        self.npk_at_beat_ = lv[1]
        self.window_start_ = n
        self.pending_ = [c for c in self.pending_ if c[0] > n]
        beats.append(r_peak)


def detect_qrs(x: np.ndarray, fs_hz: float, **options) -> np.ndarray:
    """Detect R peaks in one block with :class:`QrsDetector`.

    Parameters
    ----------
    x : ndarray, shape (n,)
        One ECG channel.
    fs_hz : float
        Sampling rate.
    **options
        Keyword options of :class:`QrsDetector`.

    Returns
    -------
    ndarray of int
        Sample indices of the R peaks.
    """
    det = QrsDetector(fs_hz, **options)
    return np.concatenate([det.process_samples(x), det.flush()])
