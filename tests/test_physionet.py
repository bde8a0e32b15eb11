"""PhysioNet catalog, loaders and fetch, against wfdb, hand-computed values and a loopback server.

All records come from the local mirror (``mirror`` fixture). Downloads go
through a real ``http.server`` bound to 127.0.0.1 that serves the mirror
read-only; nothing touches the network.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from acquire.sources import physionet  # first: it imports wfdb with a pandas deprecation silenced
from acquire.sources.physionet import FetchError
from acquire.sources.recording import AAMI_CLASS

import wfdb  # noqa: E402  (after acquire.sources.physionet, see above)

# wfdb 4.3's rdann/wrann (used here as the oracle) call a pandas API deprecated in pandas 3.1.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
REPO = Path(__file__).resolve().parent.parent
MITDB_FILES_100 = ["100.hea", "100.dat", "100.atr"]


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    """An empty ECGFE_DATA_DIR; no mirror URL from the environment."""
    home = tmp_path / "data"
    monkeypatch.setenv("ECGFE_DATA_DIR", str(home))
    monkeypatch.delenv("ECGFE_PHYSIONET_URL", raising=False)
    return home


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves a directory read-only (GET/HEAD) and records every requested path."""

    def log_message(self, format, *args):
        self.server.requests.append(self.path)


class _FlipByteHandler(_QuietHandler):
    """Serves 100.dat with its 1000th byte inverted (same length)."""

    def copyfile(self, source, outputfile):
        data = bytearray(source.read())
        if self.path.endswith("/100.dat"):
            data[999] ^= 0xFF
        outputfile.write(bytes(data))


class _DropHandler(_QuietHandler):
    """Sends the full Content-Length for 100.dat, then closes after half of it."""

    def copyfile(self, source, outputfile):
        data = source.read()
        if self.path.endswith("/100.dat"):
            data = data[: len(data) // 2]
            self.close_connection = True
        outputfile.write(data)


@contextlib.contextmanager
def serve(directory: Path, handler=_QuietHandler):
    """Serve ``directory`` on 127.0.0.1 (free port); yield (base URL, list of requested paths)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- catalog


def test_catalog_facts():
    dbs = physionet.catalog()
    assert list(dbs) == ["mitdb", "ptbdb"]
    mitdb, ptbdb = dbs["mitdb"], dbs["ptbdb"]
    # MIT-BIH: 48 records, 100-124 and 200-234 with gaps (no 110, 120, 204, 206, ...); 360 Hz.
    assert len(mitdb.records) == 48 and mitdb.records[0] == "100" and mitdb.records[-1] == "234"
    assert {"110", "120", "204", "206", "211", "216", "218", "229"}.isdisjoint(mitdb.records)
    assert (mitdb.fs_hz, mitdb.version, mitdb.annotator) == (360.0, "1.0.0", "atr")
    # PTB: 549 records from 290 subjects, 15 leads at 1000 Hz, no annotator.
    assert len(ptbdb.records) == 549
    assert len({r.split("/")[0] for r in ptbdb.records}) == 290
    assert (ptbdb.fs_hz, len(ptbdb.channels), ptbdb.annotator) == (1000.0, 15, None)
    assert ptbdb.record_files("patient001/s0010_re") == (
        "patient001/s0010_re.hea",
        "patient001/s0010_re.dat",
        "patient001/s0010_re.xyz",
    )


def test_catalog_covers_the_mirror_records_files(mirror):
    # Oracle: PhysioNet's own RECORDS files (the mirror keeps them byte-exact).
    for slug in ("mitdb", "ptbdb"):
        listed = (mirror / slug / "1.0.0" / "RECORDS").read_text().split()
        assert listed and set(listed) <= set(physionet.get_database(slug).records)


def test_unknown_database_suggests():
    with pytest.raises(ValueError) as info:
        physionet.get_database("mitbd")
    assert str(info.value) == "unknown database 'mitbd'; known: mitdb, ptbdb. Did you mean 'mitdb'?"


@pytest.mark.skipif(
    int(importlib.metadata.version("setuptools").split(".")[0]) < 77,
    reason="building the wheel offline needs setuptools>=77 in the test environment",
)
def test_wheel_ships_catalog_and_loader_finds_it(tmp_path):
    # Build from a copy of the source tree, so the checkout gets no build/ folder.
    src = tmp_path / "src"
    junk = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*cache", ".hypothesis", "out"
    )
    shutil.copytree(REPO, src, ignore=junk)
    for download in (src / "datasets").iterdir():
        if download.is_dir():
            shutil.rmtree(download)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(wheels), str(src)],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},  # offline: must not reach any index
    )
    (wheel,) = wheels.glob("ecgfe-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    assert "acquire/_catalog/mitdb.toml" in names and "acquire/_catalog/ptbdb.toml" in names
    assert not any(n.startswith("datasets/") for n in names)  # `datasets` must never be importable
    probe = "import acquire, acquire.sources.physionet as p; print(acquire.__file__); print(*p.catalog())"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(site)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(site))
    assert out[1] == "mitdb ptbdb"


# --------------------------------------------------------------------------- data directory


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("ECGFE_DATA_DIR", raising=False)
    assert physionet.data_dir() == tmp_path / "home" / ".cache" / "ecgfe"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert physionet.data_dir() == tmp_path / "xdg" / "ecgfe"
    monkeypatch.setenv("ECGFE_DATA_DIR", str(tmp_path / "mine"))
    assert physionet.data_dir() == tmp_path / "mine"


def test_local_records_lists_downloaded(mirror, monkeypatch):
    monkeypatch.setenv("ECGFE_DATA_DIR", str(mirror))
    found = physionet.local_records()
    assert ("mitdb", "1.0.0", "100") in found
    assert ("ptbdb", "1.0.0", "patient001/s0010_re") in found
    # Oracle: the mirror's RECORDS files list exactly what it holds.
    expected = len((mirror / "mitdb/1.0.0/RECORDS").read_text().split()) + 1
    assert len(found) == expected


# --------------------------------------------------------------------------- loading


def test_mitdb_100_matches_wfdb_in_volts(mirror):
    path = mirror / "mitdb" / "1.0.0" / "100"
    rec = physionet.load_wfdb_path(path)
    ref = wfdb.rdrecord(str(path))
    assert rec.channel_names == ("MLII", "V5")
    assert rec.fs_hz == 360.0
    assert rec.signals_v.shape == (2, 650000)
    # Same arithmetic as wfdb (mV from the header, times 1e-3): exact equality.
    np.testing.assert_array_equal(rec.signals_v, ref.p_signal.T * 1e-3)
    # Hand check from 100.hea: gain 200 adu/mV, baseline = ADC zero 1024, first
    # samples 995 and 1011 -> (995 - 1024)/200 mV and (1011 - 1024)/200 mV.
    # Tolerance: one rounding of the float division.
    assert rec.signals_v[:, 0] == pytest.approx([-0.145e-3, -0.065e-3], rel=1e-12)


def test_mitdb_100_annotations_map_to_aami(mirror, monkeypatch):
    monkeypatch.setenv("ECGFE_DATA_DIR", str(mirror))
    rec = physionet.load_physionet("mitdb/100")
    assert rec.provenance == {
        "database": "mitdb",
        "version": "1.0.0",
        "record": "100",
        "path": str(mirror / "mitdb" / "1.0.0" / "100"),
    }
    ann = wfdb.rdann(str(mirror / "mitdb" / "1.0.0" / "100"), "atr")
    beats = [(s, sym) for s, sym in zip(ann.sample, ann.symbol) if sym in AAMI_CLASS]
    np.testing.assert_array_equal(rec.annotations.sample, [s for s, _ in beats])
    counts = collections.Counter(rec.annotations.aami_class)
    assert counts == collections.Counter(AAMI_CLASS[sym] for _, sym in beats)
    # MIT-BIH directory, record 100: 2239 normal beats, 33 APCs, 1 PVC (the one
    # '+' rhythm annotation is not a beat and is dropped).
    assert counts == {"N": 2239, "S": 33, "V": 1}


def test_beat_symbols_kept_and_mapped(mirror, tmp_path):
    for name in ("100.hea", "100.dat"):
        shutil.copy(mirror / "mitdb" / "1.0.0" / name, tmp_path / name)
    symbols = ["L", "A", "E", "F", "/", "+", "~", "|", "N"]
    wfdb.wrann("100", "atr", np.arange(10, 100, 10), symbol=symbols, write_dir=str(tmp_path))
    rec = physionet.load_wfdb_path(tmp_path / "100")
    # Non-beat annotations (+ rhythm, ~ noise, | artefact) are dropped.
    assert rec.annotations.symbol.tolist() == ["L", "A", "E", "F", "/", "N"]
    assert rec.annotations.sample.tolist() == [10, 20, 30, 40, 50, 90]
    # Hand-checked AAMI EC57 classes: L->N, A->S, E->V, F->F, /->Q, N->N.
    assert rec.annotations.aami_class.tolist() == ["N", "S", "V", "F", "Q", "N"]


def test_ptbdb_record_loads_15_leads(mirror, monkeypatch):
    monkeypatch.setenv("ECGFE_DATA_DIR", str(mirror))
    rec = physionet.load_physionet("ptbdb/patient001/s0010_re")
    ref = wfdb.rdrecord(str(mirror / "ptbdb" / "1.0.0" / "patient001" / "s0010_re"))
    assert rec.signals_v.shape == (15, 38400) and rec.fs_hz == 1000.0
    assert rec.channel_names == physionet.get_database("ptbdb").channels
    assert rec.annotations is None
    np.testing.assert_array_equal(rec.signals_v, ref.p_signal.T * 1e-3)


def test_units_scale_to_volts(mirror, tmp_path):
    # The same samples declared in uV must come out 1000 times smaller than in mV.
    shutil.copy(mirror / "mitdb" / "1.0.0" / "100.dat", tmp_path / "100.dat")
    header = (mirror / "mitdb" / "1.0.0" / "100.hea").read_bytes()
    (tmp_path / "100.hea").write_bytes(header.replace(b" 200 11 ", b" 200/uV 11 "))
    rec_uv = physionet.load_wfdb_path(tmp_path / "100")
    rec_mv = physionet.load_wfdb_path(mirror / "mitdb" / "1.0.0" / "100")
    np.testing.assert_allclose(rec_uv.signals_v[:, :1000], rec_mv.signals_v[:, :1000] * 1e-3, rtol=1e-12)


def test_load_errors(data_home):
    with pytest.raises(FileNotFoundError) as info:
        physionet.load_physionet("mitdb/100")
    assert str(info.value) == "record mitdb/100 is not downloaded; run: ecgfe fetch mitdb 100"
    with pytest.raises(ValueError, match=r"unknown database 'mitbd'.*Did you mean 'mitdb'\?"):
        physionet.load_physionet("mitbd/100")
    with pytest.raises(ValueError, match=r"unknown record mitdb/1000;.*Did you mean '100'\?"):
        physionet.load_physionet("mitdb/1000")
    with pytest.raises(ValueError, match=r"name must be '<database>/<record>'.*got 'mitdb'"):
        physionet.load_physionet("mitdb")


def test_truncated_or_garbled_record_says_refetch(mirror, data_home):
    target = data_home / "mitdb" / "1.0.0"
    target.mkdir(parents=True)
    shutil.copy(mirror / "mitdb" / "1.0.0" / "100.hea", target / "100.hea")
    # 650000 frames x 2 signals x 12 bits = 1950000 bytes expected; keep 99999.
    (target / "100.dat").write_bytes((mirror / "mitdb" / "1.0.0" / "100.dat").read_bytes()[:99999])
    with pytest.raises(ValueError) as info:
        physionet.load_physionet("mitdb/100")
    msg = str(info.value)
    assert "\n" not in msg
    assert f"{target / '100.dat'} is corrupt or truncated (99999 of the 1950000 bytes" in msg
    assert msg.endswith("re-fetch it: ecgfe fetch mitdb 100")
    (target / "100.dat").unlink()
    with pytest.raises(ValueError, match=r"100\.dat is missing; the record is incomplete; re-fetch"):
        physionet.load_physionet("mitdb/100")
    (target / "100.hea").write_text("not a header\n")
    with pytest.raises(ValueError, match=r"100\.hea is corrupt or unreadable .*re-fetch"):
        physionet.load_physionet("mitdb/100")


# --------------------------------------------------------------------------- fetch


def test_fetch_over_http_then_skip(mirror, data_home):
    events = []
    with serve(mirror) as (url, requests):
        report = physionet.fetch("mitdb", ["100"], base_url=url, progress=lambda *a: events.append(a))
    assert requests[0] == "/mitdb/1.0.0/SHA256SUMS.txt"
    target = data_home / "mitdb" / "1.0.0"
    assert report.directory == target and report.records == ("100",)
    assert list(report.downloaded) == MITDB_FILES_100 and report.skipped == ()
    assert _files(target) == sorted(MITDB_FILES_100)  # no temp files left
    for name in MITDB_FILES_100:
        assert (target / name).read_bytes() == (mirror / "mitdb" / "1.0.0" / name).read_bytes()
    sizes = {name: (mirror / "mitdb" / "1.0.0" / name).stat().st_size for name in MITDB_FILES_100}
    assert report.nbytes_downloaded == sum(sizes.values())
    # Progress: increments add up to each file's size, total is its Content-Length.
    for name, size in sizes.items():
        mine = [e for e in events if e[2] == name]
        assert sum(e[0] for e in mine) == size and {e[1] for e in mine} == {size}
    np.testing.assert_array_equal(
        physionet.load_physionet("mitdb/100").signals_v,
        physionet.load_wfdb_path(mirror / "mitdb" / "1.0.0" / "100").signals_v,
    )

    mtimes = {name: (target / name).stat().st_mtime_ns for name in MITDB_FILES_100}
    with serve(mirror) as (url, requests):
        again = physionet.fetch("mitdb", ["100"], base_url=url)
    assert again.downloaded == () and list(again.skipped) == MITDB_FILES_100
    assert again.nbytes_downloaded == 0 and requests == ["/mitdb/1.0.0/SHA256SUMS.txt"]
    assert {name: (target / name).stat().st_mtime_ns for name in MITDB_FILES_100} == mtimes


def test_fetch_checksum_mismatch_keeps_nothing(mirror, data_home):
    with serve(mirror, _FlipByteHandler) as (url, _):
        with pytest.raises(FetchError) as info:
            physionet.fetch("mitdb", ["100"], base_url=url)
    msg = str(info.value)
    expected = "b2ea3c250e56e48f4b7b90697832b8ecd1afa1e0bb31f2dcfea4ed6e1075a639"  # SHA256SUMS.txt
    assert f"checksum mismatch for {url}/mitdb/1.0.0/100.dat: SHA-256 expected {expected}, got " in msg
    assert "\n" not in msg
    # The header came before the .dat and is verified; no .dat, no temp file.
    assert _files(data_home / "mitdb" / "1.0.0") == ["100.hea"]


def test_fetch_dropped_connection_keeps_nothing(mirror, data_home):
    with serve(mirror, _DropHandler) as (url, _):
        with pytest.raises(FetchError, match=r"100\.dat was interrupted: got 975000 of 1950000 bytes"):
            physionet.fetch("mitdb", ["100"], base_url=url)
    assert _files(data_home / "mitdb" / "1.0.0") == ["100.hea"]


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "100;rm", "", "a//b", "./100"])
def test_fetch_refuses_unsafe_names_before_any_request(mirror, data_home, name):
    with serve(mirror) as (url, requests):
        with pytest.raises(FetchError, match="record name must be a relative path"):
            physionet.fetch("mitdb", ["100", name], base_url=url)
    assert requests == []
    assert not data_home.exists()


def test_fetch_unknown_names(mirror, data_home):
    unknown_db = r"unknown database 'mitbd'; known: mitdb, ptbdb\. Did you mean 'mitdb'\?"
    with pytest.raises(FetchError, match=unknown_db):
        physionet.fetch("mitbd", ["100"])
    with pytest.raises(FetchError, match=r"unknown record mitdb/1000;.*Did you mean '100'\?"):
        physionet.fetch("mitdb", ["1000"])
    # 102 is a real mitdb record, but this mirror does not hold it (not in its SHA256SUMS).
    with pytest.raises(FetchError, match=r"record mitdb/102 is not listed in .*SHA256SUMS\.txt"):
        physionet.fetch("mitdb", ["102"], base_url=str(mirror))
    assert not data_home.exists()


def test_fetch_unreachable_server(data_home):
    with socket.socket() as s:  # find a free port, then close it: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(FetchError) as info:
        physionet.fetch("mitdb", ["100"], base_url=url)
    msg = str(info.value)
    assert msg.startswith(f"cannot reach {url}/mitdb/1.0.0/SHA256SUMS.txt (")
    assert msg.endswith(
        "set $ECGFE_PHYSIONET_URL to a reachable mirror (http(s) URL or local directory)."
    )
    assert "\n" not in msg


def test_fetch_missing_file_on_server(mirror, tmp_path, data_home):
    # A mirror whose SHA256SUMS lists 100.dat but which lacks the file.
    partial = tmp_path / "partial" / "mitdb" / "1.0.0"
    partial.mkdir(parents=True)
    for name in ("SHA256SUMS.txt", "100.hea"):
        shutil.copy(mirror / "mitdb" / "1.0.0" / name, partial / name)
    with serve(tmp_path / "partial") as (url, _):
        with pytest.raises(FetchError, match=r"100\.dat is missing on the server \(HTTP 404\)"):
            physionet.fetch("mitdb", ["100"], base_url=url)
    assert _files(data_home / "mitdb" / "1.0.0") == ["100.hea"]


@pytest.mark.parametrize("how", ["directory", "file-url", "environment"])
def test_fetch_from_local_directory(mirror, data_home, monkeypatch, how):
    base = {"directory": str(mirror), "file-url": mirror.as_uri(), "environment": None}[how]
    if how == "environment":
        monkeypatch.setenv("ECGFE_PHYSIONET_URL", str(mirror))
    report = physionet.fetch("ptbdb", ["patient001/s0010_re"], base_url=base)
    assert report.downloaded == physionet.get_database("ptbdb").record_files("patient001/s0010_re")
    rec = physionet.load_physionet("ptbdb/patient001/s0010_re")
    ref = physionet.load_wfdb_path(mirror / "ptbdb" / "1.0.0" / "patient001" / "s0010_re")
    assert rec.signals_v.shape == (15, 38400)
    np.testing.assert_array_equal(rec.signals_v, ref.signals_v)


def test_fetch_all_listed_records_of_a_mirror(mirror, data_home):
    # records=None: every catalog record the server's SHA256SUMS lists (here, one).
    report = physionet.fetch("ptbdb", base_url=str(mirror))
    assert report.records == ("patient001/s0010_re",)
    assert physionet.local_records() == [("ptbdb", "1.0.0", "patient001/s0010_re")]
