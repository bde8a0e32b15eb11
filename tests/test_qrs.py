"""Streaming QRS detector: accuracy on MIT-BIH (EC57 scoring), chunk invariance, decision delay."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from acquire.evaluation.qrs import QrsDetector, detect_qrs
from acquire.evaluation.scoring import aggregate, score_record

#: MIT-BIH records without paced beats or long unreadable stretches (task brief).
CLEAN_RECORDS = ("100 101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 "
                 "208 209 215 220 223 230").split()


def read_mlii(mirror, record: str, sampto=None):
    rec = wfdb.rdrecord(str(mirror / "mitdb" / "1.0.0" / record), channels=[0], sampto=sampto)
    return rec.p_signal[:, 0] * 1e-3, float(rec.fs)  # mV -> V


def test_mitdb_gross_se_and_ppv(mirror):
    """All 23 clean records, channel 0, EC57 window 150 ms, first 5 minutes excluded."""
    results = []
    for record in CLEAN_RECORDS:
        x, fs = read_mlii(mirror, record)
        ann = wfdb.rdann(str(mirror / "mitdb" / "1.0.0" / record), "atr")
        results.append(score_record(ann.sample, np.array(ann.symbol), detect_qrs(x, fs), fs))
    gross = aggregate(results)["gross"]
    # Acceptance level of the brief; modern detectors reach >= 99.5 % on clean data
    # (facts.md section 5). Measured: Se 99.73 %, +P 99.95 % (TP 44244, FN 121, FP 22).
    assert gross["se"] >= 0.995, gross
    assert gross["ppv"] >= 0.995, gross


def synthetic_ecg(fs_hz: float = 360.0):
    """Gaussian QRS-like pulses (sigma 8 ms) every 0.8 s on dc and baseline wander.

    Pulse 15 is at 45 % amplitude: its integrated peak (0.45^2 = 0.20 of the others)
    lies between THR2 (~1/8) and THR1 (~1/4 of the signal level), so only search-back
    can find it.
    """
    t = np.arange(int(22 * fs_hz)) / fs_hz
    times = 1.0 + 0.8 * np.arange(25)
    amps = np.ones(25)
    amps[15] = 0.45
    x = 0.5e-3 + 0.2e-3 * np.sin(2 * np.pi * 0.2 * t)
    for tk, a in zip(times, amps):
        x += a * 1e-3 * np.exp(-0.5 * ((t - tk) / 0.008) ** 2)
    return x, np.round(times * fs_hz).astype(int)


def test_synthetic_pulses_found_at_their_peaks():
    x, truth = synthetic_ecg()
    beats = detect_qrs(x, 360.0)
    assert beats.size == truth.size
    # Localisation: |y| peak minus the band-pass group delay, rounded to whole
    # samples; 3 samples (8 ms) bounds that rounding and the pulse shape's effect.
    assert np.max(np.abs(beats - truth)) <= 3


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


def test_chunk_invariance_and_reset_on_mitdb_208(mirror):
    """Contract style: identical beat indices for any chunking, 1-sample chunks included."""
    x, fs = read_mlii(mirror, "208", sampto=int(30 * 360))  # PVCs, couplets, fusion beats
    block = detect_qrs(x, fs)
    assert block.size > 30
    det = QrsDetector(fs)
    rng = np.random.default_rng(0)
    for cuts in (list(range(1, x.size)), list(range(7, x.size, 7)), list(range(1000, x.size, 1000)),
                 sorted(set(rng.integers(1, x.size, 200).tolist()))):
        det.reset()
        assert np.array_equal(feed(det, x, cuts)[0], block)


def test_decision_delay_bound_holds_including_search_back():
    x, _ = synthetic_ecg()
    det = QrsDetector(360.0)
    beats, emitted = feed(det, x, list(range(1, x.size)))
    latency_s = (emitted - beats) / 360.0
    assert np.all(latency_s <= det.delay_s)
    # The weak pulse 15 was found by search-back: 1.66 RR = 1.33 s after pulse 14
    # (plus the 0.2 s refractory look-ahead), so it left 0.8 s or more after its peak.
    assert latency_s[15] > 0.8 > latency_s[16]


def test_flat_input_gives_no_beats():
    det = QrsDetector(500.0)
    assert det.process_samples(np.zeros(5000)).size == 0
    assert det.flush().size == 0
    assert QrsDetector(500.0).flush().size == 0  # nothing fed at all


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="Nyquist"):
        QrsDetector(20.0)
    with pytest.raises(ValueError, match="band_hz"):
        QrsDetector(360.0, band_hz=(15.0, 5.0))
    with pytest.raises(ValueError, match="refractory_s"):
        QrsDetector(360.0, refractory_s=0.0)
    with pytest.raises(ValueError, match="1-D"):
        QrsDetector(360.0).process_samples(np.zeros((2, 10)))
