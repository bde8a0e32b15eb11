"""Beat-by-beat scoring of a QRS detector, as AAMI EC57 and WFDB ``bxb``.

Sources: G. Moody, WFDB ``app/bxb.c`` (matching, learning period, VF
episodes, Se and +P) and ``app/sumstats.c`` (gross and average statistics);
ANSI/AAMI EC57:1998, as summarised in ``reference/facts.md`` section 1.4.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from acquire._check import check_positive
from acquire.sources.recording import AAMI_CLASS

#: Reference annotation symbols that open and close ventricular flutter or
#: fibrillation episodes (WFDB VFON and VFOFF).
VF_ON, VF_OFF = "[", "]"


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
    return np.sort(arr.astype(np.int64))


def match_window_samples(fs_hz: float, window_s: float) -> int:
    """Match window in samples, rounded to the nearest sample (bxb's ``strtim``)."""
    return int(round(check_positive("window_s", window_s) * check_positive("fs_hz", fs_hz)))


def match_beats(ref_samples, test_samples, fs_hz: float, window_s: float = 0.150,
                *, ignore_extra=None) -> MatchResult:
    """Match test beats to reference beats one-to-one, as bxb does.

    Parameters
    ----------
    ref_samples, test_samples : array of int
        Beat times in samples at ``fs_hz``.
    fs_hz : float
        Sampling rate of both annotation sets.
    window_s : float
        Match window: a pair matches when ``|t - T| <= window`` (inclusive).
    ignore_extra : callable, optional
        ``ignore_extra(t) -> bool`` marks unmatched test beats that are not
        counted as false positives (bxb: test beats during reference VF).

    Returns
    -------
    MatchResult

    Notes
    -----
    The two annotation streams are merged in time order (bxb.c main loop).
    With ``T``, ``T'`` the current and next reference beats and ``t``, ``t'``
    the current and next test beats, and ``dt`` the window in samples:

    - if ``t < T``: pair them when ``T - t <= dt`` and ``T - t < |T - t'|``,
      else ``t`` is a false positive;
    - otherwise: pair them when ``t - T <= dt`` and ``t - T < |t - T'|``,
      else ``T`` is a false negative.

    The window edge is inclusive (``<=``, as bxb's ``match_dt`` comparisons);
    a test beat closer to the next beat than to the current one waits for it,
    so two test beats near one reference beat give one match and one false
    positive.
    """
    ref = _as_samples("ref_samples", ref_samples)
    test = _as_samples("test_samples", test_samples)
    dt = match_window_samples(fs_hz, window_s)
    far = 1 << 62  # beyond any record: the end of a stream
    nr, nt = ref.size, test.size
    i = j = 0
    pairs, missed, extra = [], [], []
    while i < nr or j < nt:
        T = int(ref[i]) if i < nr else far
        T_next = int(ref[i + 1]) if i + 1 < nr else far
        t = int(test[j]) if j < nt else far
        t_next = int(test[j + 1]) if j + 1 < nt else far
        if t < T:
            if T - t <= dt and T - t < abs(T - t_next):
                pairs.append((T, t))
                i, j = i + 1, j + 1
            else:
                if ignore_extra is None or not ignore_extra(t):
                    extra.append(t)
                j += 1
        elif t - T <= dt and t - T < abs(t - T_next):
            pairs.append((T, t))
            i, j = i + 1, j + 1
        else:
            missed.append(T)
            i += 1
    matched = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return MatchResult(matched[:, 0], matched[:, 1], np.array(missed, dtype=np.int64),
                       np.array(extra, dtype=np.int64))


def vf_episodes(ref_samples, ref_symbols) -> np.ndarray:
    """Reference VF/flutter episodes ``[`` .. ``]`` as an array of (start, stop) samples.

    An episode left open at the end of the annotations runs to the end of the record.
    """
    episodes, start = [], None
    for s, sym in zip(np.asarray(ref_samples).tolist(), np.asarray(ref_symbols).tolist()):
        if sym == VF_ON and start is None:
            start = s
        elif sym == VF_OFF and start is not None:
            episodes.append((start, s))
            start = None
    if start is not None:
        episodes.append((start, 1 << 62))
    return np.array(episodes, dtype=np.int64).reshape(-1, 2)


def score_record(ref_samples, ref_symbols, test_samples, fs_hz: float,
                 exclude_first_s: float = 300.0, window_s: float = 0.150) -> MatchResult:
    """Score one record's test beats against its reference annotations (bxb).

    Parameters
    ----------
    ref_samples : array of int
        Sample index of every reference annotation, beats and non-beats.
    ref_symbols : array of str
        MIT-BIH symbol of each reference annotation. Beats are the symbols in
        :data:`acquire.recording.AAMI_CLASS` (all five AAMI classes, Q
        included, as bxb's QRS Se and +P); other symbols are ignored, except
        ``[`` and ``]`` which bound VF episodes.
    test_samples : array of int
        Detected beats.
    fs_hz : float
        Sampling rate.
    exclude_first_s : float
        Learning period at the start of the record, ignored in both
        annotation sets (bxb ``-f``, default 5 minutes).
    window_s : float
        Match window (bxb ``-w``, default 150 ms).

    Returns
    -------
    MatchResult
        ``se``, ``ppv`` and ``f1`` give the per-record statistics.

    Notes
    -----
    As bxb.c: reference beats inside a VF episode are skipped and
    unmatched test beats inside one are not false positives. At the end of
    the learning period, the last test beat before it is paired with the
    first reference beat after it when that is the best match within the
    window (bxb's start-up rule); otherwise, a test beat within the window
    after the start is dropped uncounted when the next test beat matches the
    first reference beat better. Shutdown (noise) intervals are not
    modelled: the detector here never shuts down.
    """
    symbols = np.asarray(ref_symbols)
    if symbols.shape != np.shape(ref_samples):
        raise ValueError(f"ref_symbols must have one symbol per reference sample; got "
                         f"{symbols.shape} symbols for {np.shape(ref_samples)} samples.")
    order = np.argsort(ref_samples, kind="stable")
    ref_samples, symbols = _as_samples("ref_samples", ref_samples), symbols[order]
    test = _as_samples("test_samples", test_samples)
    start = int(round(check_positive("exclude_first_s", exclude_first_s, allow_zero=True) * fs_hz))
    dt = match_window_samples(fs_hz, window_s)
    episodes = vf_episodes(ref_samples, symbols)

    def in_vf(t: int) -> bool:
        return bool(np.any((episodes[:, 0] <= t) & (t <= episodes[:, 1])))

    is_beat = np.array([s in AAMI_CLASS for s in symbols.tolist()], dtype=bool)
    ref = ref_samples[is_beat & (ref_samples >= start)]
    ref = ref[[not in_vf(T) for T in ref.tolist()]] if episodes.size else ref
    keep = test >= start
    if start > 0 and ref.size:
        T = ref[0]
        after = test[keep]
        before = test[~keep]
        t_next = after[0] if after.size else 1 << 62
        if before.size and T - before[-1] <= dt and T - before[-1] < abs(T - t_next):
            keep[before.size - 1] = True
        elif after.size > 1 and after[0] - start <= dt and abs(T - after[1]) < abs(T - after[0]):
            keep[before.size] = False
    return match_beats(ref, test[keep], fs_hz, window_s, ignore_extra=in_vf if episodes.size else None)


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
