"""Streaming QRS detector: accuracy on MIT-BIH (EC57/bxb scoring), re-acquisition after
front-end disturbances, chunk invariance, decision delay."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb
from scipy import signal

from acquire.evaluation.qrs import QrsDetector, detect_qrs
from acquire.evaluation.scoring import aggregate, match_beats, score_record
from acquire.sources.ecgsyn import ecgsyn
from acquire.sources.recording import QRS_SYMBOLS
from tests.conftest import MIRROR

#: The 23 MIT-BIH records of the test mirror (its RECORDS file).
MIRROR_RECORDS = ("100 101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 "
                  "208 209 215 220 223 230").split()
FS = 360.0


def read_record(mirror, record: str, sampto=None):
    rec = wfdb.rdrecord(str(mirror / "mitdb" / "1.0.0" / record), sampto=sampto)
    return rec.p_signal.T * 1e-3  # mV -> V, (2, n)


@pytest.fixture(scope="module")
def mitdb_scores():
    """bxb-scored detections of both leads of the 23 mirror records, full length, EC57."""
    if not (MIRROR / "mitdb" / "1.0.0" / "100.hea").exists():
        pytest.skip(f"PhysioNet mirror not found at {MIRROR}")
    scores = {0: {}, 1: {}}
    for record in MIRROR_RECORDS:
        x = read_record(MIRROR, record)
        ann = wfdb.rdann(str(MIRROR / "mitdb" / "1.0.0" / record), "atr")
        for channel in (0, 1):
            scores[channel][record] = score_record(ann.sample, np.array(ann.symbol),
                                                   detect_qrs(x[channel], FS), FS)
    return scores


def test_mitdb_gross_se_and_ppv_both_leads(mitdb_scores):
    """Issue 13 acceptance: >= 99.7 % on lead 0 (MLII but 114) and >= 98 % on lead 1 (V1 mostly).

    Scored as bxb: 150 ms window, first 5 minutes excluded, VF episodes honoured.
    Measured: lead 0 Se 99.81 %, +P 99.89 % (TP 44280, FN 85, FP 49); lead 1 Se 98.37 %,
    +P 98.07 % (TP 43640, FN 725, FP 857). gqrs (wfdb) on lead 1: Se 95.2 %, +P 98.1 %.
    """
    lead0 = aggregate(list(mitdb_scores[0].values()))["gross"]
    lead1 = aggregate(list(mitdb_scores[1].values()))["gross"]
    assert lead0["se"] >= 0.997 and lead0["ppv"] >= 0.997, lead0
    assert lead1["se"] >= 0.98 and lead1["ppv"] >= 0.98, lead1
    # The deterministic counts, so that any change of the detector shows here.
    assert (lead0["tp"], lead0["fn"], lead0["fp"]) == (44280, 85, 49)
    assert (lead1["tp"], lead1["fn"], lead1["fp"]) == (43640, 725, 857)


def test_v1_records_where_the_qrs_is_too_small(mitdb_scores):
    """101 and 208 carry most of lead 1's errors: there the V1 QRS is too small for one lead.

    Medians over the record (5-15 Hz band-pass, peak within 30 ms of the beat; between
    beats: the largest |y| from 150 ms after one beat to 150 ms before the next):
    101 V1: QRS 135 uV peak-to-peak; band peak 27 uV at the beats, 28 uV between them (a
    4-5 Hz tremor); about 40 % of lead 1's false positives; gqrs finds 4.5 % of its beats.
    208 V1: normal beats 89 uV in band, PVCs 378 uV, 94 uV between beats (the PVCs' T
    waves); most of lead 1's misses. On lead 0 both records score 99 % or better.
    """
    s101, s208 = mitdb_scores[1]["101"], mitdb_scores[1]["208"]
    assert s101.fp > 0.3 * sum(r.fp for r in mitdb_scores[1].values())
    assert s208.fn > 0.5 * sum(r.fn for r in mitdb_scores[1].values())
    # Their lead 0 is clean: the errors come from the lead, not the rhythm.
    assert mitdb_scores[0]["101"].fp + mitdb_scores[0]["101"].fn <= 5
    assert mitdb_scores[0]["208"].se > 0.99


def synthetic_ecg(fs_hz: float = FS):
    """Gaussian QRS-like pulses (sigma 8 ms) every 0.8 s on dc and baseline wander.

    Pulse 15 is at 25 % amplitude: on the amplitude scale sqrt(w) of the levels its
    peak (0.25 of the others') lies between THR2 (~0.175) and THR1 (~0.35 of the signal
    level), so only search-back can find it.
    """
    t = np.arange(int(22 * fs_hz)) / fs_hz
    times = 1.0 + 0.8 * np.arange(25)
    amps = np.ones(25)
    amps[15] = 0.25
    x = 0.5e-3 + 0.2e-3 * np.sin(2 * np.pi * 0.2 * t)
    for tk, a in zip(times, amps):
        x += a * 1e-3 * np.exp(-0.5 * ((t - tk) / 0.008) ** 2)
    return x, np.round(times * fs_hz).astype(int)


def test_synthetic_pulses_found_where_the_band_pass_puts_them():
    x, truth = synthetic_ecg()
    det = QrsDetector(FS)
    beats = detect_qrs(x, FS)
    assert beats.size == truth.size
    # Oracle for the localisation (|y| maximum minus the group delay at the band's
    # geometric centre): the same band-pass applied offline to one isolated pulse.
    t = np.arange(720) / FS
    y = signal.sosfilt(det.sos, np.exp(-0.5 * ((t - 1.0) / 0.008) ** 2))
    offset = int(np.argmax(np.abs(y))) - 360 - det.group_delay
    # One sample: the pulse centres are rounded to the sample grid.
    assert np.max(np.abs(beats - truth - offset)) <= 1


def feed(det: QrsDetector, x: np.ndarray, cuts) -> tuple[np.ndarray, np.ndarray]:
    """Feed x split at cuts; return the beats and, per beat, the last input index of the call."""
    beats, emitted = [], []
    bounds = [0, *cuts, x.size]
    for a, b in zip(bounds, bounds[1:]):
        out = det.process_samples(x[a:b])
        beats += out.tolist()
        emitted += [b - 1] * out.size
    out = det.flush()
    return np.array(beats + out.tolist()), np.array(emitted + [x.size - 1] * out.size)


def disturb(x: np.ndarray, kind: str, t_s: float = 30.0) -> tuple[np.ndarray, int]:
    """``x`` with a front-end disturbance starting at ``t_s``; returns it and the end sample."""
    x = x.copy()
    a, b = int(t_s * FS), int((t_s + 1.0) * FS)
    if kind == "step":       # electrode-offset step / baseline jump of 50 mV, for good
        x[a:] += 50e-3
        return x, a
    if kind == "clipping":   # 1 s held at a +10 mV rail
        x[a:b] = 10e-3
    elif kind == "lead-off":  # 1 s flat line at 0 V
        x[a:b] = 0.0
    return x, b


def test_chunk_invariance_and_reset_on_mitdb_208(mirror):
    """Contract style: identical beat indices for any chunking, 1-sample chunks included."""
    x = read_record(mirror, "208", sampto=int(40 * FS))[0]  # PVCs, couplets, fusion beats
    x, _ = disturb(x, "step", 30.0)  # and a re-learning after the step
    block = detect_qrs(x, FS)
    assert block.size > 40
    det = QrsDetector(FS)
    rng = np.random.default_rng(0)
    for cuts in (list(range(1, x.size)), list(range(7, x.size, 7)), list(range(1000, x.size, 1000)),
                 sorted(set(rng.integers(1, x.size, 200).tolist()))):
        det.reset()
        assert np.array_equal(feed(det, x, cuts)[0], block)


def excerpts():
    """ECGSYN and a mirror record (100, MLII, 400-460 s) with their reference beats."""
    rec = ecgsyn(duration_s=60.0, fs_hz=FS, seed=0)
    yield "ecgsyn", rec.signals_v[0], rec.annotations.sample
    if (MIRROR / "mitdb" / "1.0.0" / "100.hea").exists():
        x = read_record(MIRROR, "100", sampto=int(460 * FS))[0, int(400 * FS):]
        ann = wfdb.rdann(str(MIRROR / "mitdb" / "1.0.0" / "100"), "atr")
        beats = ann.sample[np.isin(ann.symbol, list(QRS_SYMBOLS))] - int(400 * FS)
        yield "mitdb/100", x, beats[(beats >= 0) & (beats < x.size)]


@pytest.mark.parametrize("kind", ["step", "clipping", "lead-off"])
def test_reacquires_within_2_s(kind):
    """Issue 13: every beat from 2 s after the disturbance on is found, and nothing else."""
    for name, x, beats in excerpts():
        y, end = disturb(x, kind)
        m = match_beats(beats, detect_qrs(y, FS), FS)
        late = end + int(2 * FS)
        assert np.all(m.missed < late) and np.all(m.extra < late), (name, m.missed, m.extra)
        # Before the disturbance nothing changed: the clean excerpts score 100 %.
        assert np.all(m.missed >= int(29.5 * FS)) and np.all(m.extra >= int(29.5 * FS)), name


def test_offset_step_at_start_recovers():
    """A 10 mV step after the first sample (the issue's example, formerly Se 0 for the minute).

    Re-acquired within the learning phase (2 s) plus one search-back window (2 s).
    """
    for name, x, beats in excerpts():
        y = x.copy()
        y[1:] += 10e-3
        m = match_beats(beats, detect_qrs(y, FS), FS)
        assert np.all(m.missed < int(5 * FS)) and m.fp == 0, (name, m.missed, m.extra)


def test_decision_delay_bound_holds_including_search_back_and_relearning():
    x, _ = synthetic_ecg()
    det = QrsDetector(FS)
    beats, emitted = feed(det, x, list(range(1, x.size)))
    latency_s = (emitted - beats) / FS
    assert np.all(latency_s <= det.delay_s)
    # The weak pulse 15 was found by search-back: 1.66 RR = 1.33 s after pulse 14
    # (plus the 0.2 s refractory look-ahead), so it left 0.8 s or more after its peak.
    assert latency_s[15] > 0.8 > latency_s[16]
    # After a 50 mV step the beats are found by classifying the window again: later, in bound.
    y, _ = disturb(ecgsyn(duration_s=60.0, fs_hz=FS, seed=0).signals_v[0], "step")
    det.reset()
    beats, emitted = feed(det, y, list(range(50, y.size, 50)))
    latency_s = (emitted - beats) / FS
    assert np.all(latency_s <= det.delay_s) and latency_s.max() > 1.0


def test_flat_input_gives_no_beats():
    det = QrsDetector(500.0)
    assert det.process_samples(np.zeros(5000)).size == 0
    assert det.flush().size == 0
    assert QrsDetector(500.0).flush().size == 0  # nothing fed at all


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="Nyquist"):
        QrsDetector(40.0)
    with pytest.raises(ValueError, match="band_hz"):
        QrsDetector(360.0, band_hz=(15.0, 5.0))
    with pytest.raises(ValueError, match="refractory_s"):
        QrsDetector(360.0, refractory_s=0.0)
    with pytest.raises(ValueError, match="1-D"):
        QrsDetector(360.0).process_samples(np.zeros((2, 10)))


def _filtered(det: QrsDetector, x: np.ndarray, split: int, shift: int) -> np.ndarray:
    """The detector's (w, y, d) of ``x`` filtered ``split`` samples at a time, ``shift`` samples into its buffer."""
    from acquire.evaluation.qrs_kernel import filter_chunk

    n0 = det.n_pad + shift
    buf = np.zeros((3, n0 + x.size))
    buf[0, :n0] = -np.inf
    zi = signal.sosfilt_zi(det.sos) * x[0]
    for i in range(0, x.size, split):
        filter_chunk(x[i:i + split].copy(), det.sos, zi, det.deriv_b, det.n_int, buf, n0 + i)
    return buf[:, n0:]


def test_signal_path_is_bit_identical_across_chunkings_and_buffer_offsets():
    det = QrsDetector(500.0)
    x = np.random.default_rng(0).standard_normal(5000)
    reference = _filtered(det, x, x.size, 0)
    for split in (1, 7, 333):
        for shift in range(5):  # buffer positions of every alignment
            np.testing.assert_array_equal(_filtered(det, x, split, shift), reference)
    # The band-pass is scipy's sosfilt, bit for bit; d and w are the documented sums (to rounding).
    y = signal.sosfilt(det.sos, x, zi=signal.sosfilt_zi(det.sos) * x[0])[0]
    np.testing.assert_array_equal(reference[1], y)
    d = signal.lfilter(det.deriv_b, 1.0, y)
    np.testing.assert_allclose(reference[2], d, rtol=0, atol=1e-14 * np.abs(d).max())
    w = signal.lfilter(np.full(det.n_int, 1.0 / det.n_int), 1.0, d * d)
    np.testing.assert_allclose(reference[0], w, rtol=1e-13)


def test_window_of_zeros_integrates_to_exactly_zero():
    det = QrsDetector(500.0)
    x = np.concatenate([np.random.default_rng(1).standard_normal(2000), np.zeros(3000)])
    w = _filtered(det, np.zeros(3000), 1000, 0)[0]
    assert np.all(w == 0.0)
    assert _filtered(det, x, 1000, 0)[0].min() >= 0.0
