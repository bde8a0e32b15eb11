"""The incremental WFDB writer: wfdb reads back what was written, nothing partial is left."""

import numpy as np
import wfdb

from acquire.output.wfdb_writer import WfdbWriter


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
