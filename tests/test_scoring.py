"""EC57 / bxb beat scoring against hand-worked annotation pairs (fs 1000 Hz, window 150 samples)."""

from __future__ import annotations

import numpy as np
import pytest

from acquire.evaluation.scoring import aggregate, match_beats, score_record, vf_episodes

FS = 1000.0


def test_match_beats_hand_case():
    ref = [1000, 2000, 3000, 4000, 5000, 6000]
    test = [1000, 2150, 3151, 3990, 4030, 5020, 5500]
    # Walk (bxb main loop), T = reference, t = test:
    #  T=1000 t=1000: dt 0                                   -> TP
    #  T=2000 t=2150: dt 150 = window (inclusive edge)       -> TP
    #  T=3000 t=3151: dt 151 > window                        -> FN 3000
    #  T=4000 t=3151: t < T, 849 > window                    -> FP 3151
    #  T=4000 t=3990: 10 <= 150 and 10 < |4000 - 4030| = 30  -> TP
    #  T=5000 t=4030: double detection, 970 > window         -> FP 4030
    #  T=5000 t=5020                                         -> TP
    #  T=6000 t=5500: 500 > window                           -> FP 5500
    #  T=6000, no test left                                  -> FN 6000
    m = match_beats(ref, test, FS)
    assert (m.tp, m.fn, m.fp) == (4, 2, 3)
    assert m.ref_matched.tolist() == [1000, 2000, 4000, 5000]
    assert m.test_matched.tolist() == [1000, 2150, 3990, 5020]
    assert m.missed.tolist() == [3000, 6000]
    assert m.extra.tolist() == [3151, 4030, 5500]
    assert m.se == pytest.approx(4 / 6)
    assert m.ppv == pytest.approx(4 / 7)
    assert m.f1 == pytest.approx(8 / 13)  # 2TP / (2TP + FN + FP)


def test_window_edge_before_the_reference_beat():
    # Test beat 150 ms early matches, 151 ms early does not (then 1 FP + 1 FN).
    assert match_beats([1000], [850], FS).tp == 1
    m = match_beats([1000], [849], FS)
    assert (m.tp, m.fn, m.fp) == (0, 1, 1)


def test_empty_inputs():
    m = match_beats([], [], FS)
    assert (m.tp, m.fn, m.fp) == (0, 0, 0)
    assert np.isnan(m.se)
    with pytest.raises(TypeError, match="integer"):
        match_beats([1.5], [1], FS)


def test_learning_period_excluded_from_both_sets():
    sym = ["N", "N", "N", "+", "V", "Q"]
    ref = [500, 990, 1100, 1500, 2000, 3000]
    # Reference 500 and 990 are in the first second; test 505 and 700 too (not FP).
    # '+' is a rhythm annotation, not a beat.
    m = score_record(ref, sym, [505, 700, 1100, 2000, 3000], FS, exclude_first_s=1.0)
    assert (m.tp, m.fn, m.fp) == (3, 0, 0)
    # Without exclusion: 500 <- 505 TP; 700 FP (290 before 990); 990 FN (1100 is
    # within 110 but no nearer to it than to the next reference beat 1100); then 3 TP.
    m = score_record(ref, sym, [505, 700, 1100, 2000, 3000], FS, exclude_first_s=0.0)
    assert (m.tp, m.fn, m.fp) == (4, 1, 1)


def test_bxb_start_up_rules():
    sym = ["N", "N", "N"]
    ref = [1100, 2000, 3000]
    # The last test beat before the start (980) is the best match within the window
    # for the first reference beat (1100 - 980 = 120 < |1100 - 2010|): paired.
    m = score_record(ref, sym, [505, 980, 2010, 3000], FS, exclude_first_s=1.0)
    assert (m.tp, m.fn, m.fp) == (3, 0, 0)
    # First test beat 20 ms after the start, and the next one (1110) matches 1100
    # better (10 < 80): 1020 is dropped uncounted instead of being a FP.
    m = score_record(ref, sym, [1020, 1110, 2000, 3000], FS, exclude_first_s=1.0)
    assert (m.tp, m.fn, m.fp) == (3, 0, 0)
    # The same beats matched without the start-up rule give that FP.
    assert match_beats(ref, [1020, 1110, 2000, 3000], FS).fp == 1


def test_vf_episode_beats_not_counted():
    ref = [1000, 4000, 4100, 4300, 5000, 6000]
    sym = ["N", "[", "!", "!", "]", "N"]
    assert vf_episodes(ref, sym).tolist() == [[4000, 5000]]
    # Detections on the flutter waves (4100, 4300) are neither FP nor TP; the
    # flutter waves themselves are not reference beats.
    m = score_record(ref, sym, [1000, 4100, 4300, 6000], FS, exclude_first_s=0.0)
    assert (m.tp, m.fn, m.fp) == (2, 0, 0)


def test_symbols_must_align():
    with pytest.raises(ValueError, match="one symbol per reference"):
        score_record([1, 2], ["N"], [1], FS)


def test_gross_versus_average():
    # Record 1: 10 reference beats, the last missed -> TP 9, FN 1, FP 0: Se 0.9, +P 1.
    ref1 = np.arange(1, 11) * 1000
    rec1 = match_beats(ref1, ref1[:-1], FS)
    # Record 2: 2000 missed and 2500 extra -> TP 1, FN 1, FP 1: Se 0.5, +P 0.5.
    rec2 = match_beats([1000, 2000], [1000, 2500], FS)
    assert (rec1.tp, rec1.fn, rec1.fp, rec2.tp, rec2.fn, rec2.fp) == (9, 1, 0, 1, 1, 1)
    out = aggregate([rec1, rec2])
    # Gross pools the counts: Se = 10/12, +P = 10/11, F1 = 20/(20 + 2 + 1).
    assert out["gross"]["se"] == pytest.approx(10 / 12)
    assert out["gross"]["ppv"] == pytest.approx(10 / 11)
    assert out["gross"]["f1"] == pytest.approx(20 / 23)
    assert (out["gross"]["tp"], out["gross"]["fn"], out["gross"]["fp"]) == (10, 2, 1)
    # Average is the mean of per-record values: Se (0.9 + 0.5)/2, +P (1 + 0.5)/2,
    # F1 (18/19 + 2/4)/2.
    assert out["average"]["se"] == pytest.approx(0.7)
    assert out["average"]["ppv"] == pytest.approx(0.75)
    assert out["average"]["f1"] == pytest.approx((18 / 19 + 0.5) / 2)


def test_average_skips_undefined_records():
    # A record with no beats at all has undefined Se and +P (sumstats skips it).
    out = aggregate([match_beats([1000], [1000], FS), match_beats([], [], FS)])
    assert out["average"]["se"] == 1.0
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])
