"""Tests of the parameter sweep engine: parsing, the CMRR acceptance sweep, resumption, workers, files."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from acquire._version import __version__
from acquire.config import ConfigError, load_config
from acquire.evaluation.evaluate import simulate
from acquire.studies.grid import parse_vary, sweep_points
from acquire.studies.sweep import SUMMARY_METRICS, flat_metrics, point_config, point_id, run_points, run_sweep
from acquire.output.figures import ONE_MV_PP_IN_UV_RMS

#: A short synthetic source, 1 V rms body common mode at 60 Hz, fundamental only.
BASE = ["source.duration_s=8", "body.mode=direct", "body.cm_v_rms=1.0", "mains.frequency_hz=60.0",
        "mains.harmonic_ratios={}"]


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, BASE)


# --- parse_vary, sweep_points, point_id -----------------------------------------------------------

@pytest.mark.parametrize("spec, key, values", [
    ("amplifier.cmrr_db=60:140:20", "amplifier.cmrr_db", [60, 80, 100, 120, 140]),
    ("amplifier.cmrr_db=60:150:20", "amplifier.cmrr_db", [60, 80, 100, 120, 140]),  # stop off-grid
    ("x.y=0.1:0.3:0.1", "x.y", [0.1, 0.2, 0.3]),  # float steps: no accumulation, end included
    ("x.y=1:0:-0.25", "x.y", [1.0, 0.75, 0.5, 0.25, 0.0]),
    ("x.y=5:5:1", "x.y", [5]),
    ("x.y = 1e3:3e3:1e3", "x.y", [1000.0, 2000.0, 3000.0]),
    ("electrodes.imbalance=0,iec,100e3", "electrodes.imbalance", [0, "iec", 100e3]),
    ("amplifier.preset=ina128, ad620", "amplifier.preset", ["ina128", "ad620"]),
    ('amplifier.preset="ina128","ad620"', "amplifier.preset", ["ina128", "ad620"]),
    ("amplifier.cmrr_db=100", "amplifier.cmrr_db", [100]),
])
def test_parse_vary(spec, key, values):
    k, v = parse_vary(spec)
    assert k == key
    assert v == values
    assert [type(a) for a in v] == [type(b) for b in values]


def test_parse_vary_float_grid_is_exact():
    # Decimal arithmetic from the literals: the values are the floats of the written decimals.
    assert parse_vary("a.b=0.1:0.7:0.1")[1] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert parse_vary("a.b=0:1:0.3")[1] == [0.0, 0.3, 0.6, 0.9]


@pytest.mark.parametrize("spec, message", [
    ("amplifier.cmrr_db=60:140", "a range is START:STOP:STEP (three numbers); got '60:140' (missing STEP)"),
    ("amplifier.cmrr_db=60:140:20:5", "a range is START:STOP:STEP"),
    ("amplifier.cmrr_db=60:x:20", "START, STOP and STEP must be numbers; got '60:x:20'"),
    ("amplifier.cmrr_db=60:140:0", "STEP must not be 0"),
    ("amplifier.cmrr_db=140:60:20", "empty range '140:60:20': a positive STEP cannot go from 140 to 60"),
    ("amplifier.cmrr_db=60:140:-20", "empty range '60:140:-20': a negative STEP cannot go from 60 to 140"),
    ("amplifier.cmrr_db=0:inf:1", "must be finite"),
    ("amplifier.cmrr_db=0:1e6:1", "has 1000001 values; at most 10000"),
    ("amplifier.cmrr_db=0:1e999999999:1", "must be finite"),  # beyond a float, and a Decimal overflow
    ("amplifier.cmrr_db=0:1e300:1e-300", "has over 1e30 values; at most 10000"),
    ("amplifier.cmrr_db", "--vary expects KEY=START:STOP:STEP or KEY=v1,v2,..."),
    ("=1,2", "--vary expects"),
    ("amplifier.cmrr_db=", "--vary expects"),
    ("amplifier.cmrr_db=60,,80", "empty value in the list"),
    ("amplifier.cmrr_db=60,80,60", "repeated value in the list"),
])
def test_parse_vary_errors(spec, message):
    with pytest.raises(ValueError) as err:
        parse_vary(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_sweep_points_product_order_and_errors():
    points = sweep_points([("a.x", [1, 2]), ("b.y", ["p", "q", "r"])])
    assert points == [{"a.x": 1, "b.y": "p"}, {"a.x": 1, "b.y": "q"}, {"a.x": 1, "b.y": "r"},
                      {"a.x": 2, "b.y": "p"}, {"a.x": 2, "b.y": "q"}, {"a.x": 2, "b.y": "r"}]
    with pytest.raises(ValueError, match="--vary a.x is given 2 times; give each key once"):
        sweep_points([("a.x", [1]), ("b.y", [2]), ("a.x", [3])])
    with pytest.raises(ValueError, match="at least one --vary"):
        sweep_points([])


def test_the_total_number_of_points_is_capped_before_any_is_built():
    # Three ranges of 10,000 values each pass the per-range guard; their product (1e12) would not fit in memory.
    varies = [parse_vary(f"{k}=1:10000:1") for k in ("a.x", "b.y", "c.z")]
    with pytest.raises(ValueError, match=r"the study has 1000000000000 points \(10000 x 10000 x 10000\); "
                                         r"at most 100000 unless --max-points"):
        sweep_points(varies)
    assert len(sweep_points([("a.x", list(range(400))), ("b.y", list(range(300)))], max_points=120_000)) == 120_000
    with pytest.raises(ValueError, match="--max-points must be an integer >= 1; got 0"):
        sweep_points([("a.x", [1])], max_points=0)


def test_point_id_ignores_key_order_and_int_float():
    a = point_id({"amplifier.cmrr_db": 60, "electrodes.imbalance": "iec"})
    assert a == point_id({"electrodes.imbalance": "iec", "amplifier.cmrr_db": 60.0})
    assert len(a) == 12 and int(a, 16) >= 0
    assert a != point_id({"amplifier.cmrr_db": 80, "electrodes.imbalance": "iec"})
    assert a != point_id({"amplifier.cmrr_db": 60, "electrodes.imbalance": 0})


def test_point_config_applies_preset_first(cfg):
    c = point_config(cfg, {"amplifier.cmrr_db": 90, "amplifier.preset": "ad620"})
    assert c["amplifier"] == {"preset": "ad620", "cmrr_db": 90}
    assert cfg["amplifier"] == {"preset": "ina128"}  # the base is not modified


def test_unknown_key_fails_before_any_work(cfg, tmp_path):
    out = tmp_path / "sw"
    with pytest.raises(ConfigError, match=r"unknown key amplifier\.cmrr_dB.*Did you mean 'cmrr_db'\?"):
        run_sweep(cfg, [parse_vary("amplifier.cmrr_dB=60,80")], out)
    with pytest.raises(ConfigError, match="unknown config section 'amplfier'.*Did you mean 'amplifier'"):
        run_sweep(cfg, [parse_vary("amplfier.cmrr_db=60,80")], out)
    assert not out.exists()


def test_invalid_value_names_the_point(cfg, tmp_path):
    out = tmp_path / "sw"
    with pytest.raises(ValueError, match=r"sweep point \{'post.aa_kind': 'chebby'\}: .*butterworth"):
        run_sweep(cfg, [parse_vary("post.aa_kind=butterworth,chebby")], out)
    assert not out.exists()


def test_argument_errors(cfg, tmp_path):
    with pytest.raises(ValueError, match="jobs must be an integer >= 1; got 0"):
        run_sweep(cfg, [parse_vary("amplifier.cmrr_db=60")], tmp_path, jobs=0)
    rec = simulate(cfg).recording
    with pytest.raises(ValueError, match=r"cannot vary source keys \(source.seed\) with a fixed recording"):
        run_sweep(cfg, [parse_vary("source.seed=0,1")], tmp_path, recording=rec)


# --- the acceptance sweep ------------------------------------------------------------------------

def imbalance_divider(f_hz):
    """D = Z_cm (Z_neg - Z_pos) / ((Z_pos + Z_cm)(Z_neg + Z_cm)), from the impedances by hand.

    Electrodes 1 kOhm + 100 kOhm || 47 nF (acquire.electrodes.DEFAULT_ELECTRODE), the IEC
    51 kOhm || 47 nF imbalance in series with the negative input, INA128 Z_cm = 1e11 Ohm || 9 pF
    (datasheet, facts.md 3).
    """
    w = 2 * np.pi * f_hz

    def par(r, c):
        return r / (1 + 1j * w * r * c)

    z_pos = 1e3 + par(100e3, 47e-9)
    z_neg = z_pos + par(51e3, 47e-9)
    z_cm = par(1e11, 9e-12)
    return z_cm * (z_neg - z_pos) / ((z_pos + z_cm) * (z_neg + z_cm))


@pytest.fixture(scope="module")
def cmrr_sweep(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmrr")
    calls = []
    result = run_sweep(cfg, [parse_vary("amplifier.cmrr_db=60:140:20")], out,
                       progress=lambda done, total: calls.append((done, total)))
    return result, out, calls


def test_cmrr_sweep_falls_to_the_imbalance_floor(cmrr_sweep):
    result, _, calls = cmrr_sweep
    cmrr = np.array([r["amplifier.cmrr_db"] for r in result.rows], dtype=float)
    residual = np.array([r["acquired.residual_mains_uv_rms"] for r in result.rows])
    assert cmrr.tolist() == [60, 80, 100, 120, 140]
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    d = imbalance_divider(60.0)
    # Oracle per point: worst-case polarity (the default) turns the amplifier's common-mode error so
    # that it adds to the divider's in magnitude, |1/CMRR| + |D|, v_cm = 1 V rms. The model's known
    # departures: anti-alias Butterworth 4th order at 150 Hz, 0.03 % low at 60 Hz; amplifier noise in
    # the lock-in over 6 s, ~nV. 1 % is well inside the acceptance's 5 % and still tells the magnitude
    # sum from the in-phase phasor sum (80 dB: 228 uV against 209 uV) and from the opposite sign (96 uV).
    expected_uv = (10 ** (-cmrr / 20) + abs(d)) * 1e6
    np.testing.assert_allclose(residual, expected_uv, rtol=0.01)
    # Falls monotonically, then flattens at the imbalance floor |v_cm D| = 128.3 uV (the
    # acceptance: within 5 %; here within 1 %, as above).
    assert np.all(np.diff(residual) < 0)
    floor_uv = abs(d) * 1e6
    assert floor_uv == pytest.approx(128.34, abs=0.01)
    assert residual[-1] == pytest.approx(floor_uv, rel=0.01)
    assert residual[-2] == pytest.approx(floor_uv, rel=0.01)   # 120 dB: already on the floor
    assert residual[0] > 8 * floor_uv                           # 60 dB: amplifier-limited
    # Effective CMRR is v_cm over the residual (both at the fundamental) referred through |A_d(60 Hz)|,
    # -20 log10(residual/1 V) up to the anti-alias filter's 0.03 % at 60 Hz (0.003 dB): 0.01 dB.
    eff = [r["acquired.cmrr_effective_db"] for r in result.rows]
    np.testing.assert_allclose(eff, -20 * np.log10(residual * 1e-6), atol=0.01)


def test_sweep_files(cmrr_sweep):
    result, out, _ = cmrr_sweep
    names = sorted(p.name for p in out.iterdir())
    figures = [f"{stem}.{ext}" for stem in ("qrs", "residual_mains_acquired", "residual_mains_recovered",
                                            "snr_acquired", "snr_recovered") for ext in ("png", "svg", "pdf")]
    assert names == sorted(["points", "sweep.csv", "sweep.json", *figures])
    point_files = sorted(p.name for p in (out / "points").iterdir())
    assert point_files == sorted(f"{r['id']}.json" for r in result.rows)
    assert sorted(result.files) == sorted(out / n for n in names if n != "points")
    assert (out / "qrs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (out / "residual_mains_acquired.svg").read_text()
    # the 1 mV p-p limit of the 10 V rms test, scaled to this scenario's common mode; readable axis names
    assert "1 mV p-p at" in svg and "scaled to 1 V rms" in svg and "CMRR (dB) [amplifier.cmrr_db]" in svg
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["varied"] == {"amplifier.cmrr_db": [60, 80, 100, 120, 140]}
    assert summary["channel"] == "ECG"
    assert summary["points"] == result.rows
    # Each tap reports its own mains figure: cmrr_effective_db at the acquired tap only,
    # mains_rejection_db at the recovered tap only.
    own = {"acquired": "mains_rejection_db", "recovered": "cmrr_effective_db"}
    columns = ["id", "amplifier.cmrr_db"] + [f"{t}.{m}" for t in ("acquired", "recovered")
                                             for m in SUMMARY_METRICS if m != own[t]]
    with open(out / "sweep.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == columns
    for row, r in zip(rows, result.rows):
        assert row["id"] == r["id"]
        assert float(row["acquired.residual_mains_uv_rms"]) == r["acquired.residual_mains_uv_rms"]
        assert float(row["recovered.qrs_sensitivity"]) == r["recovered.qrs_sensitivity"]
    point = json.loads((out / "points" / f"{result.rows[0]['id']}.json").read_text())
    assert point["overrides"] == {"amplifier.cmrr_db": 60}
    assert point["config"]["amplifier"] == {"preset": "ina128", "cmrr_db": 60}
    assert point["metrics"] == flat_metrics(point["document"])
    key = "acquired.residual_mains_uv_rms"
    assert point["metrics"][key] == result.rows[0][key]
    # The 8-s ECGSYN record has ~9 beats; the detector finds them all at the recovered tap.
    assert all(r["recovered.qrs_sensitivity"] == 1.0 and r["recovered.qrs_ppv"] == 1.0 for r in result.rows)
    assert ONE_MV_PP_IN_UV_RMS == pytest.approx(353.55, abs=0.01)


def test_point_equals_simulate_on_the_original_source(cfg, cmrr_sweep):
    # A point is simulate() on its configuration: every metric, rate and delay the same number.
    result, out, _ = cmrr_sweep
    point = json.loads((out / "points" / f"{result.rows[1]['id']}.json").read_text())
    direct = simulate(point_config(cfg, {"amplifier.cmrr_db": 80})).metrics
    assert point["metrics"] == flat_metrics(direct)
    for key in ("rates_hz", "delay_s", "channels"):
        assert point["document"][key] == direct[key]


def test_a_long_record_is_streamed_at_every_point_with_the_same_metrics(monkeypatch, tmp_path):
    # Over CACHE_MAX_SAMPLES a worker does not keep the record: each point streams it from its files
    # (here: the synthetic source, generated chunk by chunk); the metrics are the same numbers.
    from acquire.sources.loader import SyntheticStreamSource
    from acquire.sources.recording import Recording
    from acquire.studies import sweep

    cfg = load_config(None, [*BASE, "source.duration_s=20"])
    overrides = {"amplifier.cmrr_db": 90}
    kept = sweep.PointRunner()
    assert isinstance(kept.source(cfg), Recording)
    monkeypatch.setattr(sweep, "CACHE_MAX_SAMPLES", 0)
    streamed = sweep.PointRunner()
    assert isinstance(streamed.source(cfg), SyntheticStreamSource)
    point_cfg = point_config(cfg, overrides)
    assert streamed.run(point_cfg, overrides)["metrics"] == kept.run(point_cfg, overrides)["metrics"]


# --- resumption and workers --------------------------------------------------------------------

def test_resume_recomputes_only_missing_corrupt_and_stale_points(cfg, tmp_path):
    varies = [parse_vary("amplifier.cmrr_db=70,90,110")]
    first = run_sweep(cfg, varies, tmp_path)
    ids = [r["id"] for r in first.rows]
    assert first.computed == ids and first.skipped == []
    points = tmp_path / "points"
    before = {i: json.loads((points / f"{i}.json").read_text()) for i in ids}
    (points / f"{ids[0]}.json").unlink()
    text = (points / f"{ids[1]}.json").read_text()
    (points / f"{ids[1]}.json").write_text(text[: len(text) // 2])  # a partial write
    calls = []
    second = run_sweep(cfg, varies, tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert sorted(second.computed) == sorted(ids[:2])
    assert second.skipped == [ids[2]]
    assert calls == [(2, 3), (3, 3)]
    assert second.rows == first.rows
    assert {i: json.loads((points / f"{i}.json").read_text()) for i in ids} == before
    # Same points under another base configuration: stale files are redone, not reused, and say why.
    third = run_sweep(load_config(None, BASE + ["run.seed=1"]), varies, tmp_path)
    assert sorted(third.computed) == sorted(ids) and third.skipped == []
    assert set(third.stale) == set(ids) and set(third.stale.values()) == {"written from another configuration"}
    # A point written by another tool version is not reused either (its numbers may differ).
    doc = json.loads((points / f"{ids[2]}.json").read_text())
    doc["document"]["tool_version"] = "0.0.1"
    (points / f"{ids[2]}.json").write_text(json.dumps(doc))
    fourth = run_points(load_config(None, BASE + ["run.seed=1"]), sweep_points(varies), tmp_path)  # no figures
    assert fourth.computed == [ids[2]] and fourth.stale == {ids[2]: f"written by ecgfe 0.0.1 (this is {__version__})"}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")]


def test_two_workers_equal_one(cfg, tmp_path):
    varies = [parse_vary("electrodes.imbalance=0,iec"), parse_vary("amplifier.cmrr_db=80,100")]
    one = run_sweep(cfg, varies, tmp_path / "one", jobs=1)
    two = run_sweep(cfg, varies, tmp_path / "two", jobs=2)
    assert two.rows == one.rows
    assert sorted(two.computed) == sorted(one.computed)
    for r in one.rows:
        a = json.loads((tmp_path / "one" / "points" / f"{r['id']}.json").read_text())
        b = json.loads((tmp_path / "two" / "points" / f"{r['id']}.json").read_text())
        assert a == b
    # First numeric key on x (cmrr), one curve per imbalance; the QRS curves are the same for both
    # imbalances (every beat found), so they are collapsed into one figure.
    assert {r["recovered.qrs_sensitivity"] for r in one.rows} == {1.0}
    assert {p.name for p in (tmp_path / "two").glob("qrs*.png")} == {"qrs.png"}
    assert "imbalance IEC 51 kΩ ∥ 47 nF" in (tmp_path / "two" / "residual_mains_acquired.svg").read_text()  # readable legend
    # With no imbalance the residual is the amplifier's alone: 1/CMRR of 1 V (1 % as in the
    # acceptance test).
    no_imb = {r["amplifier.cmrr_db"]: r["acquired.residual_mains_uv_rms"] for r in one.rows
              if r["electrodes.imbalance"] == 0}
    assert no_imb[80] == pytest.approx(100.0, rel=0.01)
    assert no_imb[100] == pytest.approx(10.0, rel=0.01)


def test_fixed_recording_is_used(cfg, tmp_path):
    rec = simulate(load_config(None, BASE + ["source.duration_s=6"])).recording
    result = run_sweep(cfg, [parse_vary("amplifier.cmrr_db=100")], tmp_path, recording=rec)
    doc = json.loads((tmp_path / "points" / f"{result.rows[0]['id']}.json").read_text())["document"]
    assert doc["provenance"]["source"]["duration_s"] == pytest.approx(6.0)


def test_a_sweep_into_a_directory_another_live_run_holds_is_refused(tmp_path):
    # The lock file of a live process on this host (our parent): the second sweep exits naming it.
    import os
    import socket

    from acquire.output.files import DirectoryLocked

    (tmp_path / ".ecgfe.lock").write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                                        "since_utc": "2026-01-01T00:00:00Z", "token": "x"}))
    cfg = load_config(None, ["source.duration_s=2"])
    with pytest.raises(DirectoryLocked, match=f"in use by another ecgfe run \\(pid {os.getppid()}"):
        run_sweep(cfg, [("amplifier.cmrr_db", [80.0])], tmp_path)
    assert not (tmp_path / "points").exists() or not any((tmp_path / "points").iterdir())


# --- signals: SIGTERM and SIGINT end the workers and leave a resumable sweep ----------------------

REPO = Path(__file__).resolve().parents[1]
SIGNAL_SWEEP = ["sweep", "--vary", "amplifier.cmrr_db=60:110:10", "--duration-s", "20"]  # ~0.6 s a point


def _group_alive(pgid: int) -> list[str]:
    """Live (not zombie) processes of a process group, from /proc (``stat``: pid (comm) state ppid pgrp ...)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(stat.parent.name)
    return alive


#: The points SIGNAL_SWEEP runs; its configuration is the API's (as the CLI resolves it).
SIGNAL_POINTS = [{"amplifier.cmrr_db": v} for v in range(60, 111, 10)]


def _signal_cfg() -> dict:
    import acquire

    return acquire.load_config(source__duration_s=20.0)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The points of SIGNAL_SWEEP run through the engine in one go (no figures: the points are the results)."""
    out = tmp_path_factory.mktemp("signal") / "whole"
    return run_points(_signal_cfg(), SIGNAL_POINTS, out), out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_workers_and_leaves_a_resumable_sweep(signum, uninterrupted, tmp_path):
    out = tmp_path / "sw"
    proc = subprocess.Popen([sys.executable, "-m", "cli", *SIGNAL_SWEEP, "--jobs", "2", "--out", str(out)],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list((out / "points").glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert list((out / "points").glob("*.json")), "no point was written"
        # SIGTERM as a service manager sends it, to the parent; SIGINT as a terminal's Ctrl-C, to the group.
        os.kill(proc.pid, signum) if signum == signal.SIGTERM else os.killpg(proc.pid, signum)
        _, stderr = proc.communicate(timeout=60)  # returns only once every holder of the pipes is gone
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signum, stderr
    name = signal.Signals(signum).name
    assert f"error: interrupted by {name}; finished units are kept in {out}/: rerun the same command to resume." \
        in stderr and "Traceback" not in stderr, stderr
    # No worker survives its parent (multiprocessing's resource tracker, which exits on its own when
    # the parent's end of its pipe closes, is given a moment).
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(Path(f"/proc/{pid}/cmdline").read_bytes()) for pid in _group_alive(proc.pid)] == []
    done = {p.name for p in (out / "points").glob("*.json")}
    assert 1 <= len(done) < 6 and not list(out.rglob("*.part")), (done, stderr)
    # The rerun (same configuration) computes only what is missing, and ends where the uninterrupted run
    # did, bit for bit.
    whole, whole_dir = uninterrupted
    resumed = run_points(_signal_cfg(), SIGNAL_POINTS, out)
    assert {f"{i}.json" for i in resumed.skipped} == done and len(resumed.computed) == 6 - len(done)
    assert resumed.rows == whole.rows
    for p in (whole_dir / "points").iterdir():
        assert (out / "points" / p.name).read_bytes() == p.read_bytes()
