"""The Dask backend: a real cluster (a ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1).

The cluster is started once for the module, bounded in time (60 s to come up, 90 s a test), and torn down (its process
groups killed) whatever the tests do. Every unit must come back bit for bit equal to the local run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from acquire.config import resolve_config  # noqa: E402
from acquire.studies.batch import run_batch  # noqa: E402
from tests.test_cli import invoke, one_line_error  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHORT = {"source.duration_s": 4.0, "source.channels": [0]}
POINTS = [{"amplifier.cmrr_db": 80.0}, {"amplifier.cmrr_db": 110.0}]
RECORDS = ["mitdb/100", "mitdb/203"]


def _dask(*args) -> list[str]:
    """The ``dask`` command, run by this interpreter."""
    return [sys.executable, "-m", "dask", *args]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The scheduler's address; workers read the PhysioNet mirror as their shared data directory."""
    from tests.conftest import MIRROR

    if not (MIRROR / "mitdb" / "1.0.0" / "100.hea").exists():
        pytest.skip(f"PhysioNet mirror not found at {MIRROR}")
    tmp = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PYTHONPATH": str(REPO), "ECGFE_DATA_DIR": str(MIRROR)}
    file = tmp / "scheduler.json"
    common = {"cwd": tmp, "env": env, "start_new_session": True, "stdout": subprocess.DEVNULL,
              "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                    "--scheduler-file", str(file)), **common)]
    try:
        procs += [subprocess.Popen(_dask("worker", "--scheduler-file", str(file), "--nworkers", "1",
                                         "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"), **common)
                  for _ in range(2)]
        from distributed import Client

        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        with Client(address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
        yield address
    finally:
        for p in procs:  # each in its own session: the group holds a worker's nanny and its process
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


#: Most seconds one test may take (about 4x its time on a loaded 2-core machine) before it is failed.
TEST_TIMEOUT_S = 90


@pytest.fixture(autouse=True)
def time_limit():
    """Fail a test that hangs (a lost worker, a stuck scheduler) instead of hanging the suite: SIGALRM."""
    def expire(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def data_env(mirror, monkeypatch):
    monkeypatch.setenv("ECGFE_DATA_DIR", str(mirror))
    return mirror


def _files(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in (directory / "points").iterdir()}


def test_a_batch_on_the_cluster_equals_the_local_run_bit_for_bit(cluster, data_env, tmp_path):
    cfg = resolve_config(values=SHORT)
    local = run_batch(cfg, RECORDS, POINTS, tmp_path / "local", jobs=1)
    remote = run_batch(cfg, RECORDS, POINTS, tmp_path / "dask", scheduler=cluster)
    assert sorted(remote.computed) == sorted(local.computed) and len(remote.computed) == 4
    # Same floats, not merely close: the unit files (every metric, repr-exact in JSON) are byte-identical.
    assert _files(tmp_path / "dask") == _files(tmp_path / "local")
    assert remote.units == local.units and remote.summary == local.summary
    # The workers loaded each record by name from their data directory (no array went through the scheduler).
    assert [(d["provenance"]["source"]["record"], d["provenance"]["source"]["path"]) for d in remote.documents] == [
        (r.split("/")[1], str(data_env / "mitdb" / "1.0.0" / r.split("/")[1])) for _ in POINTS for r in RECORDS]


def test_the_montecarlo_command_on_the_cluster_equals_the_local_run(cluster, data_env, tmp_path):
    env = {"ECGFE_DATA_DIR": str(data_env)}
    mc = ["montecarlo", "--draws", "50", "--simulate", "2", "--records", "mitdb/100,mitdb/203",
          "--duration-s", "2", "--seed", "3"]
    r = invoke(*mc, "--scheduler", cluster, "--out", str(tmp_path / "mc"), env=env)
    assert r.exit_code == 0, r.output
    r = invoke(*mc, "--out", str(tmp_path / "mc_local"), env=env)
    assert r.exit_code == 0, r.output
    a, b = (json.loads((tmp_path / d / "montecarlo.json").read_text()) for d in ("mc", "mc_local"))
    assert a["presets"] == b["presets"]
    (name, p), = a["presets"].items()
    assert _files(tmp_path / "mc" / name / "simulated") == _files(tmp_path / "mc_local" / name / "simulated")
    assert [(row["draw"], row["record"]) for row in p["simulated"]] == [
        (0, "mitdb/100"), (0, "mitdb/203"), (1, "mitdb/100"), (1, "mitdb/203")]


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    from acquire.studies import scheduler

    monkeypatch.setattr(scheduler, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        out = tmp_path / "sw"
        r = invoke("sweep", "--vary", "amplifier.cmrr_db=80,100", "--duration-s", "2", "--scheduler", address,
                   "--out", str(out))
    one_line_error(r, 1, f"cannot reach the Dask scheduler at {address} within 1 s")
    assert not out.exists()
    one_line_error(invoke("sweep", "--vary", "amplifier.cmrr_db=80", "--scheduler", "127.0.0.1:8786",
                          "--out", str(out)), 2, "--scheduler expects 'local' or a Dask scheduler address")
