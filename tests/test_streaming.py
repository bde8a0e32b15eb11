"""Issue 14: ``simulate --out`` streams, its metrics equal the in-memory path's, its memory does not grow."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

import acquire
from acquire.evaluation.evaluate import MAX_IN_MEMORY_S, check_duration
from acquire.output.figures.spectra import WelchPsd
from bench.bench_simulate import cli_peak_mb

#: A cheaper chain for the tests: 2 kHz simulation (the default is 8 kHz); the memory point is the same.
FAST = ["run.fs_sim_hz=2000"]


def _numbers(doc, path=""):
    """Every numeric leaf of a metrics document, by path (the configuration left out)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k not in ("config", "files"):
                yield from _numbers(v, f"{path}/{k}")
    elif isinstance(doc, (int, float)) and not isinstance(doc, bool):
        yield path, float(doc)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("stream") / "run"
    kept = acquire.simulate(sets=FAST, source__duration_s=300.0)
    streamed = acquire.simulate(sets=FAST, source__duration_s=300.0, out=out)
    return kept, streamed, out


def test_streamed_metrics_equal_the_in_memory_ones(runs):
    kept, streamed, out = runs
    assert kept.simulation.result.recovered_v is not None and streamed.simulation.result.recovered_v is None
    a, b = dict(_numbers(kept.metrics)), dict(_numbers(streamed.metrics))
    assert a.keys() == b.keys() and len(a) > 50
    # Same accumulators fed the same chunks in the same order: equal to the last bit.
    assert a == b
    on_disk = json.loads((out / "metrics.json").read_text())
    assert dict(_numbers(on_disk)) == b


def test_streamed_metrics_match_whole_array_formulas(runs):
    # Oracle: the definitions evaluated on the kept arrays in one block (numpy sums, a QR least squares).
    kept, streamed, _ = runs
    sim = kept.simulation
    doc = streamed.metrics["channels"]["ECG"]["recovered"]
    fs = sim.result.fs_recovered_hz
    skip = int(min(sim.metrics["settle_s"], 150.0) * fs)
    x, y = sim.ideal.recovered_v[0, skip:], sim.result.recovered_v[0, skip:]
    snr = 10 * np.log10(np.sum((x - x.mean()) ** 2) / np.sum((x - y) ** 2))
    corr = np.corrcoef(x, y)[0, 1]
    n = x.size
    f = [k * sim.metrics["mains_hz"] for k in range(1, 5)]
    phase = 2 * np.pi * np.outer(np.arange(n) / fs, f)
    coef = np.linalg.lstsq(np.hstack([np.ones((n, 1)), np.cos(phase), np.sin(phase)]), y - x, rcond=None)[0]
    amp_uv = np.hypot(coef[1:5], coef[5:]) / np.sqrt(2) * 1e6
    # Chunked sums (Chan's pairwise update) differ from one numpy sum by rounding only: 1e-9 relative.
    assert doc["snr_out_db"] == pytest.approx(snr, rel=1e-9)
    assert doc["correlation"] == pytest.approx(corr, rel=1e-9)
    # The tone fit's rounding is relative to the largest tone (the fundamental), not to each harmonic.
    got = [doc["residual_mains_by_harmonic_uv_rms"][str(k)] for k in range(1, 5)]
    np.testing.assert_allclose(got, amp_uv, rtol=1e-9, atol=1e-9 * amp_uv.max())
    # QRS amplitude error per reference beat (window +-50 ms), beats read across chunk boundaries.
    beats = sim.ref_beats["recovered"] - skip
    beats = beats[(beats >= int(0.1 * fs)) & (beats < n - int(0.2 * fs))]
    idx = beats[:, None] + np.arange(-round(0.05 * fs), round(0.05 * fs) + 1)
    err_uv = np.abs(np.ptp(y[idx], axis=1) - np.ptp(x[idx], axis=1)) * 1e6
    assert beats.size > 300
    assert doc["qrs_amplitude_error_median_uv"] == pytest.approx(np.median(err_uv), rel=1e-12)
    assert doc["qrs_amplitude_error_p95_uv"] == pytest.approx(np.percentile(err_uv, 95), rel=1e-12)


def _scipy_reference(rec, fs_out, n_out, delay_s, band_hz):
    """The source reference in one block: resample_poly, sosfiltfilt (even padding), interp."""
    from fractions import Fraction

    ratio = Fraction(fs_out / rec.fs_hz).limit_denominator(10000)
    x = signal.resample_poly(rec.signals_v, ratio.numerator, ratio.denominator, axis=-1)
    pad = {"padtype": "even", "padlen": min(x.shape[1] - 1, int(10 * fs_out))}
    if band_hz[0] > 0:
        x = signal.sosfiltfilt(signal.butter(2, band_hz[0], "highpass", fs=fs_out, output="sos"), x, **pad)
    x = signal.sosfiltfilt(signal.butter(2, band_hz[1], "lowpass", fs=fs_out, output="sos"), x, **pad)
    t = np.arange(n_out) / fs_out - delay_s
    grid = np.arange(x.shape[1]) / fs_out
    return np.stack([np.interp(t, grid, ch, left=ch[0], right=ch[-1]) for ch in x])


@pytest.mark.parametrize("fs_in, fs_out, n, lo_hz", [(360.0, 500.0, 200_000, 0.5), (500.0, 500.0, 150_000, 0.05),
                                                     (360.0, 500.0, 3000, 0.0), (500.0, 250.0, 100_001, 0.67)])
def test_blockwise_source_reference_equals_scipy_on_the_whole(tmp_path, fs_in, fs_out, n, lo_hz):
    from acquire.evaluation.reference import source_reference
    from acquire.sources.loader import RecordingSource
    from acquire.sources.recording import Recording

    rng = np.random.default_rng(1)
    rec = Recording(signals_v=np.cumsum(rng.standard_normal((2, n)), axis=1) * 1e-5 + 1e-3, fs_hz=fs_in,
                    channel_names=("a", "b"))
    n_out = int(n * fs_out / fs_in) - 5
    ref = source_reference(RecordingSource(rec), fs_out, 0.0123, (lo_hz, 100.0), tmp_path, "t")
    sizes, parts, done = [1, 999, 70_000], [], 0
    while done < n_out:
        parts.append(ref.read(min(sizes[len(parts) % 3], n_out - done)))
        done += parts[-1].shape[1]
    ref.close()
    # Each output is the same arithmetic as in one block (aligned polyphase blocks, sosfilt state
    # carried, the backward pass over the reversed forward output): equal to the last bit.
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), _scipy_reference(rec, fs_out, n_out, 0.0123,
                                                                                 (lo_hz, 100.0)))


def test_streamed_run_writes_the_records_and_figures(runs):
    import wfdb

    kept, _, out = runs
    rec = wfdb.rdrecord(str(out / "recovered"))
    y = kept.simulation.result.recovered_v[0]
    # WFDB stores 1 nV steps (format 32 at 1e6 adu/mV): within half a step of the kept output.
    np.testing.assert_allclose(rec.p_signal[:, 0] * 1e-3, y, rtol=0, atol=0.51e-9)
    for stem in ("time_panel", "psd", "bode"):
        assert (out / f"{stem}.png").stat().st_size > 10_000
    assert (out / "report.html").is_file()


def test_welch_accumulated_in_chunks_equals_scipy_on_the_whole():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(50_001) + 0.3
    psd = WelchPsd(500.0, 2000)
    for part in np.array_split(x, 17):
        psd.update(part)
    f, p = psd.psd()
    f0, p0 = signal.welch(x, fs=500.0, nperseg=2000)
    np.testing.assert_array_equal(f, f0)
    np.testing.assert_allclose(p, p0, rtol=1e-12)  # same segments; only the sum's order differs


def test_too_long_records_get_one_clear_error(tmp_path):
    from typer.testing import CliRunner

    from cli import app
    from tests.test_cli import one_line_error

    with pytest.raises(ValueError, match=r"longer than the in-memory path holds \(2 h\); write it with --out"):
        check_duration(MAX_IN_MEMORY_S + 1, streamed=False)
    check_duration(MAX_IN_MEMORY_S, streamed=False)
    runner = CliRunner()
    one_line_error(runner.invoke(app, ["simulate", "--duration-s", "10000"]), 2, "2.78 h record", "with --out")
    one_line_error(runner.invoke(app, ["simulate", "--duration-s", str(49 * 3600), "--out", str(tmp_path / "o")]),
                   2, "49 h record", "streamed path holds (48 h)", "split the record")
    assert not (tmp_path / "o").exists()


def test_streamed_cli_memory_does_not_grow_with_duration(tmp_path):
    # Issue 14: the peak RSS (VmHWM of the child) of a streamed 2-hour run equals the 1-hour one's:
    # within 10 % as the issue asks, and tighter, within 7 MB. One float64 value per output sample
    # held anywhere (e.g. a whole-record array in the reference pass) would add 500 SPS x 3600 s x
    # 8 bytes = 14.4 MB between the runs; what legitimately grows (the beats: annotations,
    # detections and per-beat errors, ~200 bytes each at 72 bpm; one value per second) is about
    # 1 MB per hour. Measured in a fresh clone: 401.4 and 402.2 MB, of which ~290 MB is the fixed
    # cost of numpy/scipy/matplotlib and numba's compiled kernels before any sample is made (242 MB
    # before the kernels). The absolute bound (450 MB) only guards against a regression of that fixed
    # part; the 400 MB target is for 24 h and is measured by bench/bench_simulate.py. The
    # cheaper 2 kHz chain makes the same point in about 110 s for both runs.
    peaks = {}
    for hours in (1, 2):
        args = ["--quiet", "simulate", "--duration-s", str(3600 * hours), "--out", str(tmp_path / f"r{hours}")]
        for s in FAST:
            args += ["--set", s]
        peaks[hours], _ = cli_peak_mb(args)
    assert peaks[2] <= 1.10 * peaks[1], peaks
    assert peaks[2] - peaks[1] < 7.0, peaks
    assert peaks[2] < 450, peaks
