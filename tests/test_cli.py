"""CLI tests (typer's CliRunner): every command, exit codes, one-line errors, files written."""

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import wfdb
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent


def invoke(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def one_line_error(result, code, *fragments):
    """Exit code, a single 'ecgfe: error:' line on stderr naming the problem, and no traceback."""
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ecgfe: error: "), result.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.fixture
def data_env(mirror, tmp_path):
    """The mirror served as the PhysioNet base, an empty data directory."""
    return {"ECGFE_DATA_DIR": str(tmp_path / "data"), "ECGFE_PHYSIONET_URL": str(mirror)}


def test_records_and_fetch(data_env, tmp_path):
    r = invoke("fetch", "mitdb", "100", env=data_env)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "data/mitdb/1.0.0/100.dat").is_file()
    assert "3 file(s) downloaded" in r.stdout
    r = invoke("fetch", "mitdb", "100", env=data_env)
    assert "0 file(s) downloaded, 3 already verified" in r.stdout
    r = invoke("records", env=data_env)
    assert r.exit_code == 0 and "mitdb/100" in r.stdout and "ptbdb" in r.stdout


@pytest.mark.parametrize("args, code, fragment", [
    (("fetch", "mitbd"), 2, "Did you mean 'mitdb'"),
    (("fetch", "mitdb", "../etc"), 2, "record name"),
    (("fetch", "mitdb", "999"), 2, "unknown record mitdb/999"),
])
def test_fetch_usage_errors(data_env, args, code, fragment):
    one_line_error(invoke(*args, env=data_env), code, fragment)


def test_fetch_unreachable_server_is_runtime_error(tmp_path):
    env = {"ECGFE_DATA_DIR": str(tmp_path), "ECGFE_PHYSIONET_URL": "http://127.0.0.1:9"}
    one_line_error(invoke("fetch", "mitdb", "100", env=env), 1, "cannot reach", "ECGFE_PHYSIONET_URL")


def test_simulate_json_prints_only_the_document():
    r = invoke("simulate", "--duration-s", "8", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    acq = doc["channels"]["ECG"]["acquired"]
    for key in ("snr_in_db", "snr_out_db", "snr_improvement_db", "prd_percent", "prdn_percent",
                "residual_mains_uv_rms", "residual_mains_by_harmonic_uv_rms", "cmrr_effective_db",
                "qrs_sensitivity", "qrs_ppv", "qrs_f1", "saturated_fraction"):
        assert key in acq


def test_simulate_shortcuts_reach_the_config():
    r = invoke("simulate", "--duration-s", "6", "--json", "--mains-hz", "50", "--cm-v-rms", "0.5",
               "--cmrr-db", "90", "--gain", "20", "--imbalance", "iec", "--seed", "3", "--preset", "ad620")
    assert r.exit_code == 0, r.output
    cfg = json.loads(r.stdout)["provenance"]["config"]
    assert cfg["mains"]["frequency_hz"] == 50 and cfg["digital"][1]["f0_hz"] == 50.0
    assert cfg["body"] == {"mode": "direct", "grounded": False, "cm_v_rms": 0.5}
    assert cfg["amplifier"] == {"preset": "ad620", "cmrr_db": 90, "gain_v_per_v": 20}
    assert cfg["run"]["seed"] == 3


def test_simulate_physionet_record_writes_wfdb_output(mirror, tmp_path):
    out = tmp_path / "run"
    env = {"ECGFE_DATA_DIR": str(mirror)}  # the mirror has the data directory's layout
    r = invoke("simulate", "mitdb/100", "--channel", "MLII", "--start-s", "60", "--duration-s", "10",
               "--out", str(out), env=env)
    assert r.exit_code == 0, r.output
    for name in ("metrics.json", "config.toml", "provenance.json", "report.html", "time_panel.png",
                 "psd.svg", "bode.png", "recovered.hea", "acquired.dat"):
        assert (out / name).is_file(), name
    rec = wfdb.rdrecord(str(out / "recovered"))
    assert rec.fs == 500 and rec.sig_name == ["MLII"] and rec.units == ["mV"]
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["provenance"]["source"]["record"] == "100"
    assert not list(out.glob(".*partial*"))
    # The stored output is the input-referred recovered signal, in mV.
    assert np.ptp(rec.p_signal[1000:, 0]) > 0.5


def test_simulate_local_wfdb_path(mirror):
    r = invoke("simulate", str(mirror / "mitdb/1.0.0/101"), "--duration-s", "6", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rates_hz"]["source"] == 360.0


@pytest.mark.parametrize("args, fragment", [
    (("simulate", "--preset", "ina12"), "Did you mean 'ina128'"),
    (("simulate", "--set", "amplifier.cmrr=90"), "Did you mean 'cmrr_db'"),
    (("simulate", "--set", "nodot"), "section.key=value"),
    (("simulate", "mitdb/999"), "unknown record mitdb/999"),
    (("simulate", "nosuchdb/1"), "unknown source"),
    (("simulate", "--channel", "V9"), "channel"),
    (("simulate", "--config", "/nonexistent/c.toml"), "cannot read config"),
    (("simulate", "--set", "digital.2.cutoff_hz=400"), "Nyquist"),
])
def test_simulate_user_errors(args, fragment):
    one_line_error(invoke(*args), 2, fragment)


def test_unwritable_output_directory(tmp_path):
    # A file-system failure is a runtime error (exit 1), one line naming the path and the errno.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(invoke("simulate", "--duration-s", "5", "--out", str(blocker / "sub")), 1,
                   "cannot be created", "ENOTDIR")


def test_not_downloaded_record_says_how_to_fetch(tmp_path):
    one_line_error(invoke("simulate", "mitdb/100", env={"ECGFE_DATA_DIR": str(tmp_path)}), 1,
                   "ecgfe fetch mitdb 100")


def test_debug_shows_the_traceback():
    r = invoke("--debug", "simulate", "--preset", "ina12")
    assert r.exit_code != 0 and isinstance(r.exception, ValueError)


def test_compare_and_report(tmp_path):
    out = tmp_path / "cmp"
    r = invoke("compare", "ad8232", "ads1298", "synthetic", "--duration-s", "6", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "ad8232" in r.stdout and "ads1298" in r.stdout
    doc = json.loads((out / "comparison.json").read_text())
    assert [row["preset"] for row in doc["presets"]] == ["ad8232", "ads1298"]
    assert (out / "comparison.png").is_file() and (out / "report.html").is_file()
    (out / "report.html").unlink()
    r = invoke("report", str(out))
    assert r.exit_code == 0 and (out / "report.html").is_file()


def test_compare_needs_two_presets_and_report_needs_results(tmp_path):
    one_line_error(invoke("compare", "ad8232", "--out", str(tmp_path)), 2, "at least two presets")
    one_line_error(invoke("compare", "ad8232", "ina12", "--out", str(tmp_path)), 2, "Did you mean 'ina128'")
    (tmp_path / "empty").mkdir()
    one_line_error(invoke("report", str(tmp_path / "empty")), 2, "no ecgfe results")


def test_config_show_and_validate(tmp_path):
    r = invoke("config", "show", "--preset", "ad620")
    assert r.exit_code == 0
    assert tomllib.loads(r.stdout)["amplifier"] == {"preset": "ad620"}
    good = tmp_path / "good.toml"
    good.write_text(r.stdout)
    assert invoke("config", "validate", str(good)).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[amplifier]\npreset = 'ina128'\ncmrr = 90\n")
    one_line_error(invoke("config", "validate", str(bad)), 2, "unknown key amplifier.cmrr")
    worse = tmp_path / "worse.toml"
    worse.write_text("[mains]\nfrequency_hz = 55\n")
    one_line_error(invoke("config", "validate", str(worse)), 2, "frequency_hz")


def test_presets_table_lists_every_preset():
    from frontend_models.presets import preset_names

    r = invoke("presets")
    assert r.exit_code == 0
    for name in preset_names():
        assert name in r.stdout


def test_demo_runs_offline(tmp_path):
    r = invoke("--quiet", "demo", "--out", str(tmp_path / "demo"))
    assert r.exit_code == 0, r.output
    for name in ("ad8232", "ina128", "ads1298"):
        assert name in r.stdout
    assert (tmp_path / "demo/report.html").is_file()


def test_sweep_writes_results_and_resumes(tmp_path):
    out = tmp_path / "sw"
    args = ("sweep", "--vary", "amplifier.cmrr_db=80,120", "--duration-s", "6", "--out", str(out))
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    assert "2 point(s) computed, 0 already done" in r.stdout
    for name in ("sweep.csv", "sweep.json", "report.html", "residual_mains_acquired.png"):
        assert (out / name).is_file(), name
    r = invoke(*args)
    assert "0 point(s) computed, 2 already done" in r.stdout


@pytest.mark.parametrize("vary, fragment", [
    ("amplifier.cmrr_db=60:140", "STEP"),
    ("amplifier.cmrr_db=140:60:20", "empty range"),
    ("amplifier.cmrr=60,80", "Did you mean 'cmrr_db'"),
    ("amplifier.cmrr_db=60:x:20", "amplifier.cmrr_db"),
])
def test_sweep_user_errors(tmp_path, vary, fragment):
    one_line_error(invoke("sweep", "--vary", vary, "--out", str(tmp_path / "s")), 2, fragment)
    assert not (tmp_path / "s").exists()


IDEAL_DEVICE = """
[amplifier]
preset = "ina128"
cmrr_db = 200.0
z_cm_r_ohm = 1e15
z_cm_c_f = 1e-18
noise_v_per_rthz = 0.0
current_noise_a_per_rthz = 0.0
bias_current_a = 0.0
offset_v = 0.0

[adc]
vref_v = 5.0

[[digital]]
kind = "highpass"
corner_hz = 0.05
order = 1
"""


def test_comply_exit_codes(tmp_path):
    # An (almost) ideal device passes every IEC 60601-2-27 test: exit 0, files written.
    cfg = tmp_path / "ideal.toml"
    cfg.write_text(IDEAL_DEVICE)
    out = tmp_path / "ok"
    r = invoke("comply", "--config", str(cfg), "--duration-scale", "0.1", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "FAIL" not in r.stdout and (out / "compliance.json").is_file()
    # The same device at 80 dB CMRR fails the CMR test (10 V rms -> 2.83 mV p-v > 1 mV): exit 3.
    r = invoke("comply", "--config", str(cfg), "--set", "amplifier.cmrr_db=80", "--duration-scale", "0.1",
               "--out", str(tmp_path / "bad"))
    assert r.exit_code == 3 and "FAIL" in r.stdout
    doc = json.loads((tmp_path / "bad/compliance.json").read_text())
    assert doc["passed"] is False
    cmr = [row for row in doc["rows"] if row["test"] == "cmr"]
    assert cmr and not any(row["passed"] for row in cmr)


def test_comply_usage_errors_exit_2_like_every_command(tmp_path):
    # A typo is a usage error (exit 2) in comply as in simulate; 1 is for runtime failures, 3 for a failed test.
    one_line_error(invoke("comply", "--standard", "iec60601-2-72", "--out", str(tmp_path)), 2, "Did you mean")
    one_line_error(invoke("comply", "--preset", "ina12", "--out", str(tmp_path)), 2, "Did you mean 'ina128'")
    one_line_error(invoke("simulate", "--preset", "ina12"), 2, "Did you mean 'ina128'")


def test_user_amplifier_model_file(tmp_path):
    # A user-defined model in the presets' TOML layout, used through [amplifier] file = ...
    model = tmp_path / "myamp.toml"
    model.write_text('kind = "inamp"\ndescription = "test part"\n[amp]\ngain_v_per_v = 10.0\n'
                     'cmrr_db = 90.0\nbandwidth_hz = 1.0e5\n[sources]\ncmrr_db = "my datasheet"\n')
    r = invoke("simulate", "--duration-s", "6", "--json", "--set", f'amplifier.file="{model}"',
               "--cm-v-rms", "1", "--imbalance", "0")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["provenance"]["preset"] == "myamp"
    # 1 V rms through 90 dB CMRR and no imbalance: 31.6 uV rms RTI (+ the tiny divider of the
    # identical electrodes, 0): 1 % for the lock-in and the anti-alias filter's gain at 60 Hz.
    res = doc["channels"]["ECG"]["acquired"]["residual_mains_by_harmonic_uv_rms"]["1"]
    assert res == pytest.approx(1e6 * 10 ** (-90 / 20), rel=0.01)


def test_montecarlo_command_writes_its_outputs(tmp_path):
    out = tmp_path / "mc"
    r = invoke("montecarlo", "--draws", "300", "--preset", "ina128", "--preset", "ad8232", "--seed", "3",
               "--vary-dist", "electrodes.imbalance=lognormal(0.5)", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "ina128" in r.stdout and "ad8232" in r.stdout and "yield" in r.stdout
    doc = json.loads((out / "montecarlo.json").read_text())
    assert doc["draws"] == 300 and set(doc["presets"]) == {"ina128", "ad8232"}
    assert doc["distributions"][0].startswith("electrodes.imbalance=lognormal")
    assert (out / "montecarlo_cdf_ad8232.png").is_file() and (out / "report.html").is_file()


@pytest.mark.parametrize("args, fragment", [
    (["--draws", "0"], "draws must be an integer from 1"),
    (["--vary-dist", "electrodes.r_d_ohm=gauss(1)"], "unknown distribution 'gauss'"),
    (["--vary-dist", "electrodes.r_d_ohm=lognormal(-0.2)"], "spread of lognormal() must be >= 0"),
    (["--limit-uv-pp", "0"], "limit_uv_pp must be finite and > 0"),
])
def test_montecarlo_bad_input_is_one_line_exit_2(tmp_path, args, fragment):
    one_line_error(invoke("montecarlo", *args, "--out", str(tmp_path)), 2, fragment)


# --------------------------------------------------------------------------- parse errors, exit codes, help

@pytest.mark.parametrize("args, fragments", [
    (("simulate", "--gain", "abc"), ("Invalid value for '--gain'", "see 'ecgfe simulate --help'")),
    (("simulate", "--bogus"), ("No such option: --bogus", "see 'ecgfe simulate --help'")),
    (("fetch",), ("Missing argument 'database'", "see 'ecgfe fetch --help'")),
    (("simulate", "synthetic", "extra"), ("unexpected extra argument", "(extra)")),
    (("simulat",), ("No such command 'simulat'", "Did you mean 'simulate'")),
    (("config", "show", "--preset"), ("Option '--preset' requires an argument", "see 'ecgfe config show --help'")),
    (("comply", "--duration-scale", "x"), ("'--duration-scale'",)),
    (("design", "diffpair", "--gm-s", "1e-3x"), ("'--gm-s'", "see 'ecgfe design diffpair --help'")),
    (("montecarlo", "--draws", "1.5"), ("'--draws'",)),
])
def test_click_parse_errors_are_one_line_exit_2(args, fragments):
    # Typer's boxed error (a usage block and a rich panel) becomes one line naming the option, with a hint.
    one_line_error(invoke(*args), 2, *fragments)


def test_parse_error_of_the_real_entry_point_matches_the_in_process_runner(tmp_path):
    # The console script goes through the same Group.main as CliRunner: same line, same exit code.
    import subprocess
    import sys

    for args in (["simulate", "--gain", "abc"], ["comply", "--duration-scale", "1e6"]):
        proc = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, cwd=tmp_path,
                              env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, timeout=120)
        r = invoke(*args)
        assert proc.returncode == r.exit_code == 2
        assert proc.stderr.strip() == r.stderr.strip() and proc.stderr.count("\n") == 1
        assert list(tmp_path.iterdir()) == []


COMMANDS = {  # each command with the least it needs; "--out" and friends are added per case
    "simulate": ["simulate"], "compare": ["compare", "ad8232", "ina128"],
    "sweep": ["sweep", "--vary", "amplifier.cmrr_db=80,90"], "batch": ["batch", "--records", "mitdb/100"],
    "montecarlo": ["montecarlo", "--draws", "10"], "comply": ["comply"], "config show": ["config", "show"],
    "demo": ["demo"], "design": ["design", "diffpair", "--gm-s", "1e-3", "--ro-n-ohm", "1e5", "--r-d-ohm", "1e4",
                                "--load", "resistive", "--sweep", "gm_s=1e-3,2e-3"],
}
HAS = {"--preset": ["simulate", "sweep", "batch", "montecarlo", "comply", "config show"],
       "--set": ["simulate", "compare", "sweep", "batch", "montecarlo", "comply", "config show"],
       "--out": ["simulate", "compare", "sweep", "batch", "montecarlo", "comply", "demo", "design"],
       "--duration-s": ["simulate", "compare", "sweep", "batch", "montecarlo"]}


def exit_code_cases():
    """(command, mistake, extra args, exit code, fragment): the same mistake, the same code, in every command."""
    cases = [(c, "unknown preset", ["--preset", "ina12"], 2, "Did you mean 'ina128'") for c in HAS["--preset"]]
    cases.append(("compare", "unknown preset", ["ina12"], 2, "Did you mean 'ina128'"))
    cases += [(c, "bad --set", ["--set", "amplifier.cmrr=90"], 2, "Did you mean 'cmrr_db'") for c in HAS["--set"]]
    cases += [(c, "missing --config", ["--config", "{tmp}/missing.toml"], 2, "cannot read config")
              for c in HAS["--set"]]
    cases += [(c, "unwritable --out", ["--out", "{tmp}/file/sub"], 1, "ENOTDIR") for c in HAS["--out"]]
    cases += [(c, "--out is a file", ["--out", "{tmp}/file"], 1, "cannot write {tmp}/file:") for c in HAS["--out"]]
    cases += [(c, "bad option value", ["--duration-s", "abc"], 2, "'--duration-s'") for c in HAS["--duration-s"]]
    cases += [("comply", "bad option value", ["--duration-scale", "abc"], 2, "'--duration-scale'"),
              ("design", "bad option value", ["--c-load-f", "abc"], 2, "'--c-load-f'"),
              ("config show", "bad option value", ["--mains-hz", "abc"], 2, "'--mains-hz'")]
    return cases


@pytest.mark.parametrize("command, mistake, extra, code, fragment", exit_code_cases(),
                         ids=[f"{c[0]}-{c[1]}" for c in exit_code_cases()])
def test_exit_codes_are_the_same_for_the_same_mistake_in_every_command(tmp_path, monkeypatch, command, mistake,
                                                                       extra, code, fragment):
    # Usage errors exit 2, file-system errors 1 (README "Exit codes"); all fail before any work is done.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    extra = [a.format(tmp=tmp_path) for a in extra]
    out = [] if "--out" in extra or command not in HAS["--out"] else ["--out", str(tmp_path / "o")]
    one_line_error(invoke(*COMMANDS[command], *out, *extra), code, fragment.format(tmp=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def command_paths(group=None, path=()):
    """Every leaf command of the app, as the words that name it."""
    import typer.main

    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from command_paths(cmd, (*path, name))
        else:
            yield (*path, name), cmd


@pytest.mark.parametrize("path, command", list(command_paths()), ids=lambda p: " ".join(p) if isinstance(p, tuple)
                         else "")
def test_help_shows_every_default(path, command):
    # Every option that takes a value states its default ([default: ...]); flags are off unless given.
    text = invoke(*path, "--help", env={"COLUMNS": "400"}).stdout
    rows = {row.strip("│ ").lstrip("* ").split()[0].rstrip("."): row  # "record..." is the argument record
            for row in text.splitlines() if row.startswith("│")}
    for param in command.params:
        name = param.opts[0] if param.param_type_name == "option" else param.name
        if name == "--help" or param.required or (getattr(param, "is_flag", False) and param.default is False):
            continue
        assert "[default: " in rows[name], rows[name]


def test_help_defaults_agree_with_the_configuration_defaults():
    # The shortcut options' stated defaults are the values of acquire.config.DEFAULTS they stand for.
    from acquire.config import DEFAULTS

    text = invoke("simulate", "--help", env={"COLUMNS": "400"}).stdout
    for key in ("mains.frequency_hz", "electrodes.imbalance", "source.start_s", "source.duration_s",
                "amplifier.preset", "run.seed", "source.name"):
        section, name = key.split(".")
        value = DEFAULTS[section][name]
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        assert re.search(rf"the config's {re.escape(key)}[^\]]*, {re.escape(shown)}\)", text), key


# --------------------------------------------------------------------------- global options, seeds, limits

def test_quiet_and_verbose_after_the_command_mean_the_same(tmp_path):
    import logging

    before = invoke("-q", "simulate", "--duration-s", "2")
    after = invoke("simulate", "--duration-s", "2", "--quiet")
    loud = invoke("simulate", "--duration-s", "2")
    assert before.exit_code == after.exit_code == loud.exit_code == 0
    # --quiet drops the progress bar (stderr) but still prints the result, the same table either way.
    assert "simulating" in loud.stderr and before.stderr == after.stderr == ""
    assert "residual_mains_uv_rms" in after.stdout and after.stdout == before.stdout == loud.stdout
    assert invoke("presets", "-v").exit_code == 0 and logging.getLogger().level == logging.INFO
    assert invoke("presets").exit_code == 0 and logging.getLogger().level == logging.WARNING
    r = invoke("simulate", "--preset", "ina12", "--debug")
    assert isinstance(r.exception, ValueError)  # --debug after the command re-raises, as before it


def test_seed_changes_the_synthetic_ecg_and_the_noise():
    def reference(*seed):
        r = invoke("simulate", "--duration-s", "2", "--json", *seed)
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        return doc["provenance"]["config"], doc["channels"]["ECG"]["acquired"]["snr_in_db"]

    (cfg0, snr0), (cfg0b, snr0b), (cfg7, snr7) = reference(), reference("--seed", "0"), reference("--seed", "7")
    assert cfg7["source"]["seed"] == cfg7["run"]["seed"] == 7 and cfg0["source"]["seed"] == 0
    assert snr0 == snr0b and snr7 != snr0  # the same seed reproduces the run; another one changes it


@pytest.mark.parametrize("args, fragments", [
    (("simulate", "--seed", "-1000"), ("--seed: source.seed must be an integer from 0 to 4294967295", "got -1000")),
    (("simulate", "--start-s", "nan"), ("--start-s: source.start_s must be a number, not NaN",)),
    (("simulate", "--duration-s", "nan"), ("--duration-s: source.duration_s must be a number, not NaN",)),
    (("simulate", "--channel", "MLII", "--channel", "MLII"), ("--channel: source.channels lists 'MLII' twice",)),
    (("simulate", "--set", "run.seed=-3"), ("run.seed must be an integer from 0 to 4294967295; got -3",)),
    (("comply", "--duration-scale", "1e6"), ("--duration-scale must be from 0.01 to 10", "got 1e+06")),
    (("comply", "--duration-scale", "0"), ("--duration-scale must be from 0.01 to 10", "got 0")),
    (("montecarlo", "--seed", "-5", "--draws", "10"), ("--seed: source.seed must be an integer from 0", "got -5")),
    (("simulate", "--duration-s", "0"), ("--duration-s: duration_s must be finite and > 0; got 0.0",)),
    (("simulate", "--channel", "5"), ("--channel: channel index must be in 0..0; got 5",)),
    (("simulate", "mitdb/100", "--start-s", "1e6"), ("--start-s: start_s=1e+06 s is past the end of the recording",)),
    (("simulate", "mitdb/100", "--duration-s", "1e4"), ("--duration-s: start_s + duration_s = 10000 s exceeds",)),
])
def test_messages_name_the_parameter_and_quote_the_value(mirror, tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    one_line_error(invoke(*args, env={"ECGFE_DATA_DIR": str(mirror)}), 2, *fragments)


@pytest.mark.parametrize("make", ["fifo", "directory", "device"])
def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path, make):
    import os

    path = {"fifo": tmp_path / "fifo", "directory": tmp_path, "device": "/dev/zero"}[make]
    if make == "fifo":
        os.mkfifo(path)  # reading it would block forever
    for args in (("config", "validate", str(path)), ("simulate", "--config", str(path))):
        one_line_error(invoke(*args), 2, f"config {path} is not a regular file")


@pytest.mark.parametrize("preset", ["ads1298", "ad8232"])
def test_config_show_prints_what_the_built_chain_uses(preset):
    # [post] and [adc] as build_frontend completes them (defaults, preset, config), and the mains-tuned
    # digital stages: the printed values are the built chain's.
    from dataclasses import asdict

    from acquire.config import resolve_config
    from acquire.frontend import build_frontend

    r = invoke("config", "show", "--preset", preset, "--mains-hz", "50")
    assert r.exit_code == 0, r.output
    shown = tomllib.loads(r.stdout)
    built = build_frontend(resolve_config(values={"amplifier.preset": preset, "mains.frequency_hz": 50}),
                           fs_src_hz=500.0, n_channels=1).info
    assert shown["adc"] == asdict(built["adc"]) and shown["post"] == built["post"]
    assert shown["mains"] == {"frequency_hz": 50.0, "mains_v_rms": 230.0}
    assert [s.get("f0_hz") for s in shown["digital"]] == [None, 50.0, None]
    # The printed file is a config that builds the same chain whichever preset the defaults name.
    rebuilt = build_frontend(resolve_config(shown), fs_src_hz=500.0, n_channels=1).info
    assert asdict(rebuilt["adc"]) == shown["adc"] and rebuilt["post"] == shown["post"]
