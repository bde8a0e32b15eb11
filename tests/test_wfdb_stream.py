"""WFDB records streamed from their files (``keep=False``, ``ecgfe simulate --out``): the loaded record's
samples, annotations, provenance, metrics and errors, in memory that does not grow with the record."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from acquire.config import load_config
from acquire.evaluation.evaluate import open_source, simulate
from acquire.sources import physionet
from acquire.sources.loader import SyntheticStreamSource, WfdbStreamSource, load_recording, open_wfdb
from bench.bench_simulate import cli_peak_mb
from cli import app
from tests.test_cli import one_line_error
from tests.test_streaming import FAST, _numbers


def _read_all(source, sizes) -> np.ndarray:
    """Read ``source`` to its end in chunks cycling through ``sizes``."""
    parts, i = [], 0
    while (x := source.read(sizes[i % len(sizes)])).shape[1]:
        parts.append(x)
        i += 1
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("window", [{}, {"channels": ["V5"], "start_s": 12.3, "duration_s": 400.7},
                                    {"channels": [1, 0], "start_s": 1000.0}])
def test_streamed_record_equals_the_loaded_one_bit_for_bit(mirror, window):
    path = mirror / "mitdb" / "1.0.0" / "100"
    loaded = load_recording(str(path), **window)
    # Blocks of 7.3 s (2628 samples, even and odd 212 boundaries) that none of the chunk sizes divides.
    source = WfdbStreamSource(open_wfdb(str(path)), **window, block_s=7.3)
    assert (source.fs_hz, source.n_samples, source.channel_names) == (loaded.fs_hz, loaded.n_samples,
                                                                       loaded.channel_names)
    assert source.provenance == loaded.provenance
    np.testing.assert_array_equal(source.annotations.sample, loaded.annotations.sample)
    np.testing.assert_array_equal(source.annotations.symbol, loaded.annotations.symbol)
    got = _read_all(source, [1, 997, 5000, 3])
    assert got.dtype == loaded.signals_v.dtype and got.tobytes() == loaded.signals_v.tobytes()
    source.reset()
    assert source.read(loaded.n_samples + 10).tobytes() == loaded.signals_v.tobytes()
    assert source.read(5).shape == (len(loaded.channel_names), 0)


def test_streamed_simulation_equals_the_kept_one(mirror, monkeypatch):
    monkeypatch.setenv("ECGFE_DATA_DIR", str(mirror))
    cfg = load_config(None, ["source.name=mitdb/100", "source.start_s=60", "source.duration_s=180", *FAST])
    kept, streamed = simulate(cfg, keep=True), simulate(cfg, keep=False)
    assert isinstance(streamed.recording, WfdbStreamSource) and streamed.result.recovered_v is None
    a, b = dict(_numbers(kept.metrics)), dict(_numbers(streamed.metrics))
    assert a.keys() == b.keys() and len(a) > 100
    assert a == b  # the same samples in the same chunks: equal to the last bit
    assert kept.metrics["provenance"] == streamed.metrics["provenance"]
    assert b["/channels/MLII/recovered/qrs_tp"] > 150  # the annotations reached the scoring


def _write_long_record(directory, name: str, hours: int, fs_hz: float) -> str:
    """One ECG channel, a minute of ECGSYN repeated, written to a WFDB record (format 32) a minute at a
    time (cheap: the memory point needs the length, not new beats); the record's path."""
    from acquire.output.wfdb_writer import WfdbWriter

    minute_v = SyntheticStreamSource(duration_s=60.0, heart_rate_bpm=72.0, seed=1, fs_hz=fs_hz).read(int(60 * fs_hz))
    writer = WfdbWriter(directory, name, fs_hz, ["ECG"])
    for _ in range(60 * hours):
        writer.write(minute_v)
    return str(writer.close())


def test_streamed_record_memory_does_not_grow_with_its_length(tmp_path):
    # The peak RSS (VmHWM of the child) of `ecgfe simulate RECORD --out` is the same for a 1-hour and a
    # 2-hour record: within 10 %, and within 7 MB. The record is one channel at 2 kHz (57.6 MB per hour
    # as float64) so that loading it whole would show: the in-memory loader (wfdb.rdrecord, the scaled
    # copy, the window's copy) measured 345.5 and 427.4 MB (+24 %); streamed, 336.8 and 336.5 MB. At
    # 360 Hz a whole-record load stays below the ~340 MB fixed cost of a run (imports, the compiled
    # kernels, the figures) and the peak would not see it. Earlier tests in this file have compiled
    # (and cached) the kernels, so neither child pays for that. About 20 s for both runs on the 2 kHz chain.
    peaks = {}
    for hours in (1, 2):
        record = _write_long_record(tmp_path, f"h{hours}", hours, 2000.0)
        args = ["--quiet", "simulate", record, "--out", str(tmp_path / f"r{hours}")]
        for s in FAST:
            args += ["--set", s]
        peaks[hours], _ = cli_peak_mb(args)
    assert peaks[2] <= 1.10 * peaks[1], peaks
    assert peaks[2] - peaks[1] < 7.0, peaks


def _damaged_copy_of_100(mirror, directory, dat_bytes: int):
    """mitdb/100 copied into ``directory`` with its signal file cut to ``dat_bytes``; the record path."""
    for name in ("100.hea", "100.atr"):
        shutil.copy(mirror / "mitdb" / "1.0.0" / name, directory / name)
    (directory / "100.dat").write_bytes((mirror / "mitdb" / "1.0.0" / "100.dat").read_bytes()[:dat_bytes])
    return directory / "100"


def test_truncated_signal_file_is_the_loaders_one_line_error(mirror, tmp_path):
    path = _damaged_copy_of_100(mirror, tmp_path, 99999)
    runner = CliRunner()
    loaded = runner.invoke(app, ["simulate", str(path), "--duration-s", "5"])
    streamed = runner.invoke(app, ["simulate", str(path), "--duration-s", "5", "--out", str(tmp_path / "o")])
    one_line_error(loaded, 2, f"{path}.dat is truncated: 99999 of the 1950000 bytes")
    one_line_error(streamed, 2)
    assert streamed.stderr == loaded.stderr and not (tmp_path / "o").exists()


def test_signal_file_truncated_while_streaming_is_the_loaders_error(mirror, tmp_path):
    path = _damaged_copy_of_100(mirror, tmp_path, 1950000)
    source = WfdbStreamSource(open_wfdb(str(path)), block_s=60.0)
    source.read(30000)
    (tmp_path / "100.dat").write_bytes((tmp_path / "100.dat").read_bytes()[:99999])
    with pytest.raises(ValueError) as streamed:
        source.read(30000)
    with pytest.raises(ValueError) as loaded:
        load_recording(str(path))
    assert str(streamed.value) == str(loaded.value) and "\n" not in str(loaded.value)
    assert f"{path}.dat is truncated" in str(loaded.value)


@pytest.mark.parametrize("sets", [
    ["source.name=mitdx/100"],  # unknown database
    ["source.name=mitdb/102"],  # not downloaded
    ["source.name=mitdb/100", "source.start_s=1800", "source.duration_s=60"],  # beyond the record
    ["source.name=mitdb/100", "source.start_s=2000"],  # starts past the end
    ["source.name=mitdb/100", "source.channels=['V7']"],  # no such channel
])
def test_streamed_and_loaded_records_refuse_alike(mirror, data_home, sets):
    target = data_home / "mitdb" / "1.0.0"
    target.mkdir(parents=True)
    for name in ("100.hea", "100.dat", "100.atr"):
        (target / name).symlink_to(mirror / "mitdb" / "1.0.0" / name)
    cfg = load_config(None, sets)
    errors = []
    for stream in (False, True):
        with pytest.raises((ValueError, FileNotFoundError)) as info:
            open_source(cfg, stream=stream)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1] and "\n" not in errors[0][1]


def test_record_too_long_to_stream_is_refused_before_a_sample_is_read(tmp_path, monkeypatch):
    # 49 hours at 1 Hz (format 16): longer than the streamed path's 48 h.
    (tmp_path / "long.hea").write_text("long 1 1 176400\nlong.dat 16 200/mV 16 0 0 0 0 ECG\n")
    (tmp_path / "long.dat").write_bytes(bytes(2 * 176400))

    def no_samples(*args, **kwargs):
        raise AssertionError("a sample was read")

    monkeypatch.setattr(physionet.WfdbFiles, "read_v", no_samples)
    with pytest.raises(ValueError, match=r"a 49 h record is longer than the streamed path holds \(48 h\)"):
        simulate(load_config(None, [f"source.name={tmp_path / 'long'}", "source.duration_s=176400"]), keep=False)
