"""PhysioNet catalog, loaders and fetch, against wfdb, hand-computed values and a loopback server.

All records come from the local mirror (``mirror`` fixture). Downloads go
through a real ``http.server`` bound to 127.0.0.1 that serves the mirror
read-only; nothing touches the network.
"""

from __future__ import annotations

import collections
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from acquire.sources import physionet  # first: it imports wfdb with a pandas deprecation silenced
from acquire.sources.recording import AAMI_CLASS, QRS_SYMBOLS

import wfdb  # noqa: E402  (after acquire.sources.physionet, see above)

# wfdb 4.3's rdann/wrann (used here as the oracle) call a pandas API deprecated in pandas 3.1.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
REPO = Path(__file__).resolve().parent.parent
MITDB_FILES_100 = ["100.hea", "100.dat", "100.atr"]


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
    # Every annotation is kept, in file order (bxb reads the rhythm and VF marks too).
    np.testing.assert_array_equal(rec.annotations.sample, ann.sample)
    assert rec.annotations.symbol.tolist() == ann.symbol
    beats = rec.annotations.beats()
    counts = collections.Counter(beats.aami_class)
    assert counts == collections.Counter(AAMI_CLASS[sym] for sym in ann.symbol if sym in QRS_SYMBOLS)
    # MIT-BIH directory, record 100: 2239 normal beats, 33 APCs, 1 PVC, and one '+' rhythm
    # annotation, which is no beat.
    assert counts == {"N": 2239, "S": 33, "V": 1}
    assert collections.Counter(rec.annotations.symbol[~rec.annotations.is_beat]) == {"+": 1}


def test_mitdb_207_keeps_its_vf_episodes(mirror):
    # Counted with WFDB's C rdann on the mirror's 207.atr: six '[' and ']', 472 '!', and
    # 2332 annotations in WFDB's QRS set (472 !, 1457 L, 86 R, 107 A, 105 V, 105 E).
    rec = physionet.load_wfdb_path(mirror / "mitdb" / "1.0.0" / "207")
    symbols = collections.Counter(rec.annotations.symbol.tolist())
    assert (symbols["["], symbols["]"], symbols["!"]) == (6, 6, 472)
    assert rec.annotations.is_beat.sum() == 2332


def test_every_annotation_kept_and_beats_mapped(mirror, tmp_path):
    for name in ("100.hea", "100.dat"):
        shutil.copy(mirror / "mitdb" / "1.0.0" / name, tmp_path / name)
    symbols = ["L", "A", "E", "F", "/", "+", "~", "|", "[", "!", "]", "B", "r", "n", "N"]
    wfdb.wrann("100", "atr", np.arange(10, 160, 10), symbol=symbols, write_dir=str(tmp_path))
    rec = physionet.load_wfdb_path(tmp_path / "100")
    assert rec.annotations.symbol.tolist() == symbols
    assert rec.annotations.sample.tolist() == list(range(10, 160, 10))
    beats = rec.annotations.beats()
    # WFDB's QRS set: all but + (rhythm), ~ (noise), | (artefact), [ and ] (VF bounds).
    assert beats.symbol.tolist() == ["L", "A", "E", "F", "/", "!", "B", "r", "n", "N"]
    # Hand-checked AAMI EC57 classes: L->N, A->S, E->V, F->F, /->Q, ! none, B->N, r->V, n->N.
    assert beats.aami_class.tolist() == ["N", "S", "V", "F", "Q", "", "N", "V", "N", "N"]


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
