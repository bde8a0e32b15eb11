"""EC57 / bxb beat scoring: bxb's matching walk and VF rule on hand-built cases, bxb's own
counts on random and real records, record-time learning period, EC57 default.

Hand cases: expected counts derived by hand from ``app/bxb.c`` (WFDB 10.7) in the
comments, with T/T' the current/next reference beat and t/t' the current/next test
beat; each was also checked against the real bxb binary. The walk starts (bxb's
``main``) with T = t = 0 labelled "nothing read"; pairs with that label count nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb

from acquire.evaluation.scoring import (EC57_LEARNING_S, aggregate, match_beats,
                                        match_window_samples, score_exclusion_s, score_record,
                                        score_tap)
from acquire.sources.recording import QRS_SYMBOLS, Annotations

FS = 1000.0  # window 150 samples
DATA = Path(__file__).parent / "data" / "bxb"


def counts(m):
    return m.tp, m.fn, m.fp


def test_match_window_rounds_as_strtim():
    # strtim: (long)(0.15 fs + 0.5): 54 at 360 Hz, 75 at 500 Hz, 37 for 37 ms at 1 kHz.
    assert match_window_samples(360.0, 0.150) == 54
    assert match_window_samples(500.0, 0.150) == 75
    assert match_window_samples(1000.0, 0.037) == 37


def test_case1_and_case3_alternative_criteria_issue_example():
    # Issue 13 at 360 Hz (window 54): ref 0/94/1000/1094, test 47/131/950/1048.
    #  T=0 t=47: case 3, 47 <= 54 but not 47 < |47-94| = 47; alternative |t'-T'| =
    #            |131-94| = 37 < 47 -> pair
    #  T=94 t=131: case 3, 37 < |131-1000| -> pair
    #  T=1000 t=950 (t < T): case 1, 50 <= 54 but not 50 < |1000-1048| = 48; alternative
    #            |T'-t'| = |1094-1048| = 46 < 48 -> pair
    #  T=1094 t=1048: case 1, 46 < |1094 - end| -> pair.  bxb: 4 TP (the pre-2002 rules: 2/2/2).
    m = match_beats([0, 94, 1000, 1094], [47, 131, 950, 1048], 360.0)
    assert counts(m) == (4, 0, 0)
    assert m.test_matched.tolist() == [47, 131, 950, 1048]


def test_case3_alternative_bxb_comment_example():
    # bxb.c's own example, window 37: ref 96/160, test 128/185.
    #  T=96 t=128: case 3, 32 <= 37, not 32 < |128-160| = 32; |185-160| = 25 < 32 -> pair
    #  T=160 t=185: 25 <= 37 -> pair.  (Pre-2002: FN 96, FP 128, TP 160/185.)
    assert counts(match_beats([96, 160], [128, 185], FS, window_s=0.037)) == (2, 0, 0)


def test_cases_1_to_4_and_the_inclusive_window():
    ref = [1000, 2000, 3000, 4000, 5000, 6000]
    test = [1000, 2150, 3151, 3990, 4030, 5020, 5500]
    #  T=1000 t=1000: case 3, dt 0                                -> TP
    #  T=2000 t=2150: case 3, dt 150 = window (inclusive edge)    -> TP
    #  T=3000 t=3151: case 4, dt 151 > window                     -> FN 3000
    #  T=4000 t=3151: case 2, 849 > window                        -> FP 3151
    #  T=4000 t=3990: case 1, 10 < |4000 - 4030| = 30             -> TP
    #  T=5000 t=4030: case 2, double detection, 970 > window      -> FP 4030
    #  T=5000 t=5020: case 3                                      -> TP
    #  T=6000 t=5500: case 2, 500 > window                        -> FP 5500
    #  T=6000, no test left: case 4                               -> FN 6000
    m = match_beats(ref, test, FS)
    assert counts(m) == (4, 2, 3)
    assert m.ref_matched.tolist() == [1000, 2000, 4000, 5000]
    assert m.missed.tolist() == [3000, 6000]
    assert m.extra.tolist() == [3151, 4030, 5500]
    assert (m.se, m.ppv, m.f1) == pytest.approx((4 / 6, 4 / 7, 8 / 13))
    # 150 ms early matches, 151 ms early does not.
    assert counts(match_beats([1000], [850], FS)) == (1, 0, 0)
    assert counts(match_beats([1000], [849], FS)) == (0, 1, 1)


def test_test_beat_at_sample_zero_is_paired_with_nothing_read():
    # Start (-f 0): T = 0 "nothing read", T' = 100; t = 0 "nothing read", t' = 0 (the test
    # beat). T - t = 0 is not < |T - t'| = 0, so the start rule's else branch reads t = 0;
    # it is then paired (case 3, 0 < |0 - 100|) with the "nothing read" T: counted nowhere.
    # Then 100/100 and 1000/1000 TP. A naive walk would call the beat at 0 a FP.
    assert counts(match_beats([100, 1000], [0, 100, 1000], FS)) == (2, 0, 0)


def test_vf_episode_reference_skipped_test_ignored():
    ref = [1000, 4000, 4100, 4300, 5000, 6000]
    sym = ["N", "[", "!", "!", "]", "N"]
    # getref skips from '[' to ']' (the flutter waves too); test beats 4100, 4300 fall in the
    # episode (rpann returns '*'): neither TP nor FP.
    m = score_record(ref, sym, [1000, 4100, 4300, 6000], FS, exclude_first_s=0.0)
    assert counts(m) == (2, 0, 0)


def test_vf_only_the_last_two_episodes_are_remembered():
    ref = [1000, 2000, 2500, 3000, 3500, 4000, 4500, 6000]
    sym = ["N", "[", "]", "[", "]", "[", "]", "N"]
    # Reading T' after T = 1000 passes all three episodes: bxb keeps (4000, 4500) and the
    # previous (3000, 3500). Test 2200 lies in the forgotten first one: FP. 3200 and 4200
    # are ignored. TP 1000 and 6000.
    m = score_record(ref, sym, [1000, 2200, 3200, 4200, 6000], FS, exclude_first_s=0.0)
    assert counts(m) == (2, 0, 1) and m.extra.tolist() == [2200]


def test_vf_left_open_at_the_end():
    # First episode open at EOF: VFOFF stays -1, the episode runs to the end: 2200 and
    # 3000 ignored; the beat inside (2500) is skipped.
    m = score_record([1000, 2000, 2500], ["N", "[", "N"], [1000, 2200, 3000], FS, exclude_first_s=0.0)
    assert counts(m) == (1, 0, 0)
    # After a closed episode (1200-1400), an open one at 2000 keeps the old VFOFF 1400, so
    # bxb's test (t <= VFOFF) fails for 2200: a FP. 1300 lies in the previous episode.
    m = score_record([1000, 1200, 1400, 1600, 2000], ["N", "[", "]", "N", "["],
                     [1000, 1300, 1600, 2200], FS, exclude_first_s=0.0)
    assert counts(m) == (2, 0, 1) and m.extra.tolist() == [2200]


def test_flutter_wave_outside_vf():
    # '!' is a QRS for isqrs but amap gives 'O': paired with a test beat it is a FP (On) ...
    m = score_record([1000, 2000, 3000], ["N", "!", "N"], [1000, 2000, 3000], FS, exclude_first_s=0.0)
    assert counts(m) == (2, 0, 1)
    # ... and unpaired it is nothing (pair('O', 'O') counts nowhere).
    m = score_record([1000, 2000, 3000], ["N", "!", "N"], [1000, 3000], FS, exclude_first_s=0.0)
    assert counts(m) == (2, 0, 0)


def test_start_up_rules():
    sym = ["N", "N", "N"]
    ref = [1100, 2000, 3000]
    # -f 1 s: T = 1100, t = 980 (last test beat before the start), t' = 2010:
    # 120 < |1100 - 2010| and 120 <= 150 -> paired, although 980 is in the learning period.
    assert counts(score_record(ref, sym, [505, 980, 2010, 3000], FS, exclude_first_s=1.0)) == (3, 0, 0)
    # No test beat before the start (t "nothing read" at 0): else branch reads t = 1020;
    # 1020 - 1000 <= 150 and |1100 - 1110| = 10 < |1100 - 1020| = 80: 1020 dropped uncounted.
    assert counts(score_record(ref, sym, [1020, 1110, 2000, 3000], FS, exclude_first_s=1.0)) == (3, 0, 0)
    assert match_beats(ref, [1020, 1110, 2000, 3000], FS).fp == 1  # without the rule
    # The next test beat (2000) is no nearer to T: 1020 stays and matches 1100 (case 1).
    assert counts(score_record(ref, sym, [1020, 2000, 3000], FS, exclude_first_s=1.0)) == (3, 0, 0)
    # Start 100 samples, no test beat before it: T = 120, t = 0 "nothing read", t' = 1000:
    # 120 < 880 and 120 <= 150 -> pair(N, nothing): the beat at 120 is consumed uncounted.
    assert counts(score_record([120, 1000], ["N", "N"], [1000], FS, exclude_first_s=0.1)) == (1, 0, 0)


def test_learning_period_and_end():
    sym = ["N", "N", "N", "+", "V", "Q"]
    ref = [500, 990, 1100, 1500, 2000, 3000]
    # Reference 500 and 990 and test 505, 700 are in the first second; '+' is no beat.
    assert counts(score_record(ref, sym, [505, 700, 1100, 2000, 3000], FS, exclude_first_s=1.0)) == (3, 0, 0)
    # -t 2500: the walk stops when both T and t are past 2500; without it, 2900 is a FP
    # (case 2: 100 < |3000 - 3100| fails, |end - 3100| < 100 fails) and 3100 pairs with 3000.
    ref, test = [1000, 2000, 3000], [1000, 2000, 2900, 3100]
    assert counts(score_record(ref, ["N"] * 3, test, FS, 0.0, end_sample=2500)) == (2, 0, 0)
    assert counts(score_record(ref, ["N"] * 3, test, FS, 0.0)) == (3, 0, 1)


def test_random_cases_scored_by_bxb():
    """200 random dense cases (VF, '!', starts, ends) against bxb's own counts (generate.py)."""
    cases = json.loads((DATA / "random_cases.json").read_text())
    assert len(cases) == 200
    for case in cases:
        ref = case["ref"]
        m = score_record([a[0] for a in ref], [a[1] for a in ref], case["test"], case["fs_hz"],
                         exclude_first_s=case["start"] / case["fs_hz"], end_sample=case["end"])
        assert list(counts(m)) == case["bxb"], case


def test_mitdb_207_against_bxb(mirror):
    # Oracle: bxb -r 207 -a atr test, where test holds every reference QRS (flutter waves
    # included) moved by (37 k mod 121) - 60 samples: TP 1434, FN 158, FP 158 (WFDB 10.7).
    ann = wfdb.rdann(str(mirror / "mitdb" / "1.0.0" / "207"), "atr")
    sym = np.array(ann.symbol)
    qrs = ann.sample[np.isin(sym, list(QRS_SYMBOLS))]
    test = np.unique(np.abs(qrs + (np.arange(qrs.size) * 37 % 121) - 60))
    assert counts(score_record(ann.sample, sym, test, 360.0)) == (1434, 158, 158)


def test_score_tap_moves_annotations_and_excludes_in_record_time():
    # 360 Hz record, a tap at 500 Hz delayed 50 ms. Reference beats at 299.981 s (107993),
    # 300 s (108000) and 301.39 s; detections exactly where the tap puts them.
    ann = Annotations(np.array([107000, 107993, 108000, 108500]), np.array(["N"] * 4))
    tap = ann.retimed(360.0, 500.0, 0.05).sample
    assert tap.tolist() == [148636, 150015, 150025, 150719]  # floor((n/360 + 0.05) 500 + 1/2)
    m = score_tap(ann, 360.0, tap, 500.0, 0.05, exclude_first_s=300.0)
    # bxb on the record leaves out 107993 (before sample 108000): 2 TP, nothing else. In tap
    # time the learning period would end at 150000 and 150015 would be scored (3 TP).
    assert counts(m) == (2, 0, 0)
    assert counts(score_record(tap, ["N"] * 4, tap, 500.0, exclude_first_s=300.0)) == (3, 0, 0)
    # Resampled first (annotations delayed 3 ms at 8 kHz, as a resampled Recording carries them): the same.
    pre = ann.retimed(360.0, 8000.0, 0.003)
    assert pre.delay_s == 0.003
    m = score_tap(pre, 8000.0, pre.retimed(8000.0, 500.0, 0.05).sample, 500.0, 0.05, 300.0)
    assert counts(m) == (2, 0, 0)
    # VF episodes go along: a detection inside one is no FP; n_samples ends the test period.
    vf = Annotations(np.array([1000, 2000, 2400, 3000]), np.array(["N", "[", "]", "N"]))
    dets = vf.retimed(360.0, 500.0, 0.05).sample.tolist()
    assert counts(score_tap(vf, 360.0, dets, 500.0, 0.05, 0.0)) == (2, 0, 0)
    assert counts(score_tap(vf, 360.0, dets[:1], 500.0, 0.05, 0.0, n_samples=3000)) == (1, 0, 0)


def test_score_exclusion_default_is_ec57_for_long_records():
    assert score_exclusion_s("auto", 14.7, 1805.6) == (EC57_LEARNING_S, "ec57 (record >= 600 s)")
    assert score_exclusion_s("auto", 14.7, 600.0) == (300.0, "ec57 (record >= 600 s)")
    assert score_exclusion_s("auto", 14.7, 599.9) == (14.7, "settle (record < 600 s)")
    assert score_exclusion_s("settle", 14.7, 1805.6) == (14.7, "settle")
    assert score_exclusion_s(10, 14.7, 1805.6) == (10.0, "set")
    with pytest.raises(ValueError, match='"auto" or "settle"'):
        score_exclusion_s("ec75", 1.0, 10.0)
    with pytest.raises(ValueError, match=">= 0"):
        score_exclusion_s(-1, 1.0, 10.0)


def test_symbols_must_align():
    with pytest.raises(ValueError, match="one symbol per reference"):
        score_record([1, 2], ["N"], [1], FS)
    with pytest.raises(TypeError, match="integer"):
        match_beats([1.5], [1], FS)
    m = match_beats([], [], FS)
    assert counts(m) == (0, 0, 0) and np.isnan(m.se)


def test_gross_versus_average():
    # Record 1: 10 reference beats, the last missed -> TP 9, FN 1, FP 0: Se 0.9, +P 1.
    ref1 = np.arange(1, 11) * 1000
    rec1 = match_beats(ref1, ref1[:-1], FS)
    # Record 2: 2000 missed and 2500 extra -> TP 1, FN 1, FP 1: Se 0.5, +P 0.5.
    rec2 = match_beats([1000, 2000], [1000, 2500], FS)
    assert (*counts(rec1), *counts(rec2)) == (9, 1, 0, 1, 1, 1)
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


# --------------------------------------------------------------------------- through simulate
# These need the call-site change of issue 13 in acquire/evaluation/evaluate.py
# (/tmp/issue13-callsites.patch): annotations moved by the tap delay with their VF episodes,
# the learning period in record time, the EC57 default and its rule in the output.


@pytest.fixture(scope="module")
def sim_207():
    """Record 207 through the default chain, full length (1805.6 s, both leads)."""
    from tests.conftest import MIRROR

    if not (MIRROR / "mitdb" / "1.0.0" / "207.hea").exists():
        pytest.skip(f"PhysioNet mirror not found at {MIRROR}")
    from acquire.config import load_config
    from acquire.evaluation.evaluate import simulate
    from acquire.sources.physionet import load_wfdb_path

    record = load_wfdb_path(MIRROR / "mitdb" / "1.0.0" / "207")
    return record, simulate(load_config(None), record)


def test_207_through_simulate_honours_vf(sim_207):
    """Issue 13 acceptance: FP within 2 of scoring the raw record the same way (bxb).

    The old loader dropped '[' and ']': 214 (lead 0) and 224 (lead 1) false positives.
    """
    from acquire.evaluation.qrs import detect_qrs

    record, sim = sim_207
    ann = record.annotations
    assert sim.metrics["score_exclude_s"] == 300.0
    assert sim.metrics["score_exclude_rule"] == "ec57 (record >= 600 s)"
    for c, name in enumerate(record.channel_names):
        raw = score_record(ann.sample, ann.symbol, detect_qrs(record.signals_v[c], 360.0), 360.0)
        doc = sim.metrics["channels"][name]["recovered"]
        assert abs(doc["qrs_fp"] - raw.fp) <= 2, (name, doc["qrs_fp"], raw.fp)
        # Same reference beats are scored (TP + FN): 1592 after 5 min, outside VF. One
        # beat either side: a delayed beat at the very end may leave the tap.
        assert abs(doc["qrs_tp"] + doc["qrs_fn"] - (raw.tp + raw.fn)) <= 1


def test_207_reference_beats_at_the_tap_are_beats_only(sim_207):
    record, sim = sim_207
    n_beats = int(record.annotations.is_beat.sum())
    assert sim.ref_beats["recovered"].size == n_beats  # no '[', ']', '+' or '~' among them
