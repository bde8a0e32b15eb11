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
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from acquire.sources import physionet  # first: it imports wfdb with a pandas deprecation silenced
from acquire.sources.recording import AAMI_CLASS, QRS_SYMBOLS

import wfdb  # noqa: E402  (after acquire.sources.physionet, see above)

# wfdb 4.3's rdann/wrann (used here as the oracle) call a pandas API deprecated in pandas 3.1.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
REPO = Path(__file__).resolve().parent.parent
MITDB_FILES_100 = ["100.hea", "100.dat", "100.atr"]
#: Characters of a drawn header field: printable, no whitespace (which would split the field).
_FIELD_CHARS = st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs"))


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
    assert physionet.LocalRecord("mitdb", "1.0.0", "100") in found
    assert physionet.LocalRecord("ptbdb", "1.0.0", "patient001/s0010_re") in found
    # Oracle: the mirror's RECORDS files list exactly what it holds, every record complete.
    expected = len((mirror / "mitdb/1.0.0/RECORDS").read_text().split()) + 1
    assert len(found) == expected
    assert [r for r in found if r.problem is not None] == []


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
    assert str(info.value) == "record mitdb/100 is not downloaded; run 'ecgfe fetch mitdb 100'."
    with pytest.raises(ValueError, match=r"unknown database 'mitbd'.*Did you mean 'mitdb'\?"):
        physionet.load_physionet("mitbd/100")
    with pytest.raises(ValueError, match=r"unknown record mitdb/1000;.*Did you mean '100'\?"):
        physionet.load_physionet("mitdb/1000")
    with pytest.raises(ValueError, match=r"name must be '<database>/<record>'.*got 'mitdb'"):
        physionet.load_physionet("mitdb")


def _cache_record_100(mirror, data_home, names=("100.hea", "100.dat")) -> Path:
    """``names`` of mitdb record 100 in the data directory (symlinks to the mirror)."""
    target = data_home / "mitdb" / "1.0.0"
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        (target / name).symlink_to(mirror / "mitdb" / "1.0.0" / name)
    return target


def _one_line_error(call, kind=ValueError) -> str:
    with pytest.raises(kind) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and type(info.value) is kind
    return msg


def test_truncated_or_garbled_record_says_refetch(mirror, data_home):
    target = _cache_record_100(mirror, data_home, ("100.hea", "100.atr"))
    # 650000 frames x 2 signals x 12 bits = 1950000 bytes expected; keep 99999.
    (target / "100.dat").write_bytes((mirror / "mitdb" / "1.0.0" / "100.dat").read_bytes()[:99999])
    msg = _one_line_error(lambda: physionet.load_physionet("mitdb/100"))
    assert msg == (f"{target / '100.dat'} is truncated: 99999 of the 1950000 bytes that 100.hea implies "
                   "for its number of samples (650000); record mitdb/100 is incomplete or corrupt; "
                   "run 'ecgfe fetch mitdb 100'.")
    (target / "100.dat").unlink()
    msg = _one_line_error(lambda: physionet.load_physionet("mitdb/100"))
    assert msg == (f"{target / '100.dat'} is missing; record mitdb/100 is incomplete or corrupt; "
                   "run 'ecgfe fetch mitdb 100'.")
    (target / "100.hea").unlink()
    (target / "100.hea").write_text("not a header\n")
    msg = _one_line_error(lambda: physionet.load_physionet("mitdb/100"))
    assert msg.startswith(f"{target / '100.hea'}: number of signals (field 2 of the record line) must "
                          "be a positive integer below 1e18; got 'a'; record mitdb/100")


def test_catalog_record_without_its_annotations_is_incomplete(mirror, data_home):
    target = _cache_record_100(mirror, data_home)
    expected = (f"{target / '100.atr'} (the catalog's reference annotations) is missing; record "
                "mitdb/100 is incomplete or corrupt; run 'ecgfe fetch mitdb 100'.")
    assert _one_line_error(lambda: physionet.load_physionet("mitdb/100")) == expected
    # The loader simulate uses, and the listing `ecgfe records` prints.
    from acquire.sources.loader import load_recording

    assert _one_line_error(lambda: load_recording("mitdb/100", duration_s=10)) == expected
    (listed,) = physionet.local_records()
    assert (listed.record, listed.problem) == ("100", f"{target / '100.atr'} (the catalog's reference "
                                                      "annotations) is missing")
    # A local path names no catalog: there, an absent annotation file means no annotations.
    assert physionet.load_wfdb_path(target / "100").annotations is None


def test_cli_lists_and_refuses_incomplete_records(mirror, data_home):
    from typer.testing import CliRunner

    from cli import app

    _cache_record_100(mirror, data_home)
    _cache_record_100(mirror, data_home, ("101.hea", "101.dat", "101.atr"))
    runner = CliRunner()
    r = runner.invoke(app, ["records"])
    assert r.exit_code == 0, r.output
    assert "downloaded: 1 complete record(s), 1 incomplete" in r.stdout
    lines = r.stdout.splitlines()
    assert "  mitdb/101  (v1.0.0)" in lines
    (line,) = [ln for ln in lines if ln.startswith("  mitdb/100 ")]
    assert line.endswith("INCOMPLETE: "
                         f"{data_home / 'mitdb/1.0.0/100.atr'} (the catalog's reference annotations) "
                         "is missing; run 'ecgfe fetch mitdb 100'")
    r = runner.invoke(app, ["simulate", "mitdb/100", "--duration-s", "5"])
    assert r.exit_code == 2 and "Traceback" not in r.output  # a ValueError, as a corrupt record
    (err,) = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert err.startswith("ecgfe: error: ") and err.endswith("run 'ecgfe fetch mitdb 100'.")


# --------------------------------------------------------------------------- strict headers

HEADER_100 = "100 2 360 650000\r\n100.dat 212 200 11 1024 995 -22131 0 MLII\r\n" \
             "100.dat 212 200 11 1024 1011 20052 0 V5\r\n# 69 M 1085 1629 x1\r\n"


@pytest.mark.parametrize("old, new, field", [
    ("100 2 360 ", "100 2 -360 ", "sampling frequency (field 3 of the record line) must be a number "
                                  "from 0.001 to 1e+06 Hz; got '-360'"),
    ("100 2 360 ", "100 2 0 ", "sampling frequency"),
    ("100 2 360 ", "100 2 nan ", "sampling frequency"),
    ("100 2 360 ", "100 2 inf ", "sampling frequency"),
    ("100 2 360 ", "100 2 2e6 ", "sampling frequency"),
    ("100 2 360 ", "100 2 2000000 ", "sampling frequency"),
    ("100 2 360 ", "100 2 0.0001 ", "sampling frequency"),
    ("100 2 360 ", "100 2 abc ", "sampling frequency (field 3 of the record line) must be a number "
                                 "from 0.001 to 1e+06 Hz; got 'abc'"),
    ("100 2 360 650000", "100 2", "sampling frequency (field 3 of the record line) must be a number "
                                  "from 0.001 to 1e+06 Hz; got nothing (WFDB's default of 250 Hz is "
                                  "not assumed)"),
    ("100 2 360 650000", "100 2 360", "number of samples (field 4 of the record line) must be a "
                                      "positive integer below 1e18; got nothing (WFDB's 'unknown' is not accepted)"),
    ("650000", "-650000", "number of samples (field 4 of the record line) must be a positive "
                          "integer below 1e18; got '-650000'"),
    ("650000", "9" * 5000, "number of samples"),
    ("650000", "many", "number of samples"),
    ("650000", "0", "number of samples"),
    ("650000", "6.5e5", "number of samples"),
    ("100 2 ", "100 0 ", "number of signals (field 2 of the record line) must be a positive "
                         "integer below 1e18; got '0'"),
    ("100 2 ", "100 3 ", "the record line declares 3 signal(s) but 2 signal line(s) follow"),
    ("100 2 ", "100/2 2 ", "multi-segment records are not supported; the record line names "
                           "'100/2' (2 segments)"),
    ("100 2 ", "1.0 2 ", "record name must be letters, digits, '-' and '_'; got '1.0'"),
    ("100.dat 212 200 11 1024 995", "../100.dat 212 200 11 1024 995",
     "signal 0: file name must be a plain name"),
    ("212 200 11 1024 1011", "abc 200 11 1024 1011", "signal 1: format must be one of 8, 16, 24, "
                                                     "32, 61, 80, 160, 212 (optionally xN, :skew, "
                                                     "+offset); got 'abc'"),
    ("212 200 11 1024 1011", "310 200 11 1024 1011", "signal 1: format"),
    ("212 200 11 1024 1011", "212x" + "9" * 5000 + " 200 11 1024 1011", "signal 1: format"),
    ("212 200 11 1024 995", "212 0 11 1024 995", "signal 0: ADC gain must be a finite non-zero "
                                                 "number of adu per unit (0 or none means "
                                                 "uncalibrated); got '0'"),
    ("212 200 11 1024 995", "212 x 11 1024 995", "signal 0: ADC gain"),
    ("212 200 11 1024 995", "212 200/mmHg 11 1024 995", "signal 0: units must be one of V, mV, uV; "
                                                        "got 'mmHg'"),
    (HEADER_100, "# nothing but a comment\n", "no record line (the header is empty or only comments)"),
])
def test_header_fuzz_gives_one_line_naming_the_file_and_field(mirror, tmp_path, old, new, field):
    assert old in HEADER_100
    (tmp_path / "100.dat").symlink_to(mirror / "mitdb" / "1.0.0" / "100.dat")
    (tmp_path / "100.hea").write_text(HEADER_100.replace(old, new, 1), newline="")
    msg = _one_line_error(lambda: physionet.load_wfdb_path(tmp_path / "100"))
    assert msg.startswith(f"{tmp_path / '100.hea'}: ") and field in msg, msg


def test_header_100_as_the_fuzz_base_is_the_mirror_header(mirror):
    assert (mirror / "mitdb" / "1.0.0" / "100.hea").read_bytes().decode().startswith(HEADER_100)


def test_wfdb_itself_misreads_a_negative_rate():
    # Why ecgfe parses headers itself: wfdb 4.3 reads fs -360 as its default 250 Hz.
    record = wfdb.io._header._parse_record_line("100 2 -360 650000")
    assert record["fs"] != -360.0


@settings(max_examples=150, deadline=None)
@given(fs=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.floats(1e-4, 2e6).map(str), st.integers(-10**7, 10**7).map(str),
                    st.sampled_from(["360", "0.5", "1000.", ".5", "360/1000(0)", "1e3", "+360", "٣٦٠"]),
                    st.text(_FIELD_CHARS, min_size=1, max_size=8)),
       n=st.one_of(st.integers(-10, 120).map(str), st.integers(-10, 10**30).map(str),
                   st.sampled_from(["+5", "5.0", "0x10", "٥"]), st.text(_FIELD_CHARS, min_size=1, max_size=8)))
def test_header_field_values_load_or_name_the_field(fs, n):
    # 100 samples of format 16 on the disk; any sampling frequency and sample count text.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r"
        path.with_suffix(".dat").write_bytes(np.arange(100, dtype="<i2").tobytes())
        path.with_suffix(".hea").write_text(f"r 1 {fs} {n}\nr.dat 16 200/mV 16 0 0 0 0 ECG\n")
        try:
            rec = physionet.load_wfdb_path(path)
        except ValueError as exc:
            msg = str(exc)
            # The header's own fields, or the .dat too short for the number of samples.
            assert "\n" not in msg and "r.hea" in msg, msg
            assert "sampling frequency" in msg or "number of samples" in msg, msg
            event("refused")
            return
    event("loaded")
    assert rec.fs_hz == float(fs.split("/")[0]) and 1e-3 <= rec.fs_hz <= 1e6
    assert rec.signals_v.shape == (1, int(n))
    np.testing.assert_array_equal(rec.signals_v[0], np.arange(int(n)) / 200 * 1e-3)


# --------------------------------------------------------------------------- channel names


@pytest.mark.parametrize("names", [("Ableitung µ", "V1→aVR"), ("ΔI", "中")])
def test_non_ascii_channel_names_survive_a_round_trip(tmp_path, names):
    from acquire.output.wfdb_writer import WfdbWriter

    x_v = np.array([[0.0, 1e-3, -1e-3], [2e-3, 0.0, 1e-6]])
    writer = WfdbWriter(tmp_path, "rt", 500.0, names)
    writer.write(x_v)
    writer.close()
    rec = physionet.load_wfdb_path(tmp_path / "rt")
    assert rec.channel_names == names
    np.testing.assert_allclose(rec.signals_v, x_v, atol=1e-9)
    # wfdb writes the names as UTF-8 too, but reads headers as ASCII and drops the rest.
    wfdb.wrsamp("w", fs=500, units=["mV", "mV"], sig_name=list(names), p_signal=x_v.T * 1e3,
                fmt=["16", "16"], write_dir=str(tmp_path))
    assert physionet.load_wfdb_path(tmp_path / "w").channel_names == names
    assert tuple(wfdb.rdrecord(str(tmp_path / "w")).sig_name) != names


def test_latin1_header_and_unnamed_signals(tmp_path):
    (tmp_path / "r.dat").write_bytes(np.zeros(4, dtype="<i2").tobytes())
    (tmp_path / "r.hea").write_bytes(b"r 2 250 2\nr.dat 16 200 16 0 0 0 0 Ableitung \xb5\nr.dat 16 200\n")
    assert physionet.load_wfdb_path(tmp_path / "r").channel_names == ("Ableitung µ", "signal 1")


# --------------------------------------------------------------------------- strict annotations


def _annotated_copy(mirror, tmp_path, atr: bytes) -> Path:
    for name in ("100.hea", "100.dat"):
        (tmp_path / name).symlink_to(mirror / "mitdb" / "1.0.0" / name)
    (tmp_path / "100.atr").write_bytes(atr)
    return tmp_path / "100"


@pytest.mark.parametrize("damage, fragment", [
    (lambda b: b[:2278], "is truncated: it ends without the end-of-file word (1136 annotations read)"),
    (lambda b: b[:2279], "is truncated or no annotation file: it has an odd number of bytes (2279)"),
    (lambda b: b + b"\x01\x05", "is corrupt: 2 bytes follow its end-of-file word at byte 4556"),
    (lambda b: np.random.default_rng(1).bytes(1000), "is corrupt"),
    (lambda b: np.random.default_rng(2).bytes(4558), "is corrupt"),
    (lambda b: b"", "is truncated: it ends without the end-of-file word (0 annotations read)"),
])
def test_truncated_or_random_annotations_are_an_error(mirror, tmp_path, damage, fragment):
    atr = (mirror / "mitdb" / "1.0.0" / "100.atr").read_bytes()
    path = _annotated_copy(mirror, tmp_path, damage(atr))
    msg = _one_line_error(lambda: physionet.load_wfdb_path(path))
    assert msg.startswith(f"{path}.atr ") and fragment in msg, msg


@pytest.mark.parametrize("seed", range(20))
def test_random_annotation_bytes_never_load(mirror, tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = _annotated_copy(mirror, tmp_path, rng.bytes(int(rng.integers(2, 3000)) * 2))
    assert _one_line_error(lambda: physionet.load_wfdb_path(path)).startswith(f"{path}.atr ")


def test_annotations_with_skips_and_notes_load_and_out_of_range_ones_do_not(mirror, tmp_path):
    for name in ("100.hea", "100.dat"):
        (tmp_path / name).symlink_to(mirror / "mitdb" / "1.0.0" / name)
    # Gaps over 1023 samples are written as SKIP words, notes as AUX strings of odd and even length.
    samples, symbols = [10, 5000, 400_000, 649_999], ["+", "N", "V", "N"]
    wfdb.wrann("100", "atr", np.array(samples), symbol=symbols, aux_note=["(AFIB", "", "(N", ""],
               write_dir=str(tmp_path))
    rec = physionet.load_wfdb_path(tmp_path / "100")
    assert rec.annotations.sample.tolist() == samples and rec.annotations.symbol.tolist() == symbols
    wfdb.wrann("100", "atr", np.array([10, 650_000]), symbol=["N", "N"], write_dir=str(tmp_path))
    msg = _one_line_error(lambda: physionet.load_wfdb_path(tmp_path / "100"))
    assert msg == (f"{tmp_path / '100.atr'} is corrupt: annotation 2 is at sample 650000, outside "
                   "the record's 0..649999.")
