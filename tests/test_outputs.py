"""Output directories: transactions, refusals, file-system failures, locks, provenance, detections, compare."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import wfdb
from typer.testing import CliRunner

import acquire
from acquire._check import FrontendWarning
from acquire.evaluation.scoring import score_record
from acquire.output import files
from acquire.output.files import DirectoryLock, DirectoryLocked, OutputError, output_transaction
from acquire.output.wfdb_writer import WfdbWriter
from acquire.sources.recording import retime_samples
from cli import app
from tests.test_cli import one_line_error

REPO = Path(__file__).resolve().parent.parent


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def listing(directory: Path) -> list[str]:
    """Every entry, hidden ones included."""
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(scope="module")
def sim():
    """One short synthetic simulation, saved by several tests."""
    return acquire.simulate(source__duration_s=5)


# --------------------------------------------------------------------------- transactions


def test_transaction_builds_a_hidden_sibling_then_renames_it(tmp_path):
    out = tmp_path / "run"
    with output_transaction(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".run.tmp-") and tmp.is_dir()
        assert not out.exists()  # nothing at the target until the output is complete
        (tmp / "metrics.json").write_text("{}")
    assert listing(tmp_path) == ["run"] and listing(out) == ["metrics.json"]


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_overwrite_leaves_the_old_directory_and_no_litter(tmp_path, failure):
    out = tmp_path / "run"
    out.mkdir()
    (out / "provenance.json").write_text('"old"')
    with pytest.raises(failure):
        with output_transaction(out, overwrite=True) as tmp:
            (tmp / "provenance.json").write_text('"new"')
            raise failure()
    assert listing(tmp_path) == ["run"] and listing(out) == ["provenance.json"]
    assert (out / "provenance.json").read_text() == '"old"'


def test_a_killed_runs_sibling_is_removed_by_the_next_run_and_only_a_dead_owners(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "--quiet", "simulate", "--duration-s", "3600",
                             "--out", str(out)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".run.tmp-*/.ecgfe-reference-*")):  # under way: its scratch is inside
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no finally runs, the sibling stays behind
    proc.wait()
    (left,) = tmp_path.glob(".run.tmp-*")
    assert json.loads((left / files.OWNER_NAME).read_text())["pid"] == proc.pid
    live = tmp_path / ".run.tmp-live"  # being built by a live process of this host (our parent)
    live.mkdir()
    (live / files.OWNER_NAME).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    (tmp_path / ".run.tmp-unknown").mkdir()  # no owner: it cannot be known dead
    r = invoke("--quiet", "simulate", "--duration-s", "5", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert listing(tmp_path) == [".run.tmp-live", ".run.tmp-unknown", "run"]
    assert not [n for n in listing(out) if n.startswith(".")]  # no owner file, no scratch in the output


def test_overwrite_replaces_the_whole_directory(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "comparison.json").write_text("{}")
    (out / "ad8232").mkdir()
    with pytest.raises(ValueError, match=r"exists and is not empty; use --overwrite"):
        with output_transaction(out):
            pass
    with output_transaction(out, overwrite=True) as tmp:
        (tmp / "metrics.json").write_text("{}")
    assert listing(out) == ["metrics.json"] and listing(tmp_path) == ["run"]


def test_overwrite_replaces_only_ecgfe_outputs(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("x")
    with pytest.raises(ValueError, match="replaces only ecgfe output directories"):
        files.check_output_dir(tmp_path / "notes", overwrite=True)
    with pytest.raises(ValueError, match="contains the current directory"):
        files.check_output_dir(Path.cwd().parent, overwrite=True)


def test_cli_refuses_a_non_empty_directory_and_its_own_input_before_any_work(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    w = WfdbWriter(run, "acquired", 500.0, ["ECG"])
    w.write(np.zeros((1, 500)))
    w.close()
    one_line_error(invoke("simulate", "--out", str(run)), 2, "not empty", "--overwrite")
    one_line_error(invoke("simulate", str(run / "acquired"), "--out", str(run), "--overwrite"), 2,
                   "contains the input", "acquired.hea")
    assert listing(run) == ["acquired.dat", "acquired.hea"]


def test_a_full_disk_names_the_file_and_errno_and_leaves_nothing(sim, tmp_path, monkeypatch):
    real_replace = os.replace

    def full(src, dst):
        if Path(dst).name == "metrics.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(OutputError) as info:
        sim.save(tmp_path / "run")
    assert str(info.value) == f"cannot write {tmp_path / 'run' / 'metrics.json'}: No space left on device (ENOSPC)"
    assert info.value.errno == errno.ENOSPC
    assert listing(tmp_path) == []


def test_a_file_size_limit_is_exit_1_naming_the_file_and_leaves_nothing(tmp_path):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    out = tmp_path / "run"
    r = subprocess.run([sys.executable, str(REPO / "cli.py"), "--quiet", "simulate", "--duration-s", "5",
                        "--out", str(out)], capture_output=True, text=True, preexec_fn=limit, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    m = re.fullmatch(rf"ecgfe: error: cannot write {re.escape(str(out))}/(\S+): File too large \(EFBIG\)", lines[0])
    assert m, lines[0]
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------- the sweep lock


@contextmanager
def lock_holder(directory: Path):
    """A process that holds the lock of ``directory`` until the block ends (then it is killed)."""
    code = ("import sys, time; from acquire.output.files import DirectoryLock\n"
            "with DirectoryLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_lock_excludes_a_live_process_and_takes_over_a_dead_ones(tmp_path):
    d = tmp_path / "sweep"
    with lock_holder(d) as proc:
        held = json.loads((d / files.LOCK_NAME).read_text())
        assert held["pid"] == proc.pid and held["host"] == socket.gethostname()
        with pytest.raises(DirectoryLocked, match=rf"in use by another ecgfe run \(pid {proc.pid} on "
                                                  rf"{re.escape(socket.gethostname())} since"):
            with DirectoryLock(d):
                pass
    # The holder died without releasing: its lock is stale and taken over.
    assert json.loads((d / files.LOCK_NAME).read_text())["pid"] == proc.pid
    with DirectoryLock(d):
        assert json.loads((d / files.LOCK_NAME).read_text())["pid"] == os.getpid()
        with DirectoryLock(d):  # re-entrant in one process
            pass
        assert (d / files.LOCK_NAME).exists()
    assert listing(d) == []


def test_lock_of_another_host_is_not_taken_over(tmp_path):
    (tmp_path / files.LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "since_utc": "t"}))
    with pytest.raises(DirectoryLocked, match="pid 1 on elsewhere"):
        with DirectoryLock(tmp_path):
            pass


def test_a_second_sweep_exits_1_naming_the_holder(tmp_path):
    out = tmp_path / "sw"
    with lock_holder(out) as proc:
        r = invoke("--quiet", "sweep", "--vary", "amplifier.cmrr_db=90", "--duration-s", "5", "--out", str(out))
    one_line_error(r, 1, f"pid {proc.pid}", "in use by another ecgfe run")
    assert listing(out) == [files.LOCK_NAME]  # refused before any point ran


# --------------------------------------------------------------------------- provenance and detections


def test_provenance_hashes_the_inputs_and_keeps_the_command_line(mirror, tmp_path, monkeypatch):
    record = mirror / "mitdb" / "1.0.0" / "100"
    model_dir = tmp_path / "my parts"
    model_dir.mkdir()
    model = model_dir / "amp.toml"
    model.write_text('kind = "inamp"\ndescription = "test part"\n[amp]\ngain_v_per_v = 10.0\ncmrr_db = 90.0\n'
                     'bandwidth_hz = 1.0e5\n[sources]\ncmrr_db = "my datasheet"\n')
    config = tmp_path / "chain.toml"
    config.write_text("[run]\nsettle_s = 1.0\n")
    out = tmp_path / "run"
    argv = ["ecgfe", "--quiet", "simulate", str(record), "--duration-s", "8", "--config", str(config),
            "--set", f'amplifier.file="{model}"', "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    t0 = time.time()
    r = invoke(*argv[1:])
    wall_s = time.time() - t0
    assert r.exit_code == 0, r.output
    prov = json.loads((out / "provenance.json").read_text())
    assert shlex.split(prov["command"]) == argv
    hashed = {(e["role"], Path(e["path"]).resolve()): e["sha256"] for e in prov["inputs"]}
    expected = {("record header", record.with_suffix(".hea")), ("record signals", record.with_suffix(".dat")),
                ("reference annotations", record.with_suffix(".atr")), ("config", config),
                ("amplifier model", model)}
    assert set(hashed) == {(role, p.resolve()) for role, p in expected}
    for (role, path), digest in hashed.items():
        assert digest == hashlib.sha256(path.read_bytes()).hexdigest(), path
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert prov["git_commit"] == head and prov["tool_version"] == acquire.__version__
    assert prov["versions"]["numpy"] == np.__version__ and prov["versions"]["wfdb"] == wfdb.__version__
    assert prov["seeds"] == {"run.seed": 0, "source.seed": 0}
    started = datetime.fromisoformat(prov["started_utc"])
    assert started.utcoffset().total_seconds() == 0
    assert abs((started - datetime.fromtimestamp(t0, timezone.utc)).total_seconds()) < 2
    assert 0 < prov["duration_s"] <= wall_s
    _check_detections_score_as_metrics(record, out)


def _check_detections_score_as_metrics(record: Path, out: Path) -> None:
    """The written .qrs files, read by wfdb and scored as bxb, give metrics.json's counts."""
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["files"]["detections"] == {tap: {"MLII": f"{tap}.qrs", "V5": f"{tap}.qrsb"}
                                          for tap in ("acquired", "recovered")}
    ref = wfdb.rdann(str(record), "atr")
    keep = ref.sample < 8 * 360  # the 8 s window
    ref_sample, ref_symbol = ref.sample[keep], np.asarray(ref.symbol)[keep]
    for tap in ("acquired", "recovered"):
        fs = doc["rates_hz"][tap]
        n = wfdb.rdheader(str(out / tap)).sig_len
        for c, (channel, name) in enumerate(doc["files"]["detections"][tap].items()):
            ann = wfdb.rdann(str(out / tap), name.split(".")[1])
            assert ann.fs == fs and set(ann.symbol) == {"N"} and set(ann.chan) == {c}
            delay = doc["delay_s"][tap]
            # bxb's -f in record time, moved to the tap like the annotations
            start = retime_samples([math.floor(doc["score_exclude_s"] * 360 + 0.5)], 360.0, fs, delay)[0]
            scored = score_record(retime_samples(ref_sample, 360.0, fs, delay), ref_symbol, ann.sample, fs,
                                  exclude_first_s=start / fs, end_sample=n)
            m = doc["channels"][channel][tap]
            assert (scored.tp, scored.fn, scored.fp) == (m["qrs_tp"], m["qrs_fn"], m["qrs_fp"]), (tap, channel)
            assert scored.tp > 5


def test_saved_detections_are_the_simulations_and_the_api_states_itself(sim, tmp_path):
    out = sim.save(tmp_path / "run")
    assert "files" not in sim.metrics  # the in-memory document is unchanged
    for tap in ("acquired", "recovered"):
        ann = wfdb.rdann(str(out / tap), "qrs")
        np.testing.assert_array_equal(ann.sample, sim.simulation.detections[tap][0])
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["command"] == "python API" and prov["inputs"] == []


def test_a_sample_at_the_reserved_wfdb_value_is_clipped_and_reported(sim, tmp_path):
    y = sim.simulation.result.recovered_v
    kept = y[0, 10]
    y[0, 10] = -(2**31) * 1e-9  # exactly -2^31 adu at 1 nV/adu: WFDB's invalid-sample value
    try:
        with pytest.warns(FrontendWarning, match="recovered: 1 sample"):
            out = sim.save(tmp_path / "run")
    finally:
        y[0, 10] = kept
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["files"]["records"]["recovered"]["clipped_samples"] == 1
    assert doc["files"]["records"]["acquired"]["clipped_samples"] == 0
    rec = wfdb.rdrecord(str(out / "recovered"), physical=False)
    assert rec.d_signal[10, 0] == -(2**31 - 1) and not np.isnan(wfdb.rdrecord(str(out / "recovered")).p_signal).any()


# --------------------------------------------------------------------------- compare, then simulate over it


def test_compare_runs_are_complete_and_linked_then_replaced_whole(tmp_path):
    out = tmp_path / "d"
    r = invoke("--quiet", "compare", "ad8232", "ads1298", "--duration-s", "5", "--out", str(out))
    assert r.exit_code == 0, r.output
    report = (out / "report.html").read_text()
    hrefs = re.findall(r'<a href="([^"#]+)"', report)
    for preset in ("ad8232", "ads1298"):
        run = out / preset
        for name in ("metrics.json", "config.toml", "provenance.json", "report.html", "acquired.hea",
                     "acquired.dat", "recovered.hea", "recovered.dat", "acquired.qrs", "recovered.qrs",
                     "time_panel.png", "psd.png", "bode.png"):
            assert (run / name).is_file(), (preset, name)
        assert f'preset = "{preset}"' in (run / "config.toml").read_text()
        assert json.loads((run / "metrics.json").read_text())["provenance"]["preset"] == preset
        assert f"{preset}/report.html" in hrefs and f"{preset}/metrics.json" in hrefs
    assert all((out / h).is_file() for h in hrefs)
    one_line_error(invoke("simulate", "--duration-s", "5", "--out", str(out)), 2, "--overwrite")
    r = invoke("--quiet", "simulate", "--duration-s", "5", "--out", str(out), "--overwrite")
    assert r.exit_code == 0, r.output
    assert not (out / "comparison.json").exists() and not (out / "ad8232").exists()
    assert not list(out.glob("time_panel_*")) and not list(out.glob("bode_*"))
    headings = re.findall(r"<h2>(.*?)</h2>", (out / "report.html").read_text())
    assert "Preset comparison" not in headings and "Runs" not in headings
    assert listing(tmp_path) == ["d"]
