"""The runner: chunked runs equal one block exactly, callbacks and sinks see what is kept,
repeat runs replay, wrong source rates are refused, memory does not grow with duration."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import wfdb

from acquire.config import load_config
from acquire.frontend import build_frontend
from acquire.sources.physionet import load_wfdb_path
from acquire.runner import TAPS, run
from acquire.sources.loader import RecordingSource, SyntheticStreamSource
from acquire.output.wfdb_writer import WfdbSink

#: The default chain with every random process on: electrode noise and mains frequency drift
#: (the default config has neither), plus electrode offset drift, so that chunk invariance is
#: tested on seeded noise and on the drift's knot recursion too.
NOISY = ["electrodes.noise_v_rms=5e-6", "mains.drift_hz_rms=0.05",
         "electrodes.offset_drift_v_per_rts=1e-5"]
DURATION_S = 20.0


class ListSink:
    """A sink keeping every chunk it receives, per tap."""

    def __init__(self):
        self.chunks = {tap: [] for tap in TAPS}

    def write(self, tap, x_v):
        self.chunks[tap].append(np.array(x_v))

    def data(self, tap):
        return np.concatenate(self.chunks[tap], axis=1)


def synthetic_source(duration_s=DURATION_S):
    return SyntheticStreamSource(duration_s=duration_s, heart_rate_bpm=72.0, seed=3)


@pytest.fixture(scope="module")
def cfg():
    return load_config(overrides=NOISY)


#: One-block results, computed once per source for all the tests that compare against them.
_CASES: dict = {}


@pytest.fixture(params=["synthetic", "mitdb"])
def case(request, cfg):
    """(source, front end, one-block result) for the synthetic 500 Hz source and mitdb/100 (2 leads)."""
    if request.param not in _CASES:
        if request.param == "synthetic":
            source = synthetic_source()
        else:
            mirror = request.getfixturevalue("mirror")
            source = RecordingSource(load_wfdb_path(mirror / "mitdb/1.0.0/100").select(duration_s=DURATION_S))
        frontend = build_frontend(cfg, source.fs_hz, len(source.channel_names))
        _CASES[request.param] = source, frontend, run(frontend, source, chunk_s=DURATION_S)
    return _CASES[request.param]


def test_noisy_config_is_what_is_tested(case):
    source, frontend, whole = case
    assert whole.recovered_v.shape[0] == len(source.channel_names) == (2 if source.fs_hz == 360 else 1)
    assert frontend.info["electrodes"].noise_v_rms == 5e-6
    assert frontend.info["mains"].drift_hz_rms == 0.05
    # 20 s: 7200 samples at 360 Hz or 10000 at 500 Hz -> 160000 at 8 kHz -> 10000 at the 500 Hz ADC.
    assert whole.n_acquired == whole.n_recovered == 10_000
    assert whole.acquired_v.shape[1] == whole.recovered_v.shape[1] == 10_000


@pytest.mark.parametrize("chunk_s", [0.01, 0.37, 1.0, 10.0, 7 / 360, 0.997, 3.3])
def test_streamed_output_equals_one_block_exactly(case, chunk_s):
    # Every stage is chunk-invariant, so the chain is: any chunking (0.01 s is 4 or 5 source
    # samples, odd sizes give chunks straddling the noise blocks and the 16:1 ADC phase) must
    # reproduce the one-block output bit for bit, noise and drift included.
    source, frontend, whole = case
    res = run(frontend, source, chunk_s=chunk_s)
    np.testing.assert_array_equal(res.acquired_v, whole.acquired_v)
    np.testing.assert_array_equal(res.recovered_v, whole.recovered_v)
    assert res.counts == whole.counts


def test_one_source_sample_chunks_equal_one_block():
    # The extreme chunking, on a short record so that 1000 chunks stay fast.
    cfg = load_config(overrides=NOISY)
    source = synthetic_source(duration_s=2.0)
    frontend = build_frontend(cfg, source.fs_hz, 1)
    whole = run(frontend, source, chunk_s=2.0)
    single = run(frontend, source, chunk_s=1 / source.fs_hz)
    np.testing.assert_array_equal(single.recovered_v, whole.recovered_v)
    np.testing.assert_array_equal(single.acquired_v, whole.acquired_v)


def test_progress_counts_increase_to_total(case):
    source, frontend, _ = case
    calls = []
    run(frontend, source, chunk_s=0.37, progress=lambda done, total: calls.append((done, total)))
    n_chunk = round(0.37 * source.fs_hz)
    done = [d for d, _ in calls]
    assert len(calls) == -(-source.n_samples // n_chunk)
    assert all(t == source.n_samples for _, t in calls)
    assert np.all(np.diff(done) > 0) and done[0] == n_chunk and done[-1] == source.n_samples


def test_sink_receives_what_is_kept_and_keep_false_returns_none(case):
    source, frontend, whole = case
    sink = ListSink()
    res = run(frontend, source, chunk_s=0.37, sink=sink, keep=False)
    assert res.acquired_v is None and res.recovered_v is None
    assert (res.n_acquired, res.n_recovered) == (whole.n_acquired, whole.n_recovered)
    np.testing.assert_array_equal(sink.data("acquired"), whole.acquired_v)
    np.testing.assert_array_equal(sink.data("recovered"), whole.recovered_v)
    sink = ListSink()
    kept = run(frontend, source, chunk_s=1.0, sink=sink)
    for tap in TAPS:
        np.testing.assert_array_equal(sink.data(tap), getattr(kept, f"{tap}_v"))


def test_repeat_run_replays_exactly(case):
    # run() resets the front end and rewinds the source: the same chunking twice gives the same bits.
    source, frontend, _ = case
    first = run(frontend, source, chunk_s=1.0)
    second = run(frontend, source, chunk_s=1.0)
    np.testing.assert_array_equal(first.recovered_v, second.recovered_v)
    np.testing.assert_array_equal(first.acquired_v, second.acquired_v)
    assert first.counts == second.counts


def test_rate_mismatch_is_refused(cfg):
    frontend = build_frontend(cfg, 360.0, 1)
    with pytest.raises(ValueError, match=r"360 Hz source; got a 500 Hz source"):
        run(frontend, synthetic_source(duration_s=1.0))


def test_bad_chunk_s_is_refused(cfg):
    source = synthetic_source(duration_s=1.0)
    frontend = build_frontend(cfg, source.fs_hz, 1)
    with pytest.raises(ValueError, match="chunk_s"):
        run(frontend, source, chunk_s=0.0)


def _peak_traced_bytes(cfg, duration_s, directory):
    """Peak traced memory of building the source and streaming it to WFDB files, keep=False."""
    tracemalloc.start()
    try:
        source = synthetic_source(duration_s=duration_s)
        frontend = build_frontend(cfg, source.fs_hz, 1)
        sink = WfdbSink(directory, {"acquired": frontend.fs_adc_hz, "recovered": frontend.fs_out_hz},
                        source.channel_names)
        res = run(frontend, source, chunk_s=1.0, keep=False, sink=sink)
        sink.close()
        return tracemalloc.get_traced_memory()[1], res
    finally:
        tracemalloc.stop()


def test_streamed_memory_does_not_grow_with_duration(tmp_path, cfg):
    # Scaled form of issue 4's acceptance criterion (24 h, peak RSS < 300 MB, measured by
    # bench/bench_chain.py). With keep=False the runner holds one chunk per stage plus fixed
    # state (filter states, resampler history, one cached noise block per generator), so peak
    # memory is O(chunk), independent of duration; what does grow is the source's beat list
    # (~100 bytes per beat, about 7 kB per minute at 72 bpm, 10 MB for 24 h). Comparing 2 and
    # 10 minutes (4.8 M samples at 8 kHz) separates the two: a buffer growing with the record
    # (e.g. output kept by mistake, 8 minutes x 500 Hz x 8 bytes x 2 taps = 3.8 MB, or any
    # per-sample array at 8 kHz, 31 MB) would exceed the 1 MB allowance, while the beat list
    # adds ~60 kB. The chunk peak is about 2.5 MB with 1 s chunks (8000 samples x 8 bytes x the
    # chunk's temporaries, plus cached noise blocks), asserted < 10 MB; a 24 h run then needs
    # about that plus ~10 MB of beats, far below 300 MB.
    dirs = {d: tmp_path / d for d in ("short", "long")}
    for d in dirs.values():
        d.mkdir()
    peak_short, _ = _peak_traced_bytes(cfg, 120.0, dirs["short"])
    peak_long, res = _peak_traced_bytes(cfg, 600.0, dirs["long"])
    assert res.n_recovered == 600 * 500
    assert peak_long - peak_short < 1e6, (peak_short, peak_long)
    assert peak_long < 10e6, peak_long
    rec = wfdb.rdheader(str(dirs["long"] / "recovered"))
    assert rec.sig_len == 600 * 500 and rec.fs == 500


def test_twin_shares_the_resampled_source_and_steps_as_alone(cfg, mirror):
    from acquire.runner import TwinSteps, same_resampler

    source = RecordingSource(load_wfdb_path(mirror / "mitdb/1.0.0/100").select(duration_s=6.0))
    pairs = [(build_frontend(cfg, 360.0, 2), build_frontend(cfg, 360.0, 2, ideal=True)) for _ in range(2)]
    for fe, twin in pairs:
        fe.reset()
        twin.reset()
    steps = TwinSteps(*pairs[0])
    assert steps.shared
    source.reset()
    for start in range(0, source.n_samples, 500):
        x = source.read(500)
        shared = steps.step(x, start)
        alone = pairs[1][0].step(x, start), pairs[1][1].step(x, start)
        for got, want in zip(shared, alone):
            for tap in TAPS:
                np.testing.assert_array_equal(got[tap], want[tap])
    other = build_frontend(cfg, 500.0, 2)
    assert not same_resampler(pairs[0][0].analog.stages[0][1], other.analog.stages[0][1])
    assert not same_resampler(pairs[0][0].analog.stages[0][1], pairs[0][0].analog.stages[1][1])
