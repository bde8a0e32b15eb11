"""Beat-by-beat scoring of a QRS detector, as AAMI EC57 and WFDB ``bxb``.

Sources: G. Moody, WFDB 10.7 ``app/bxb.c`` (the matching walk with its
2002 alternative criteria, start-up rules, learning period, VF episodes, Se
and +P) and ``app/sumstats.c`` (gross and average statistics); ANSI/AAMI
EC57:1998, as summarised in ``reference/facts.md`` section 1.4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from acquire._check import check_positive
from acquire.sources.recording import AAMI_CLASS, QRS_SYMBOLS, VF_OFF, VF_ON, Annotations, retime_samples

#: EC57's learning period (bxb's default ``-f 5:0``), seconds.
EC57_LEARNING_S = 300.0
#: Shortest record scored with the EC57 learning period by default, seconds.
EC57_MIN_RECORD_S = 600.0
#: bxb's time of a missing annotation (``huge_time``): beyond any record.
_HUGE = 1 << 62


@dataclass(frozen=True)
class MatchResult:
    """Outcome of a beat-by-beat comparison.

    Parameters
    ----------
    ref_matched, test_matched : ndarray of int
        Sample indices of the matched pairs (same length, in time order).
    missed : ndarray of int
        Reference beats without a test beat (false negatives).
    extra : ndarray of int
        Test beats without a reference beat (false positives).
    """

    ref_matched: np.ndarray
    test_matched: np.ndarray
    missed: np.ndarray
    extra: np.ndarray

    @property
    def tp(self) -> int:
        """True positives: matched pairs."""
        return int(self.ref_matched.size)

    @property
    def fn(self) -> int:
        """False negatives: missed reference beats."""
        return int(self.missed.size)

    @property
    def fp(self) -> int:
        """False positives: unmatched test beats."""
        return int(self.extra.size)

    @property
    def se(self) -> float:
        """Sensitivity TP/(TP+FN); nan without reference beats."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def ppv(self) -> float:
        """Positive predictivity (+P) TP/(TP+FP); nan without test beats."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float:
        """F1 = 2 TP/(2 TP + FN + FP), the harmonic mean of Se and +P."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fn + self.fp)


def _ratio(a: int, b: int) -> float:
    return a / b if b > 0 else float("nan")


def _as_samples(name: str, samples) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a 1-D array of integer sample indices; "
                        f"got dtype {arr.dtype} and shape {arr.shape}.")
    return arr.astype(np.int64)


def strtim_samples(seconds: float, fs_hz: float, name: str = "seconds") -> int:
    """``seconds`` (>= 0; ``name`` in errors) in samples as WFDB's ``strtim``: ``floor(seconds fs + 1/2)``."""
    return int(math.floor(check_positive(name, seconds, allow_zero=True)
                          * check_positive("fs_hz", fs_hz) + 0.5))


def match_window_samples(fs_hz: float, window_s: float) -> int:
    """Match window in samples, as bxb's ``strtim`` rounds it (54 at 360 Hz, 150 ms)."""
    return strtim_samples(check_positive("window_s", window_s), fs_hz, "window_s")


class _Annotator:
    """One annotation stream read as bxb's ``getref``/``gettest`` read it.

    ``t, label`` is the current beat and ``t_next, label_next`` the next one
    (bxb's T, A, T', A'); both start as bxb's "nothing read yet" (time 0,
    label None) and become ``_HUGE`` with label "*" past the last beat.
    ``vf`` and ``vf_prev`` are the last two VF episodes read, (on, off) with
    -1 for unknown: bxb remembers only those two.
    """

    def __init__(self, times: list[int], labels: list[str]):
        self.times, self.labels, self.pos = times, labels, 0
        self.t = self.t_next = 0
        self.label = self.label_next = None
        self.vf = self.vf_prev = (-1, -1)

    def advance(self) -> None:
        """bxb ``getref()``: the next beat becomes current; read the one after it."""
        self.t, self.label = self.t_next, self.label_next
        n = len(self.times)
        while self.pos < n:
            time, label = self.times[self.pos], self.labels[self.pos]
            self.pos += 1
            if label == VF_ON:  # skip everything up to the VFOFF
                self.vf_prev, on = self.vf, time
                while self.pos < n and self.labels[self.pos] != VF_OFF:
                    self.pos += 1
                if self.pos == n:  # EOF inside VF: the old VFOFF stays (bxb)
                    self.vf = (on, self.vf[1])
                    break
                self.vf = (on, self.times[self.pos])
                self.pos += 1
            elif label != VF_OFF:
                self.t_next, self.label_next = time, label
                return
        self.t_next, self.label_next = _HUGE, "*"

    def in_vf(self, t: int) -> bool:
        """bxb ``rpann``'s test: t lies in one of the last two VF episodes read."""
        (on, off), (p_on, p_off) = self.vf, self.vf_prev
        return (on != -1 and on <= t and (t <= off or off == -1)) or (p_on != -1 and p_on <= t <= p_off)


class _Tally:
    """bxb's ``pair()`` reduced to QRS detection: TP, FN and FP lists."""

    def __init__(self):
        self.pairs, self.missed, self.extra = [], [], []

    def pair(self, ref: _Annotator, test: _Annotator) -> None:
        """Pair the current beats; counted only when both are labelled beats."""
        if test.label in AAMI_CLASS:
            if ref.label in AAMI_CLASS:
                self.pairs.append((ref.t, test.t))
            elif ref.label == "!":  # amap('!') is 'O': a false positive (bxb's On)
                self.extra.append(test.t)

    def result(self) -> MatchResult:
        matched = np.array(self.pairs, dtype=np.int64).reshape(-1, 2)
        return MatchResult(matched[:, 0], matched[:, 1], np.array(self.missed, dtype=np.int64),
                           np.array(self.extra, dtype=np.int64))


def _start(ref: _Annotator, test: _Annotator, start: int, dt: int, tally: _Tally) -> None:
    """bxb's start of the test period: skip the learning period, then its two start-up rules."""
    ref.advance()
    while ref.t < start:
        ref.advance()
    test.advance()
    while test.t_next < start:
        test.advance()
    T, t = ref.t, test.t
    if T - t < abs(T - test.t_next) and T - t <= dt:
        tally.pair(ref, test)  # bxb skips the pair of two "nothing read" labels; so does pair()
        ref.advance()
        test.advance()
    else:
        test.advance()
        if test.t - start <= dt and abs(T - test.t_next) < abs(T - test.t):
            test.advance()


def bxb_walk(ref_samples: Sequence[int], ref_symbols: Sequence[str], test_samples: Sequence[int],
             start: int, dt: int, end: int | None = None) -> MatchResult:
    """WFDB ``bxb``'s comparison of a reference and a test annotation stream, QRS counts only.

    Parameters
    ----------
    ref_samples, ref_symbols : sequence
        Reference annotations in file order: QRS symbols (:data:`QRS_SYMBOLS`)
        and VF bounds ``[`` ``]``; other symbols are ignored (bxb skips them;
        its shutdown intervals change no QRS count).
    test_samples : sequence of int
        Test beats in time order, all labelled N (a detector's output).
    start : int
        First sample of the test period (bxb ``-f``).
    dt : int
        Match window in samples (bxb ``-w``).
    end : int or None
        Last sample of the test period (bxb ``-t``); None runs past the last
        annotation (bxb with the record length as end when no annotation lies
        beyond it).

    Returns
    -------
    MatchResult

    Notes
    -----
    The port keeps bxb's control flow (``main``, ``getref``, ``gettest``,
    ``rpann``). With ``T, T'`` the current and next reference beat, ``t, t'``
    the current and next test beat, each step takes the earlier of T and t:

    1. ``t < T``, ``T - t <= dt`` and (``T - t < |T - t'|`` or
       ``|T' - t'| < |T - t'|``): pair, advance both;
    2. ``t < T`` otherwise: t is a false positive unless it lies in one of the
       last two reference VF episodes read; advance the test stream;
    3. ``t >= T``, ``t - T <= dt`` and (``t - T < |t - T'|`` or
       ``|t' - T'| < |t - T'|``): pair, advance both;
    4. ``t >= T`` otherwise: T is a false negative; advance the reference.

    The alternative criteria after "or" are Moody's 24 November 2002
    revision. Reference annotations between ``[`` and ``]`` are skipped. A
    reference ``!`` outside VF is read as a beat whose label is not a beat
    class: a test beat paired with it is a false positive and an unpaired one
    is nothing. Start-up (before the loop): the last test beat before
    ``start`` is paired with the first reference beat at or after it when
    that is within the window and nearer than the next test beat; otherwise
    it is dropped, and so is the first test beat after ``start`` if it lies
    within the window of ``start`` and the one after it is nearer to T.
    """
    ref = _Annotator([int(x) for x in ref_samples], [str(s) for s in ref_symbols])
    test = _Annotator([int(x) for x in test_samples], ["N"] * len(test_samples))
    tally = _Tally()
    _start(ref, test, start, dt, tally)
    while (ref.t <= end or test.t <= end) if end is not None else (ref.t != _HUGE or test.t != _HUGE):
        T, T_next, t, t_next = ref.t, ref.t_next, test.t, test.t_next
        if t < T:
            if T - t <= dt and (T - t < abs(T - t_next) or abs(T_next - t_next) < abs(T - t_next)):
                tally.pair(ref, test)
                ref.advance()
            elif not ref.in_vf(t) and test.label in AAMI_CLASS:
                tally.extra.append(t)
            test.advance()
        elif t - T <= dt and (t - T < abs(t - T_next) or abs(t_next - T_next) < abs(t - T_next)):
            tally.pair(ref, test)
            test.advance()
            ref.advance()
        else:
            if ref.label in AAMI_CLASS:
                tally.missed.append(T)
            ref.advance()
    return tally.result()


def _scored_stream(samples: np.ndarray, symbols: np.ndarray, start: int):
    """The reference annotations bxb reads, in file order: QRS at or after ``start``, and VF bounds."""
    order = np.argsort(samples, kind="stable")
    samples, symbols = samples[order], symbols[order]
    beat = np.isin(symbols, list(QRS_SYMBOLS))
    keep = (beat & (samples >= start)) | np.isin(symbols, [VF_ON, VF_OFF])
    return samples[keep], symbols[keep]


def match_beats(ref_samples, test_samples, fs_hz: float, window_s: float = 0.150) -> MatchResult:
    """Match test beats to reference beats (all labelled N) as ``bxb -f 0``: no learning period.

    Parameters
    ----------
    ref_samples, test_samples : array of int
        Beat times in samples at ``fs_hz``, in time order.
    fs_hz : float
        Sampling rate of both annotation sets.
    window_s : float
        Match window: a pair may match when ``|t - T| <= window`` (inclusive).

    Returns
    -------
    MatchResult
        See :func:`bxb_walk` for the matching rules.
    """
    ref = np.sort(_as_samples("ref_samples", ref_samples))
    test = np.sort(_as_samples("test_samples", test_samples))
    return bxb_walk(ref, ["N"] * ref.size, test, 0, match_window_samples(fs_hz, window_s))


def score_record(ref_samples, ref_symbols, test_samples, fs_hz: float,
                 exclude_first_s: float = EC57_LEARNING_S, window_s: float = 0.150,
                 *, end_sample: int | None = None) -> MatchResult:
    """Score one record's test beats against its reference annotations, as bxb.

    Parameters
    ----------
    ref_samples : array of int
        Sample index of every reference annotation, beats and non-beats.
    ref_symbols : array of str
        WFDB symbol of each reference annotation. Beats are WFDB's QRS set
        (:data:`acquire.sources.recording.QRS_SYMBOLS`); ``[`` and ``]``
        bound VF episodes; other symbols are ignored.
    test_samples : array of int
        Detected beats.
    fs_hz : float
        Sampling rate.
    exclude_first_s : float
        Learning period at the start of the record, ignored in both
        annotation sets (bxb ``-f``, default 5 minutes).
    window_s : float
        Match window (bxb ``-w``, default 150 ms).
    end_sample : int or None
        End of the test period (bxb's record length or ``-t``); None: after
        the last annotation.

    Returns
    -------
    MatchResult
        ``se``, ``ppv`` and ``f1`` give bxb's QRS sensitivity and positive
        predictivity for the record.

    Notes
    -----
    :func:`bxb_walk` gives the rules: reference beats inside a VF episode are
    skipped and unmatched test beats inside one are not false positives.
    """
    samples = _as_samples("ref_samples", ref_samples)
    symbols = np.asarray(ref_symbols, dtype=str)
    if symbols.shape != samples.shape:
        raise ValueError(f"ref_symbols must have one symbol per reference sample; got "
                         f"{symbols.shape} symbols for {samples.shape} samples.")
    start = strtim_samples(exclude_first_s, fs_hz, "exclude_first_s")
    ref, sym = _scored_stream(samples, symbols, start)
    test = np.sort(_as_samples("test_samples", test_samples))
    return bxb_walk(ref, sym, test, start, match_window_samples(fs_hz, window_s), end_sample)


def score_tap(annotations: Annotations, fs_source_hz: float, test_samples, fs_hz: float,
              delay_s: float, exclude_first_s: float = EC57_LEARNING_S, window_s: float = 0.150,
              *, n_samples: int | None = None) -> MatchResult:
    """Score beats detected at a tap that lags the annotated source by ``delay_s``, as bxb on the source.

    Parameters
    ----------
    annotations : Annotations
        The source's reference annotations at ``fs_source_hz`` (all of them:
        VF bounds are needed), lagging the record by ``annotations.delay_s``.
    fs_source_hz : float
        Rate of ``annotations``.
    test_samples : array of int
        Beats detected at the tap, samples at ``fs_hz``.
    fs_hz : float
        Rate of the tap.
    delay_s : float
        The tap's delay behind the source (the stages' reported delays).
    exclude_first_s : float
        Learning period in record time (bxb ``-f``).
    window_s : float
        Match window.
    n_samples : int or None
        Length of the tap's output: the end of the test period.

    Returns
    -------
    MatchResult

    Notes
    -----
    The learning period is applied in record time, before the delay: the
    reference beats in it are those before sample
    ``P0 = floor((exclude_first_s + annotations.delay_s) fs_source + 1/2)``,
    exactly as bxb excludes them on the source. All other annotations are
    moved to the tap (:func:`acquire.sources.recording.retime_samples`), and
    the test period starts at P0's image there, for the test beats too.
    """
    samples = _as_samples("annotations.sample", annotations.sample)
    p0 = strtim_samples(exclude_first_s + annotations.delay_s, fs_source_hz, "exclude_first_s")
    ref, sym = _scored_stream(samples, np.asarray(annotations.symbol, dtype=str), p0)
    ref = retime_samples(ref, fs_source_hz, fs_hz, delay_s)
    start = int(retime_samples([p0], fs_source_hz, fs_hz, delay_s)[0])
    test = np.sort(_as_samples("test_samples", test_samples))
    end = None if n_samples is None else int(n_samples)
    return bxb_walk(ref, sym, test, start, match_window_samples(fs_hz, window_s), end)


def score_exclusion_s(setting, settle_s: float, duration_s: float) -> tuple[float, str]:
    """Seconds at the start of a record left out of QRS scoring, and why.

    Parameters
    ----------
    setting : "auto", "settle" or float
        ``run.score_exclude_s``. "auto": EC57's 5-minute learning period
        when the record lasts at least :data:`EC57_MIN_RECORD_S` (10 min),
        else the settling time; "settle": the metrics' settling time; a
        number: that many seconds.
    settle_s : float
        The metrics' settling time.
    duration_s : float
        Length of the scored record.

    Returns
    -------
    seconds : float
    rule : str
        How it was chosen, for the output: "ec57 (record >= 600 s)",
        "settle (record < 600 s)", "settle" or "set".

    Notes
    -----
    EC57 and WFDB ``bxb`` leave out the first 5 minutes as the detector's
    learning period; a record shorter than 10 minutes would lose half or
    more of its beats to it, so "auto" falls back to the settling time.
    """
    if setting == "auto":
        if duration_s >= EC57_MIN_RECORD_S:
            return EC57_LEARNING_S, f"ec57 (record >= {EC57_MIN_RECORD_S:g} s)"
        return float(settle_s), f"settle (record < {EC57_MIN_RECORD_S:g} s)"
    if setting == "settle":
        return float(settle_s), "settle"
    try:
        value = float(setting)
    except (TypeError, ValueError):
        raise ValueError('run.score_exclude_s must be a number of seconds, "auto" or "settle"; '
                         f'got {setting!r}.') from None
    if not value >= 0:
        raise ValueError(f"run.score_exclude_s must be >= 0; got {value:g}.")
    return value, "set"


def aggregate(records: Sequence[MatchResult]) -> dict[str, dict[str, float]]:
    """Gross and average statistics over records, as sumstats.

    Parameters
    ----------
    records : sequence of MatchResult
        One result per record.

    Returns
    -------
    dict
        ``{"gross": {...}, "average": {...}}``, each with ``se``, ``ppv`` and
        ``f1``; ``gross`` also holds the pooled ``tp``, ``fn``, ``fp``.

    Notes
    -----
    Gross statistics pool the counts of all records before dividing
    (``Se = sum TP / sum (TP + FN)``); average statistics are the mean of the
    per-record values over the records where each is defined (sumstats.c
    skips records with a zero denominator). The average F1 is the mean of
    per-record F1 values.
    """
    if not records:
        raise ValueError("records must hold at least one MatchResult; got none.")
    pooled = MatchResult(*(np.concatenate([getattr(r, f) for r in records])
                           for f in ("ref_matched", "test_matched", "missed", "extra")))
    gross = {"se": pooled.se, "ppv": pooled.ppv, "f1": pooled.f1,
             "tp": pooled.tp, "fn": pooled.fn, "fp": pooled.fp}
    average = {}
    for name in ("se", "ppv", "f1"):
        values = np.array([getattr(r, name) for r in records])
        values = values[np.isfinite(values)]
        average[name] = float(values.mean()) if values.size else float("nan")
    return {"gross": gross, "average": average}
