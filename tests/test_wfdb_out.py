"""The incremental WFDB writer and the detection files: wfdb reads back what was written, nothing partial is left."""

from types import SimpleNamespace

import numpy as np
import pytest
import wfdb

from acquire._check import FrontendWarning
from acquire.output.wfdb_writer import WfdbWriter
from acquire.output.writers import detection_annotator, write_detections


def test_round_trip_through_wfdb(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1001)) * 1e-3  # volts, ~1 mV
    w = WfdbWriter(tmp_path, "recovered", 500.0, ["MLII", "V5"])
    for a, b in [(0, 1), (1, 500), (500, 1001)]:
        w.write(x[:, a:b])
    w.close()
    rec = wfdb.rdrecord(str(tmp_path / "recovered"))
    assert rec.fs == 500 and rec.sig_name == ["MLII", "V5"] and rec.units == ["mV", "mV"]
    # Resolution is 1 nV (1e-6 mV): rounding error at most half of it.
    np.testing.assert_allclose(rec.p_signal.T, x * 1e3, atol=0.5e-6 + 1e-12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recovered.dat", "recovered.hea"]


def test_checksums_match_wfdb(tmp_path):
    x = np.linspace(-1e-3, 1e-3, 300)[None]
    w = WfdbWriter(tmp_path, "r", 250.0, ["ECG"])
    w.write(x)
    w.close()
    rec = wfdb.rdrecord(str(tmp_path / "r"), physical=False)
    # Oracle: wfdb's own checksum of the stored samples and the first value.
    assert rec.checksum == rec.calc_checksum()
    assert rec.init_value == [int(rec.d_signal[0, 0])]


def test_abort_leaves_nothing(tmp_path):
    w = WfdbWriter(tmp_path, "r", 250.0, ["ECG"])
    w.write(np.zeros((1, 10)))
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_the_reserved_invalid_value_is_never_written(tmp_path):
    # WFDB reads -2^31 at format 32 as an invalid sample (NaN): a signal reaching it, or beyond the range,
    # is clipped to +-(2^31 - 1) adu, counted, and reported.
    lsb_v = 1e-9  # 1 nV per adu
    x = np.array([[-(2**31) * lsb_v, 2**31 * lsb_v, -3.0, 3.0, 1e-3, (2**31 - 1) * lsb_v]])
    w = WfdbWriter(tmp_path, "r", 500.0, ["ECG"])
    w.write(x)
    with pytest.warns(FrontendWarning, match=r"WFDB record r: 4 sample\(s\) beyond"):
        w.close()
    assert w.n_clipped == 4
    raw = np.fromfile(tmp_path / "r.dat", dtype="<i4")  # the stored integers, read without wfdb
    assert raw.tolist() == [-(2**31 - 1), 2**31 - 1, -(2**31 - 1), 2**31 - 1, 1_000_000, 2**31 - 1]
    rec = wfdb.rdrecord(str(tmp_path / "r"))
    assert not np.isnan(rec.p_signal).any()


def test_nan_samples_are_refused_naming_the_channel(tmp_path):
    w = WfdbWriter(tmp_path, "r", 250.0, ["I", "II"])
    with pytest.raises(ValueError, match=r"record r: channel\(s\) II hold NaN samples"):
        w.write(np.array([[0.0, 0.0], [0.0, np.nan]]))
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_detection_files_are_named_per_signal_with_letters_only():
    assert [detection_annotator(c) for c in (0, 1, 2, 25, 26, 27)] == [
        "qrs", "qrsb", "qrsc", "qrsz", "qrsaa", "qrsab"]


def test_no_detected_beat_is_an_empty_annotation_file(tmp_path):
    sim = SimpleNamespace(result=SimpleNamespace(fs_acquired_hz=500.0, fs_recovered_hz=250.0),
                          recording=SimpleNamespace(channel_names=("ECG", "V1")),
                          detections={"acquired": [np.array([], int), np.array([7, 90])],
                                      "recovered": [np.array([3]), np.array([], int)]})
    names = write_detections(sim, tmp_path)
    assert names == {"acquired": {"ECG": "acquired.qrs", "V1": "acquired.qrsb"},
                     "recovered": {"ECG": "recovered.qrs", "V1": "recovered.qrsb"}}
    assert wfdb.rdann(str(tmp_path / "acquired"), "qrs").sample.size == 0
    ann = wfdb.rdann(str(tmp_path / "acquired"), "qrsb")
    assert ann.sample.tolist() == [7, 90] and ann.symbol == ["N", "N"] and ann.chan.tolist() == [1, 1]
    assert ann.fs == 500
    assert wfdb.rdann(str(tmp_path / "recovered"), "qrs").fs == 250
