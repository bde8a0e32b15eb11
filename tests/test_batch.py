"""Database batches: a batch equals separate simulate runs, resumes per unit, aggregates like sumstats."""

from __future__ import annotations

import numpy as np
import pytest

import acquire
from acquire.config import resolve_config
from acquire.studies.batch import aggregate, parse_records, run_batch

RECORDS = ["mitdb/100", "mitdb/101", "mitdb/203"]
SHORT = {"source.duration_s": 20.0, "source.channels": [0]}


@pytest.fixture
def data_env(mirror, monkeypatch):
    monkeypatch.setenv("ECGFE_DATA_DIR", str(mirror))  # the mirror has the data directory's layout
    return mirror


def test_parse_records(data_env):
    assert parse_records("mitdb/100, mitdb/101") == ["mitdb/100", "mitdb/101"]
    # "mitdb" is the database's RECORDS list (48); the mirror holds 23 of them
    with pytest.raises(ValueError, match=r"mitdb lists 48 records and 25 are not downloaded complete "
                                         r"\(102, 103, 104, 105, \.\.\.\).*'mitdb:local' for the 23"):
        parse_records("mitdb")
    every = parse_records("mitdb:local")
    assert len(every) == 23 and every[0] == "mitdb/100"  # the mirror's 23 records
    with pytest.raises(ValueError, match="the only scope is 'mitdb:local'"):
        parse_records("mitdb:all")
    with pytest.raises(ValueError, match="unknown database 'mitbd'.*Did you mean 'mitdb'"):
        parse_records("mitbd")
    with pytest.raises(ValueError, match="unknown record mitdb/1000.*Did you mean '100'"):
        parse_records("mitdb/1000")


def test_batch_equals_separate_simulate_runs_and_resumes(data_env, tmp_path):
    cfg = resolve_config(values=SHORT)
    points = [{"amplifier.cmrr_db": 80.0}, {"amplifier.cmrr_db": 110.0}]
    calls = []
    first = run_batch(cfg, RECORDS[:2], points[:1], tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (2, 2) and len(first.computed) == 2
    # the second run finds the two units of the first point done and computes only the new ones
    result = run_batch(cfg, RECORDS, points, tmp_path)
    assert len(result.skipped) == 2 and len(result.computed) == 4
    for unit in result.units:
        sim = acquire.simulate(unit["record"], config=cfg, amplifier__cmrr_db=unit["amplifier.cmrr_db"])
        doc = next(iter(sim.metrics["channels"].values()))
        # identical to a separate run (same source, same chain, same seed): exactly equal numbers
        assert unit["acquired.residual_mains_uv_rms"] == doc["acquired"]["residual_mains_uv_rms"]
        assert unit["recovered.snr_out_db"] == doc["recovered"]["snr_out_db"]
        assert (unit["tp"], unit["fn"], unit["fp"]) == tuple(doc["recovered"][f"qrs_{k}"] for k in ("tp", "fn", "fp"))
    # Aggregates per point, checked against the per-record rows by hand
    for row in result.summary:
        units = [u for u in result.units if u["point"] == row["point"]]
        tp, fn = sum(u["tp"] for u in units), sum(u["fn"] for u in units)
        assert row["gross_se"] == tp / (tp + fn) and row["records"] == 3
        assert row["average_se"] == pytest.approx(np.mean([u["tp"] / (u["tp"] + u["fn"]) for u in units]))
        residual = [u["acquired.residual_mains_uv_rms"] for u in units]
        assert row["acquired.residual_mains_uv_rms.median"] == pytest.approx(np.median(residual))
        worst = max(units, key=lambda u: u["acquired.residual_mains_uv_rms"])
        assert row["acquired.residual_mains_uv_rms.worst_record"] == worst["record"]


def test_aggregate_sumstats_conventions():
    # Two records, hand counts: gross Se = 150/160, average Se = (0.9 + 1.0)/2.
    units = [{"record": "a", "tp": 90, "fn": 10, "fp": 0, "acquired.residual_mains_uv_rms": 5.0,
              "acquired.cmrr_effective_db": None, "recovered.snr_out_db": 20.0},
             {"record": "b", "tp": 60, "fn": 0, "fp": 6, "acquired.residual_mains_uv_rms": 7.0,
              "acquired.cmrr_effective_db": 80.0, "recovered.snr_out_db": 25.0}]
    out = aggregate(units)
    assert out["gross_se"] == 150 / 160 and out["average_se"] == pytest.approx(0.95)
    assert out["gross_ppv"] == 150 / 156 and out["average_ppv"] == pytest.approx((1.0 + 60 / 66) / 2)
    assert out["acquired.residual_mains_uv_rms.worst"] == 7.0 and out["acquired.cmrr_effective_db.null_records"] == 1
    assert out["recovered.snr_out_db.worst_record"] == "a"


def test_batch_command(data_env, tmp_path):
    import json

    from tests.test_cli import invoke, one_line_error

    out = tmp_path / "b"
    r = invoke("batch", "--records", "mitdb/100,mitdb/101", "--duration-s", "10", "--out", str(out),
               env={"ECGFE_DATA_DIR": str(data_env)})
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "batch.json").read_text())
    assert doc["records"] == ["mitdb/100", "mitdb/101"] and len(doc["units"]) == 2
    assert (out / "batch.csv").read_text().count("\n") == 3 and (out / "report.html").is_file()
    # a rerun into its own directory resumes: nothing recomputed
    r = invoke("batch", "--records", "mitdb/100,mitdb/101", "--duration-s", "10", "--out", str(out),
               env={"ECGFE_DATA_DIR": str(data_env)})
    assert r.exit_code == 0 and "0 unit(s) computed, 2 already done" in r.output
    one_line_error(invoke("batch", "--records", "mitbd/100", "--out", str(tmp_path / "c"),
                          env={"ECGFE_DATA_DIR": str(data_env)}), 2, "Did you mean 'mitdb'")


def test_sweep_records_is_the_batch_and_bad_records_are_one_line(data_env, tmp_path):
    import json

    from tests.test_cli import invoke, one_line_error

    env = {"ECGFE_DATA_DIR": str(data_env)}
    common = ["--vary", "amplifier.cmrr_db=80,110", "--records", "mitdb/100", "--duration-s", "3"]
    r = invoke("sweep", *common, "--out", str(tmp_path / "sw"), env=env)
    assert r.exit_code == 0, r.output
    r = invoke("batch", *common, "--out", str(tmp_path / "b"), env=env)
    assert r.exit_code == 0, r.output
    # One engine: the sweep over records writes the batch's files, with the same numbers.
    a, b = (json.loads((tmp_path / d / "batch.json").read_text()) for d in ("sw", "b"))
    assert a == b and [u["amplifier.cmrr_db"] for u in a["units"]] == [80, 110]
    for cmd in (["sweep", "--vary", "amplifier.cmrr_db=80"], ["montecarlo", "--draws", "10", "--simulate", "1"],
                ["batch"]):
        one_line_error(invoke(*cmd, "--records", "mitdb/1000", "--out", str(tmp_path / "x"), env=env), 2,
                       "unknown record mitdb/1000", "Did you mean '100'")
        one_line_error(invoke(*cmd, "--records", "mitbd", "--out", str(tmp_path / "x"), env=env), 2,
                       "unknown database 'mitbd'", "Did you mean 'mitdb'")
    assert not (tmp_path / "x").exists()
    # The units of a batch count against --max-points: 2 points x 23 records.
    one_line_error(invoke("batch", "--records", "mitdb:local", "--vary", "amplifier.cmrr_db=80,110", "--max-points", "40",
                          "--out", str(tmp_path / "x"), env=env), 2,
                   "the study has 46 points (2 design point(s) x 23 record(s)); at most 40 unless --max-points")
