"""Tests for the Recording value type and AAMI mapping."""

import numpy as np
import pytest

from acquire.sources.recording import AAMI_CLASS, Annotations, Recording


def make():
    sig = np.arange(20.0).reshape(2, 10) * 1e-3
    ann = Annotations(np.array([1, 4, 8]), np.array(["N", "V", "A"]))
    return Recording(sig, 10.0, ("MLII", "V5"), ann, {"database": "x"})


def test_aami_mapping_by_hand():
    # ANSI/AAMI EC57 classes (de Chazal 2004 Table I).
    expected = {"N": "N", "L": "N", "R": "N", "e": "N", "j": "N", "A": "S", "a": "S", "J": "S",
                "S": "S", "V": "V", "E": "V", "F": "F", "/": "Q", "f": "Q", "Q": "Q"}
    assert AAMI_CLASS == expected


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
