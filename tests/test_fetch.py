"""fetch: SHA-256 verified downloads from a loopback HTTP server and local directories (no network)."""

from __future__ import annotations

import shutil
import socket

import numpy as np

import pytest

from acquire.sources import fetch as fetching
from acquire.sources import physionet
from acquire.sources.fetch import FetchError
from tests.loopback import DropHandler, FlipByteHandler, files_under, serve

MITDB_FILES_100 = ["100.hea", "100.dat", "100.atr"]


def test_fetch_over_http_then_skip(mirror, data_home):
    events = []
    with serve(mirror) as (url, requests):
        report = fetching.fetch("mitdb", ["100"], base_url=url, progress=lambda *a: events.append(a))
    assert requests[0] == "/mitdb/1.0.0/SHA256SUMS.txt"
    target = data_home / "mitdb" / "1.0.0"
    assert report.directory == target and report.records == ("100",)
    assert list(report.downloaded) == MITDB_FILES_100 and report.skipped == ()
    assert files_under(target) == sorted(MITDB_FILES_100)  # no temp files left
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
        again = fetching.fetch("mitdb", ["100"], base_url=url)
    assert again.downloaded == () and list(again.skipped) == MITDB_FILES_100
    assert again.nbytes_downloaded == 0 and requests == ["/mitdb/1.0.0/SHA256SUMS.txt"]
    assert {name: (target / name).stat().st_mtime_ns for name in MITDB_FILES_100} == mtimes


def test_fetch_checksum_mismatch_keeps_nothing(mirror, data_home):
    with serve(mirror, FlipByteHandler) as (url, _):
        with pytest.raises(FetchError) as info:
            fetching.fetch("mitdb", ["100"], base_url=url)
    msg = str(info.value)
    expected = "b2ea3c250e56e48f4b7b90697832b8ecd1afa1e0bb31f2dcfea4ed6e1075a639"  # SHA256SUMS.txt
    assert f"checksum mismatch for {url}/mitdb/1.0.0/100.dat: SHA-256 expected {expected}, got " in msg
    assert "\n" not in msg
    # A record is renamed into place whole or not at all: the verified header is not kept
    # without its .dat, and no temp file is left.
    assert files_under(data_home / "mitdb" / "1.0.0") == []
    assert physionet.local_records() == []


def test_fetch_dropped_connection_keeps_nothing(mirror, data_home):
    with serve(mirror, DropHandler) as (url, _):
        with pytest.raises(FetchError, match=r"100\.dat was interrupted: got 975000 of 1950000 bytes"):
            fetching.fetch("mitdb", ["100"], base_url=url)
    assert files_under(data_home / "mitdb" / "1.0.0") == []


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "100;rm", "", "a//b", "./100"])
def test_fetch_refuses_unsafe_names_before_any_request(mirror, data_home, name):
    with serve(mirror) as (url, requests):
        with pytest.raises(FetchError, match="record name must be a relative path"):
            fetching.fetch("mitdb", ["100", name], base_url=url)
    assert requests == []
    assert not data_home.exists()


def test_fetch_unknown_names(mirror, data_home):
    unknown_db = r"unknown database 'mitbd'; known: mitdb, ptbdb\. Did you mean 'mitdb'\?"
    with pytest.raises(FetchError, match=unknown_db):
        fetching.fetch("mitbd", ["100"])
    with pytest.raises(FetchError, match=r"unknown record mitdb/1000;.*Did you mean '100'\?"):
        fetching.fetch("mitdb", ["1000"])
    # 102 is a real mitdb record, but this mirror does not hold it (not in its SHA256SUMS).
    with pytest.raises(FetchError, match=r"record mitdb/102 is not listed in .*SHA256SUMS\.txt"):
        fetching.fetch("mitdb", ["102"], base_url=str(mirror))
    assert not data_home.exists()


def test_fetch_unreachable_server(data_home):
    with socket.socket() as s:  # find a free port, then close it: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(FetchError) as info:
        fetching.fetch("mitdb", ["100"], base_url=url)
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
            fetching.fetch("mitdb", ["100"], base_url=url)
    assert files_under(data_home / "mitdb" / "1.0.0") == []


@pytest.mark.parametrize("how", ["directory", "file-url", "environment"])
def test_fetch_from_local_directory(mirror, data_home, monkeypatch, how):
    base = {"directory": str(mirror), "file-url": mirror.as_uri(), "environment": None}[how]
    if how == "environment":
        monkeypatch.setenv("ECGFE_PHYSIONET_URL", str(mirror))
    report = fetching.fetch("ptbdb", ["patient001/s0010_re"], base_url=base)
    assert report.downloaded == physionet.get_database("ptbdb").record_files("patient001/s0010_re")
    rec = physionet.load_physionet("ptbdb/patient001/s0010_re")
    ref = physionet.load_wfdb_path(mirror / "ptbdb" / "1.0.0" / "patient001" / "s0010_re")
    assert rec.signals_v.shape == (15, 38400)
    np.testing.assert_array_equal(rec.signals_v, ref.signals_v)


def test_fetch_all_listed_records_of_a_mirror(mirror, data_home):
    # records=None: every catalog record the server's SHA256SUMS lists (here, one).
    report = fetching.fetch("ptbdb", base_url=str(mirror))
    assert report.records == ("patient001/s0010_re",)
    assert physionet.local_records() == [physionet.LocalRecord("ptbdb", "1.0.0", "patient001/s0010_re")]
