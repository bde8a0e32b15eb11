"""End-to-end fuzz of the command line: strict inputs from the TOML file, ``--set``, WFDB headers and annotations.

The unit-level fuzzes (tests/test_config_types.py, test_physionet.py,
test_scoring.py) check each validator; this suite checks the contract a
user sees, whatever the input: exit code 0, 1 or 2, at most one stderr
line (``ecgfe: error: ...``, never an "internal error"), no traceback, and
no file written outside the output directory. Each example runs in a fresh
directory (the current directory, compared before and after) with
``typer.testing.CliRunner`` in-process; click 8.2+'s runner keeps stderr
apart from stdout (``result.stderr``), and two subprocess cases show that
the console entry point behaves the same. Simulations are 2 s long.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import wfdb
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from acquire._check import FrontendWarning
from acquire.config import DEFAULTS, OPTIONAL_KEYS, toml_value
from cli import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def fuzz(n: int):
    """Hypothesis settings of a CLI fuzz: ``n`` examples, no per-example deadline (a run takes ~0.2 s)."""
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


#: Keys whose only effect on a fuzz is cost (a 1e7 s window, a 10 MHz simulation, 0.1 ms chunks); their ranges
#: are the unit fuzz's, and the synthetic length limit is tested below.
COSTLY = {"source.start_s", "source.duration_s", "run.fs_sim_hz", "run.chunk_s", "adc.fs_adc_hz"}
KEYS = sorted(f"{s}.{k}" for s in DEFAULTS if s != "digital" for k in set(DEFAULTS[s]) | OPTIONAL_KEYS[s]
              if f"{s}.{k}" not in COSTLY)
SCALARS = st.one_of(st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12))
VALUES = st.one_of(SCALARS, st.lists(st.one_of(st.integers(-5, 5), st.floats(-10, 10), st.text(max_size=3)),
                                     max_size=3),
                   st.dictionaries(st.text(max_size=4), st.floats(-1, 1), max_size=2))


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``root`` (but ``out/``) with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != "out"}


def run_cli(args: list[str], files: dict[str, bytes] | None = None):
    """``ecgfe -q ARGS`` in a fresh current directory holding ``files``; check the contract; return the result.

    Nothing may appear or change outside ``out/``; the data directory is
    inside the fresh directory and the PhysioNet server unreachable, so no
    input can reach the network or the user's data.
    """
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        root = Path(folder).resolve()
        for name, data in (files or {}).items():
            (root / name).write_bytes(data)
        before = tree(root)
        env = {"ECGFE_DATA_DIR": str(root / "data"), "ECGFE_PHYSIONET_URL": "http://127.0.0.1:9"}
        with warnings.catch_warnings():  # the CLI prints a library warning as one line (none with -q)
            warnings.simplefilter("default", FrontendWarning)
            result = runner.invoke(app, ["-q", *args], env=env)
        written = tree(root)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code in (0, 1, 2), (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert "Traceback" not in result.output
    assert len(lines) <= 1, (args, result.stderr)
    assert (result.exit_code == 0) == (not lines), (args, result.stderr)
    if lines:
        assert lines[0].startswith("ecgfe: error: ") and "internal error" not in lines[0], (args, lines[0])
    assert written == before, (args, set(written) ^ set(before))
    return result


# --------------------------------------------------------------------------- configuration values

@fuzz(60)
@given(key=st.sampled_from(KEYS), value=VALUES)
@example(key="amplifier.noise_corner_hz", value=670440350404.0)  # found: a bare brentq message
def test_fuzz_config_file_values(key, value):
    section, name = key.split(".")
    text = f"[{section}]\n{name} = {toml_value(value)}\n"
    r = run_cli(["simulate", "--config", "c.toml", "--duration-s", "2"], {"c.toml": text.encode()})
    if r.exit_code == 2:
        assert name in r.stderr or "c.toml" in r.stderr, (text, r.stderr)  # the key (or the file) is named


@fuzz(20)
@given(text=st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: b.decode("latin-1"))))
def test_fuzz_config_file_garbage(text):
    r = run_cli(["config", "validate", "c.toml"], {"c.toml": text.encode()})
    assert r.exit_code in (0, 2)


# --------------------------------------------------------------------------- --set strings

SET_STRINGS = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(max_size=12)),
    st.builds(lambda k, v: f"{k}={toml_value(v)}", st.sampled_from(KEYS), VALUES),
    st.builds(lambda i, k, v: f"digital.{i}.{k}={toml_value(v)}", st.integers(-1, 3),
              st.sampled_from(["corner_hz", "order", "f0_hz", "q", "harmonics", "cutoff_hz", "kind", "x"]), VALUES))


@fuzz(80)
@given(item=SET_STRINGS)
def test_fuzz_set_strings_config_show(item):
    run_cli(["config", "show", "--set", item])


@fuzz(40)
@given(item=SET_STRINGS)
def test_fuzz_set_strings_simulate(item):
    run_cli(["simulate", "--set", item, "--duration-s", "2"])


# --------------------------------------------------------------------------- WFDB records by path

FS_HZ, N = 360, 720  # 2 s


def _record_files() -> dict[str, bytes]:
    """A 2 s, one-lead record (format 16) with beat annotations, as the files wfdb writes."""
    with tempfile.TemporaryDirectory() as folder:
        t = np.arange(N) / FS_HZ
        ecg_mv = np.exp(-(((t % 0.8) - 0.4) / 0.02) ** 2)
        wfdb.wrsamp("r", fs=FS_HZ, units=["mV"], sig_name=["MLII"], p_signal=ecg_mv[:, None], fmt=["16"],
                    adc_gain=[200.0], baseline=[0], write_dir=folder)
        wfdb.wrann("r", "atr", sample=np.array([144, 432, 720 - 144]), symbol=["N"] * 3, write_dir=folder)
        return {name: (Path(folder) / name).read_bytes() for name in ("r.hea", "r.dat", "r.atr")}


RECORD = _record_files()
HEADER_TOKENS = RECORD["r.hea"].decode().split()
FIELD = st.one_of(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=10),
                  st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                  st.sampled_from(["0", "-1", "1e400", "212", "16", "8", "mV", "200/uV", "x", "r.dat", "../r.dat"]))


def test_the_unfuzzed_record_runs():
    r = run_cli(["simulate", "r", "--duration-s", "2", "--json"], RECORD)
    assert r.exit_code == 0 and '"source": 360.0' in r.stdout


@fuzz(60)
@given(index=st.integers(0, len(HEADER_TOKENS) - 1), token=FIELD)
@example(index=2, token="361")  # found: fs 361 Hz makes the 720 samples shorter than the 2 s asked for
def test_fuzz_header_fields(index, token):
    fields = list(HEADER_TOKENS)
    fields[index] = token
    lines = RECORD["r.hea"].decode().splitlines()
    n_record = len(lines[0].split())
    header = " ".join(fields[:n_record]) + "\n" + " ".join(fields[n_record:]) + "\n"
    r = run_cli(["simulate", "r", "--duration-s", "2"], {**RECORD, "r.hea": header.encode()})
    if r.exit_code:  # the header, or a file it no longer matches (a .dat too short or renamed, an annotation
        # past the end)
        # (or a changed fs that makes the record shorter than the window asked for, said as such)
        named = (any(f"r.{ext}" in r.stderr for ext in ("hea", "dat", "atr")) or " is missing" in r.stderr
                 or "exceeds the recording length" in r.stderr)
        assert r.exit_code == 2 and named, (header, r.stderr)


@fuzz(40)
@given(cut=st.integers(0, len(RECORD["r.atr"])), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                              max_size=4),
       tail=st.binary(max_size=8))
def test_fuzz_annotation_bytes(cut, flips, tail):
    atr = bytearray(RECORD["r.atr"][:cut])
    for where, byte in flips:
        if atr:
            atr[where % len(atr)] = byte
    r = run_cli(["simulate", "r", "--duration-s", "2"], {**RECORD, "r.atr": bytes(atr) + tail})
    if r.exit_code:
        assert r.exit_code == 2 and "r.atr" in r.stderr, r.stderr


# --------------------------------------------------------------------------- files, limits, the real entry point

@pytest.mark.parametrize("args, code", [
    (["simulate", "r", "--duration-s", "2", "--out", "out"], 0),
    (["simulate", "r", "--duration-s", "2", "--out", "out", "--set", "amplifier.gain_v_per_v=1e300"], 2),
])
def test_output_goes_only_into_the_output_directory(args, code):
    # run_cli compares everything but out/ before and after: a run writes its files there and nowhere else.
    assert run_cli(args, RECORD).exit_code == code


def test_a_synthetic_window_past_24_hours_is_refused_before_it_is_generated():
    r = run_cli(["simulate", "--start-s", "1e7", "--duration-s", "2"])
    assert "--start-s: source.start_s + source.duration_s must be at most 86400 s (24 h)" in r.stderr


@pytest.mark.parametrize("args", [["simulate", "--set", "run.seed=true"], ["simulate", "r", "--channel", "x"]])
def test_the_console_entry_point_matches_the_in_process_runner(tmp_path, args):
    for name, data in RECORD.items():
        (tmp_path / name).write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ECGFE_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "cli", "-q", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    with contextlib.chdir(tmp_path):
        r = runner.invoke(app, ["-q", *args], env={"ECGFE_DATA_DIR": str(tmp_path / "data")})
    assert proc.returncode == r.exit_code == 2
    assert proc.stderr == r.stderr and proc.stderr.startswith("ecgfe: error: ") and proc.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.atr", "r.dat", "r.hea"]


def _header_with(old: str, new: str) -> dict[str, bytes]:
    return {**RECORD, "r.hea": RECORD["r.hea"].replace(old.encode(), new.encode(), 1)}


@pytest.mark.parametrize("args, files, code, fragment", [
    (["--set", "post.aa_hz=-1"], {}, 2, "post.aa_hz=-1 is outside the physical range 0 to 1e+07"),
    (["--set", "post.aa_hz=4000"], {}, 2, "post.aa_hz / aa_order: corner_hz=4000 Hz is at or above Nyquist"),
    (["--set", "post.aa_order=0"], {}, 2, "post.aa_order=0 is outside the physical range 1 to 10"),
    (["--set", "amplifier.input_cm_range_v=[]"], {}, 2, "amplifier.input_cm_range_v must be a pair of numbers"),
    (["--set", "digital.1.f0_hz=[]"], {}, 2, "digital.1 (notch): f0_hz must be a number; got []"),
    (["r"], _header_with(" 16 0 0 ", " \f: 0 0 "), 2,
     "r.hea: signal 0: ADC resolution (field 4 of the signal line) must be an integer; got '\\x0c:'"),
    (["r"], _header_with("r 1 360 ", "r 1 1 "), 0, ""),  # a 1 Hz record: unmeasurable metrics are null, no warning
])
def test_what_the_fuzz_found(args, files, code, fragment):
    # Each was an internal error, a misnamed parameter or a warning before; now a named one-line error or a run.
    r = run_cli(["simulate", *args, "--duration-s", "2"], files)
    assert r.exit_code == code and fragment in r.stderr, r.stderr
