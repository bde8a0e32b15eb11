"""Tests for the Recording value type, the annotation type and the WFDB/AAMI symbol tables."""

import numpy as np
import pytest

from acquire.sources.recording import AAMI_CLASS, QRS_SYMBOLS, Annotations, Recording, retime_samples


def make():
    sig = np.arange(20.0).reshape(2, 10) * 1e-3
    ann = Annotations(np.array([1, 4, 8]), np.array(["N", "V", "A"]))
    return Recording(sig, 10.0, ("MLII", "V5"), ann, {"database": "x"})


def test_qrs_symbols_are_wfdbs_isqrs_set():
    # lib/ecgmap.h wfdb_qrs[] marks codes 1-13, 25, 30, 31, 34, 35, 38, 41; lib/annot.c
    # cstring[] names them N L R a V F J A S E j / Q, B, ?, !, e, n, f, r.
    assert QRS_SYMBOLS == set("NLRaVFJASEj/Q") | {"B", "?", "!", "e", "n", "f", "r"}
    assert not {"[", "]", "+", "~", "|", "x", "p", "t", '"'} & QRS_SYMBOLS


def test_aami_mapping_by_hand():
    # ANSI/AAMI EC57 classes (de Chazal 2004 Table I) for the MIT-BIH symbols; B as L/R,
    # n as the escape beats e/j, r (R-on-T) as V, ? (learning) as Q; '!' has no class.
    expected = {"N": "N", "L": "N", "R": "N", "e": "N", "j": "N", "A": "S", "a": "S", "J": "S",
                "S": "S", "V": "V", "E": "V", "F": "F", "/": "Q", "f": "Q", "Q": "Q",
                "B": "N", "n": "N", "r": "V", "?": "Q"}
    assert AAMI_CLASS == expected
    assert set(AAMI_CLASS) == QRS_SYMBOLS - {"!"}


def test_annotations_keep_non_beats_and_select_beats():
    ann = Annotations(np.array([5, 10, 12, 20, 30]), np.array(["N", "[", "!", "]", "+"]))
    assert ann.is_beat.tolist() == [True, False, True, False, False]
    assert ann.beats().sample.tolist() == [5, 12]
    assert ann.aami_class.tolist() == ["N", "", "", "", ""]
    assert ann.window(10, 25).symbol.tolist() == ["[", "!", "]"]


def test_retimed_rounds_half_up_and_accumulates_the_delay():
    # n = 1 at 2 Hz is 0.5 s; +0.25 s at 2 Hz: 1.5 samples -> 2 (half up, as strtim).
    assert retime_samples([1], 2.0, 2.0, 0.25).tolist() == [2]
    ann = Annotations(np.array([0, 360, 719]), np.array(["N", "[", "N"]))
    moved = ann.retimed(360.0, 500.0, 0.01).retimed(500.0, 500.0, 0.002)
    # (0 + 0.01) 500 = 5 -> +1; 360: 505 -> 506; 719/360 = 1.99722 s -> 1003.61 -> 1004 -> 1005.
    assert moved.sample.tolist() == [6, 506, 1005]
    assert moved.symbol.tolist() == ["N", "[", "N"]
    assert moved.delay_s == pytest.approx(0.012)


def test_select_window_and_channels():
    rec = make().select(channels="V5", start_s=0.3, duration_s=0.5)
    np.testing.assert_array_equal(rec.signals_v, np.arange(13.0, 18.0)[None] * 1e-3)
    assert rec.channel_names == ("V5",)
    np.testing.assert_array_equal(rec.annotations.sample, [1])  # beat at 4 -> 4 - 3
    assert list(rec.annotations.aami_class) == ["V"]
    assert rec.provenance["start_s"] == 0.3


def test_select_by_index_and_string_index():
    assert make().select(channels=[1, "0"]).channel_names == ("V5", "MLII")


def test_select_errors_name_the_problem():
    with pytest.raises(ValueError, match="Did you mean 'MLII'"):
        make().select(channels="MLI")
    with pytest.raises(ValueError, match="index must be in 0..1; got 2"):
        make().select(channels=2)
    with pytest.raises(ValueError, match="exceeds the recording length"):
        make().select(start_s=0.5, duration_s=1.0)
    with pytest.raises(ValueError, match="past the end"):
        make().select(start_s=2.0)


def test_shape_validation():
    with pytest.raises(ValueError, match="channel_names has 1 names for 2 channels"):
        Recording(np.zeros((2, 3)), 1.0, ("a",))
    with pytest.raises(ValueError, match="fs_hz"):
        Recording(np.zeros((1, 3)), 0.0, ("a",))
