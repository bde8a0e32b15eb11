"""fetch against hostile or incomplete servers (loopback only): bounded in time and size,
complete records or none, no ``.part`` files left behind, the user's umask."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acquire.sources import fetch as fetching
from acquire.sources import physionet
from acquire.sources.fetch import FetchError
from tests.loopback import DripHandler, EndlessHandler, StallHandler, files_under, serve

REPO = Path(__file__).resolve().parent.parent
MITDB_FILES_100 = ["100.hea", "100.dat", "100.atr"]


def mirror_view(mirror: Path, root: Path, present=MITDB_FILES_100, listed=MITDB_FILES_100) -> Path:
    """A mirror of mitdb record 100 under ``root`` holding the ``present`` files (symlinks to the
    shared mirror, nothing copied) and a SHA256SUMS.txt listing the ``listed`` ones."""
    folder = root / "mitdb" / "1.0.0"
    folder.mkdir(parents=True)
    source = mirror / "mitdb" / "1.0.0"
    for name in present:
        (folder / name).symlink_to(source / name)
    sums = [f"{hashlib.sha256((source / n).read_bytes()).hexdigest()} {n}\n" for n in listed]
    (folder / "SHA256SUMS.txt").write_text("".join(sums))
    return root


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


# --------------------------------------------------------------------------- time and size


@pytest.mark.parametrize("handler", [DripHandler, StallHandler])
def test_slow_or_stalled_server_ends_by_the_deadline(mirror, data_home, handler):
    with serve(mirror, handler) as (url, _):
        start = time.monotonic()
        with pytest.raises(FetchError) as info:
            fetching.fetch("mitdb", ["100"], base_url=url, deadline_s=1.0)
        elapsed = time.monotonic() - start
    # The drip is stopped by the deadline itself; the stall by the read timeout,
    # min(TIMEOUT_S, deadline_s) = 1 s. Either way within twice the deadline.
    assert 1.0 <= elapsed < 2.5, elapsed
    msg = one_line(info)
    assert f"{url}/mitdb/1.0.0/100.dat" in msg and "nothing kept" in msg
    fragment = "passed its 1 s deadline" if handler is DripHandler else "was interrupted after 1000 bytes"
    assert fragment in msg
    assert files_under(data_home) == []


def test_deadline_from_the_environment(mirror, data_home, monkeypatch):
    monkeypatch.setenv("ECGFE_FETCH_DEADLINE_S", "0.5")
    with serve(mirror, DripHandler) as (url, _):
        start = time.monotonic()
        with pytest.raises(FetchError, match=r"passed its 0\.5 s deadline .*ECGFE_FETCH_DEADLINE_S"):
            fetching.fetch("mitdb", ["100"], base_url=url)
        assert time.monotonic() - start < 1.5
    assert files_under(data_home) == []


@pytest.mark.parametrize("variable, value", [("ECGFE_FETCH_DEADLINE_S", "soon"),
                                             ("ECGFE_FETCH_DEADLINE_S", "-1"),
                                             ("ECGFE_FETCH_MAX_BYTES", "1.5e6"),
                                             ("ECGFE_FETCH_MAX_BYTES", "0")])
def test_bad_limits_are_refused_before_any_request(mirror, data_home, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with serve(mirror) as (url, requests):
        with pytest.raises(ValueError, match=rf"^{variable} must be a positive number of .*; got '{value}'\.$"):
            fetching.fetch("mitdb", ["100"], base_url=url)
    assert requests == []
    with pytest.raises(ValueError, match=r"^deadline_s must be a positive number of seconds; got nan\.$"):
        fetching.fetch("mitdb", ["100"], base_url=url, deadline_s=float("nan"))


def test_no_content_length_stops_at_the_size_cap(mirror, data_home):
    with serve(mirror, EndlessHandler) as (url, _):
        start = time.monotonic()
        with pytest.raises(FetchError) as info:
            fetching.fetch("mitdb", ["100"], base_url=url, max_bytes=100_000)
        assert time.monotonic() - start < 5
    msg = one_line(info)
    assert f"{url}/mitdb/1.0.0/100.dat sent more than the 100000 bytes allowed per file" in msg
    assert files_under(data_home) == []


def test_content_length_above_the_cap_is_refused_unread(mirror, data_home, monkeypatch):
    monkeypatch.setenv("ECGFE_FETCH_MAX_BYTES", "100000")
    events = []
    with serve(mirror) as (url, _):
        with pytest.raises(FetchError) as info:
            fetching.fetch("mitdb", ["100"], base_url=url, progress=lambda *a: events.append(a))
    assert "100.dat is 1950000 bytes, more than the 100000 allowed per file" in one_line(info)
    assert {e[2] for e in events} == {"100.hea"}  # not one block of 100.dat was read
    assert files_under(data_home) == []


# --------------------------------------------------------------------------- complete records or none


def test_annotation_file_not_in_sums_fetches_nothing(mirror, tmp_path, data_home):
    view = mirror_view(mirror, tmp_path / "view", listed=["100.hea", "100.dat"])
    with serve(view) as (url, requests):
        with pytest.raises(FetchError) as info:
            fetching.fetch("mitdb", ["100"], base_url=url)
    assert one_line(info) == (
        f"100.atr, the annotation file the catalog declares for mitdb/100, is not listed in "
        f"{url}/mitdb/1.0.0/SHA256SUMS.txt; the record would be incomplete, nothing fetched."
    )
    assert requests == ["/mitdb/1.0.0/SHA256SUMS.txt"]
    assert files_under(data_home) == [] and physionet.local_records() == []


def test_signal_file_not_in_sums_keeps_nothing(mirror, tmp_path, data_home):
    # Only the header says which signal files a record has: it is fetched, read, and dropped.
    view = mirror_view(mirror, tmp_path / "view", listed=["100.hea", "100.atr"])
    with serve(view) as (url, requests):
        with pytest.raises(FetchError) as info:
            fetching.fetch("mitdb", ["100"], base_url=url)
    assert one_line(info) == (
        f"100.dat, which 100.hea names, is not listed in {url}/mitdb/1.0.0/SHA256SUMS.txt; "
        "mitdb/100 would be incomplete, not fetched."
    )
    assert requests == ["/mitdb/1.0.0/SHA256SUMS.txt", "/mitdb/1.0.0/100.hea"]
    assert files_under(data_home) == [] and physionet.local_records() == []


def test_file_missing_on_the_server_keeps_nothing(mirror, tmp_path, data_home):
    view = mirror_view(mirror, tmp_path / "view", present=["100.hea", "100.dat"])
    with serve(view) as (url, _):
        with pytest.raises(FetchError) as info:
            fetching.fetch("mitdb", ["100"], base_url=url)
    assert one_line(info) == f"{url}/mitdb/1.0.0/100.atr is missing on the server (HTTP 404)."
    assert files_under(data_home) == [] and physionet.local_records() == []


def test_record_fetched_before_a_failing_one_stays_complete(mirror, tmp_path, data_home):
    view = mirror_view(mirror, tmp_path / "view", listed=MITDB_FILES_100)
    source = mirror / "mitdb" / "1.0.0"
    folder = view / "mitdb" / "1.0.0"
    for name in ("101.hea", "101.atr"):  # 101.dat is listed below but absent
        (folder / name).symlink_to(source / name)
    wanted = {*MITDB_FILES_100, "101.hea", "101.dat", "101.atr"}
    sums = [ln for ln in (source / "SHA256SUMS.txt").read_text().splitlines() if ln.split()[1] in wanted]
    assert len(sums) == 6
    (folder / "SHA256SUMS.txt").write_text("\n".join(sums) + "\n")
    with serve(view) as (url, _):
        with pytest.raises(FetchError, match=r"101\.dat is missing on the server"):
            fetching.fetch("mitdb", ["100", "101"], base_url=url)
    assert files_under(data_home / "mitdb" / "1.0.0") == sorted(MITDB_FILES_100)
    assert physionet.local_records() == [physionet.LocalRecord("mitdb", "1.0.0", "100")]


def test_cli_fetch_of_an_incomplete_record_exits_1_and_lists_nothing(mirror, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    view = mirror_view(mirror, tmp_path / "view", listed=["100.hea", "100.dat"])
    env = {"ECGFE_DATA_DIR": str(tmp_path / "data"), "ECGFE_PHYSIONET_URL": str(view)}
    runner = CliRunner()
    r = runner.invoke(app, ["fetch", "mitdb", "100"], env=env)
    assert r.exit_code == 1
    (line,) = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert line.startswith("ecgfe: error: 100.atr, the annotation file the catalog declares for mitdb/100")
    r = runner.invoke(app, ["records"], env=env)
    assert r.exit_code == 0 and "downloaded: 0 complete record(s), 0 incomplete" in r.stdout


# --------------------------------------------------------------------------- .part files


def test_stale_part_files_are_swept_live_ones_spared(mirror, data_home):
    target = data_home / "mitdb" / "1.0.0"
    (target / "sub").mkdir(parents=True)
    stale = [target / ".100.dat.0123456789ab.part", target / "sub" / ".x.hea.ba9876543210.part"]
    for path in stale:
        path.write_bytes(b"left by a killed fetch")
    live = target / ".101.dat.aaaaaaaaaaaa.part"
    other = target / ".notes.part"  # not a name fetch makes: not its to remove
    other.write_text("mine")
    with open(live, "wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a fetch running in another process holds it
        fetching.fetch("mitdb", ["100"], base_url=str(mirror))
        assert live.exists()
    assert not any(path.exists() for path in stale) and other.exists()
    assert files_under(target) == sorted([*MITDB_FILES_100, ".101.dat.aaaaaaaaaaaa.part",
                                          ".notes.part"])


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_downloaded_files_get_the_umask(mirror, data_home, umask):
    previous = os.umask(umask)
    try:
        with serve(mirror) as (url, _):
            fetching.fetch("mitdb", ["100"], base_url=url)
    finally:
        os.umask(previous)
    target = data_home / "mitdb" / "1.0.0"
    assert {(target / n).stat().st_mode & 0o777 for n in MITDB_FILES_100} == {0o666 & ~umask}


def _fetch_in_a_child(url: str, data: Path) -> subprocess.Popen:
    code = f"from acquire.sources.fetch import fetch; fetch('mitdb', ['100'], base_url={url!r})"
    env = {**os.environ, "ECGFE_DATA_DIR": str(data)}
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_part(data: Path, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while not list(data.rglob(".100.dat.*.part")):
        assert child.poll() is None, child.stderr.read()
        assert time.monotonic() < deadline, "the child never started downloading 100.dat"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_killed_fetch_leaves_no_part_file_for_long(mirror, data_home, signum):
    with serve(mirror, DripHandler) as (url, _):
        child = _fetch_in_a_child(url, data_home)
        try:
            _wait_for_part(data_home, child)
            child.send_signal(signum)
            assert child.wait(timeout=10) == -signum
        finally:
            child.kill()
            child.wait()
            child.stderr.close()
    left = files_under(data_home)
    if signum == signal.SIGTERM:  # the handler removed the record's parts, the header's too
        assert left == []
        return
    # SIGKILL: no handler runs; the verified header's part and the .dat's stay, until the
    # next fetch sweeps them.
    assert len(left) == 2 and all(name.endswith(".part") for name in left), left
    fetching.fetch("mitdb", ["100"], base_url=str(mirror))
    assert files_under(data_home / "mitdb" / "1.0.0") == sorted(MITDB_FILES_100)
