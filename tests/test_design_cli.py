"""``ecgfe design diffpair`` and ``acquire.api.design_diffpair``: tables against design(), strict JSON,
sweeps with their figure, one-line errors; the designed stage in simulate, compare and the CLI."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

import acquire
from acquire.design import design_diffpair
from acquire.output.figures import plot_design_sweep
from acquire.output.figures.design import design_table, format_si, scenario
from cli import app
from test_cli import one_line_error
from frontend_models.diffpair import DiffPairParams, design, load_design, summarize, sweep_design

runner = CliRunner()
SMALL = ["--gm-s", "1e-3", "--ro-n-ohm", "1e5"]  # worked-examples.md: g_m = 1 mS, r_o = 100 kOhm
# Device-level example of the ngspice length sweep: g_m = 0.5 mS, r_o = 1 MOhm at L = 1 um.
DEVICE = ["--id-a", "50e-6", "--w-over-l", "12.5", "--mu-cox-a-per-v2", "200e-6", "--lambda0-per-v", "0.02",
          "--l0-m", "1e-6"]
DEVICE_KEYS = {"id_a": 50e-6, "w_over_l": 12.5, "mu_cox_a_per_v2": 200e-6, "lambda0_per_v": 0.02, "l0_m": 1e-6}
PAIR_TOML = 'load = "active"\ngm_s = 1e-3\nro_n_ohm = 1e5\nr_tail_ohm = 1e5\ngm_mismatch_fraction = 0.01\n'


def invoke(*args):
    return runner.invoke(app, ["design", "diffpair", *args])


def table_cells(stdout: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a format_table table (columns separated by two or more spaces)."""
    import re

    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    i = next(k for k, ln in enumerate(lines) if set(ln.replace(" ", "")) == {"-"})
    split = lambda ln: [c.strip() for c in re.split(r"\s{2,}", ln.strip())]  # noqa: E731
    return split(lines[i - 1]), [split(ln) for ln in lines[i + 1:] if not ln.startswith("wrote ")]


# --- engineering units --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, unit, text", [
    (1 / (2 * math.pi * 1e-12) * 1e-3, "Hz", "159.2 MHz"),
    (9.0909e3, "Ω", "9.091 kΩ"),
    (999.97, "Ω", "1 kΩ"),            # rounds up into the next prefix
    (1.8e-7, "m", "180 nm"),
    (5049.5, "V/V", "5050 V/V"),      # gains carry no prefix
    (-0.01, "%", "-1 %"),
    (0.0, "V/V", "0 V/V"),
    (math.inf, "dB", "inf dB"),
    ("inf", "dB", "inf dB"),
    (None, "Hz", "-"),
])
def test_format_si(value, unit, text):
    assert format_si(value, unit) == text


# --- the side-by-side table ---------------------------------------------------------------------------

def test_table_matches_design_for_every_load():
    r = invoke(*SMALL, "--r-d-ohm", "1e4", "--r-tail-ohm", "1e5", "--gm-mismatch", "0.01")
    assert r.exit_code == 0, r.output
    head, rows = table_cells(r.stdout)
    assert head == ["quantity", "resistive", "active", "cascode"]
    cells = {row[0]: dict(zip(head[1:], row[1:])) for row in rows}
    base = dict(gm_s=1e-3, ro_n_ohm=1e5, r_tail_ohm=1e5, gm_mismatch_fraction=0.01)
    for load in ("resistive", "active", "cascode"):
        res = design(DiffPairParams(**base, load=load, r_d_ohm=1e4 if load == "resistive" else None))
        col = {name: cells[name][load] for name in cells}
        assert col["A_d"] == f"{format_si(res.a_d_v_per_v, 'V/V')} ({20 * math.log10(res.a_d_v_per_v):.4g} dB)"
        for name, value, unit in (("R_out", res.r_out_ohm, "Ω"), ("A_cm", res.a_cm_v_per_v, "V/V"),
                                  ("CMRR", res.cmrr_db, "dB"), ("f_−3dB", res.f_3db_hz, "Hz"),
                                  ("f_T", res.f_t_hz, "Hz"), ("GBW", res.gbw_hz, "Hz")):
            assert col[name] == format_si(value, unit), name
        sign = res.evaluated.gm_mismatch_fraction
        assert col["mismatch signs used"] == f"Δg_m/g_m {sign * 100:+.3g} %"
    # The numbers a reader checks by hand: g_m (R_D || r_o) = 9.091 (19.17 dB), f_T = g_m/(2 pi 1 pF).
    assert cells["A_d"]["resistive"] == "9.091 V/V (19.17 dB)"
    assert cells["f_T"]["active"] == "159.2 MHz"
    assert cells["r_o,p"]["resistive"] == "-"
    assert "worst-case mismatch signs" in r.stdout


def test_one_load_file_and_flags_override(tmp_path):
    path = tmp_path / "pair.toml"
    path.write_text(PAIR_TOML)
    r = invoke("--file", str(path))
    assert r.exit_code == 0, r.output
    head, rows = table_cells(r.stdout)
    assert head == ["quantity", "active"]  # the file's load
    expected = summarize(load_design(path))
    assert dict(rows)["CMRR"] == format_si(expected["cmrr_db"], "dB") == "72.18 dB"
    r = invoke("--file", str(path), "--r-tail-ohm", "1e6", "--load", "cascode", "--polarity", "best")
    assert r.exit_code == 0, r.output
    table = {**tomllib.loads(PAIR_TOML), "r_tail_ohm": 1e6, "load": "cascode"}
    better = summarize(load_design(table), polarity="best")
    assert dict(table_cells(r.stdout)[1])["CMRR"] == format_si(better["cmrr_db"], "dB")
    assert "best-case mismatch signs" in r.stdout


def test_device_level_flags():
    r = invoke(*DEVICE, "--l-m", "1e-6", "--load", "active")
    assert r.exit_code == 0, r.output
    rows = dict(table_cells(r.stdout)[1])
    assert rows["g_m"] == "500 µS" and rows["r_o,n"] == "1 MΩ"  # ngspice length sweep's device at L = 1 um


# --- JSON -----------------------------------------------------------------------------------------------

def strict_loads(text: str):
    def refuse(name):
        raise AssertionError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_with_unit_keys_and_inf_as_string():
    r = invoke(*SMALL, "--r-d-ohm", "1e4", "--json")
    assert r.exit_code == 0, r.output
    doc = strict_loads(r.stdout)
    assert doc["schema"] == "ecgfe.design.diffpair/1" and doc["loads"] == ["resistive", "active", "cascode"]
    assert doc["polarity"] == "worst" and doc["sweep"] is None and doc["files"] == []
    for row in doc["rows"]:
        for key in ("a_d_v_per_v", "a_d_db", "r_out_ohm", "a_cm_v_per_v", "cmrr_db", "f_3db_hz", "f_t_hz",
                    "gbw_hz", "gm_s", "ro_n_ohm", "c_load_f", "r_tail_ohm"):
            assert key in row
        assert row["cmrr_db"] == "inf" and row["r_tail_ohm"] == "inf"  # ideal tail, matched pair
        expected = summarize(DiffPairParams(1e-3, 1e5, load=row["load"],
                                            r_d_ohm=1e4 if row["load"] == "resistive" else None))
        assert row["a_d_v_per_v"] == expected["a_d_v_per_v"] and row["f_3db_hz"] == expected["f_3db_hz"]
    assert "Infinity" not in r.stdout and "NaN" not in r.stdout


# --- sweeps ---------------------------------------------------------------------------------------------

def test_sweep_table_figure_and_json_files(tmp_path):
    out = tmp_path / "sw"
    r = invoke(*DEVICE, "--load", "active", "--sweep", "l_m=0.18e-6,0.5e-6,1e-6,2e-6", "--out", str(out))
    assert r.exit_code == 0, r.output
    head, rows = table_cells(r.stdout)
    assert head == ["L (m)", "A_d", "R_out", "A_cm", "CMRR", "f_−3dB", "f_T", "GBW"]
    assert [row[0] for row in rows] == ["180 nm", "500 nm", "1 µm", "2 µm"]
    expected = sweep_design({**DEVICE_KEYS, "load": "active"}, "l_m", [0.18e-6, 0.5e-6, 1e-6, 2e-6])
    assert [row[1] for row in rows] == [f"{format_si(e['a_d_v_per_v'], 'V/V')} ({e['a_d_db']:.4g} dB)"
                                        for e in expected]
    assert [row[5] for row in rows] == [format_si(e["f_3db_hz"], "Hz") for e in expected]
    for name in ("design_sweep.png", "design_sweep.svg", "design_sweep.pdf", "design_diffpair.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    assert (out / "design_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.part"))  # atomic writes left no temporary file
    doc = strict_loads((out / "design_diffpair.json").read_text())
    assert doc["sweep"] == {"key": "l_m", "values": [0.18e-6, 0.5e-6, 1e-6, 2e-6]}
    assert [row["a_d_v_per_v"] for row in doc["rows"]] == [e["a_d_v_per_v"] for e in expected]
    svg = (out / "design_sweep.svg").read_text()
    assert "Channel length" in svg and "(µm)" in svg and "Frequency (Hz)" in svg


def test_sweep_over_all_loads_has_a_load_column():
    r = invoke(*SMALL, "--r-d-ohm", "1e4", "--gm-mismatch", "0.01", "--sweep", "r_tail_ohm=1e4:1e6:3")
    assert r.exit_code == 0, r.output
    head, rows = table_cells(r.stdout)
    assert head[:2] == ["R_SS (Ω)", "load"] and len(rows) == 9
    assert [row[0] for row in rows[:3]] == ["10 kΩ", "100 kΩ", "1 MΩ"]  # N = 3 points, geometric over 2 decades
    assert [row[1] for row in rows] == ["resistive"] * 3 + ["active"] * 3 + ["cascode"] * 3


@pytest.mark.parametrize("spec, values", [
    ("l_m=0.5e-6:2e-6:4", [0.5e-6, 1e-6, 1.5e-6, 2e-6]),           # N, a range under a decade: even
    ("l_m=0.2e-6:20e-6:3", [0.2e-6, 2e-6, 20e-6]),                  # N over two decades: geometric
    ("l_m=1e-6:2e-6:0.5e-6", [1e-6, 1.5e-6, 2e-6]),                 # a STEP (exponent), decimal arithmetic
    ("l_m=1e-6,3e-6", [1e-6, 3e-6]),
])
def test_sweep_forms(spec, values):
    doc = design_diffpair(load="active", sweep=spec, **DEVICE_KEYS)
    assert doc["sweep"]["values"] == pytest.approx(values, rel=1e-12)
    assert [row["l_m"] for row in doc["rows"]] == doc["sweep"]["values"]


def test_api_sweep_pair_and_load_all_keys(tmp_path):
    doc = design_diffpair({"gm_s": 1e-3, "ro_n_ohm": 1e5, "r_d_ohm": 1e4, "mirror_mismatch_fraction": 0.01},
                          sweep=("c_load_f", [1e-12, 2e-12]), out=tmp_path)
    by_load = {row["load"]: row for row in doc["rows"] if row["c_load_f"] == 2e-12}
    assert by_load["resistive"]["mirror_mismatch_fraction"] == 0 and by_load["active"]["r_d_ohm"] is None
    assert abs(by_load["active"]["mirror_mismatch_fraction"]) == 0.01
    assert [p.rsplit("/", 1)[-1] for p in doc["files"]] == ["design_sweep.png", "design_sweep.svg",
                                                            "design_sweep.pdf", "design_diffpair.json"]


# --- errors ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragments", [
    (SMALL, ("resistive load needs r_d_ohm", "load 'all' includes it")),
    ([*SMALL, "--load", "resistive"], ("resistive load needs r_d_ohm",)),
    ([*SMALL, "--id-a", "1e-4", "--load", "active"], ("not both", "got gm_s, ro_n_ohm, id_a")),
    (["--gm-s", "1e-3", "--load", "active"], ("missing ro_n_ohm",)),
    ([], ("missing gm_s, ro_n_ohm",)),
    ([*SMALL, "--load", "active", "--sweep", "l_mm=1e-6,2e-6"], ("unknown key 'l_mm'", "Did you mean 'l_m'")),
    ([*SMALL, "--load", "actve"], ("Did you mean 'active'",)),
    ([*SMALL, "--load", "active", "--polarity", "worse"], ("Did you mean 'worst'",)),
    ([*SMALL, "--load", "active", "--r-d-ohm", "1e4"], ("r_d_ohm is required for load='resistive' and only",)),
    ([*SMALL, "--load", "active", "--sweep", "r_d_ohm=1e3,2e3"], ("applies to the resistive load only",)),
    ([*SMALL, "--load", "active", "--sweep", "gm_s"], ("--sweep expects KEY=START:STOP:N",)),
    ([*SMALL, "--load", "active", "--sweep", "gm_s=1e-3:2e-3:1"], ("2 <= N <= 1000",)),
    ([*SMALL, "--load", "active", "--sweep", "gm_s=2e-3:1e-3:1e-4"], ("--sweep gm_s: empty range",)),
    ([*SMALL, "--load", "active", "--gm-mismatch", "1"], ("signed fraction in (-1, 1)",)),
    (["--file", "no-such-pair.toml"], ("cannot read the design file no-such-pair.toml",)),
])
def test_usage_errors_are_one_line_exit_2(args, fragments):
    one_line_error(invoke(*args), 2, *fragments)


def test_unwritable_out_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    # a file-system failure: exit 1, one line naming the path and the errno
    one_line_error(invoke(*SMALL, "--load", "active", "--sweep", "gm_s=1e-3,2e-3", "--out", str(blocker / "x")),
                   1, "cannot write", "ENOTDIR")


# --- the figure -----------------------------------------------------------------------------------------

def test_plot_design_sweep_axes_units_and_gbw_lines():
    x = np.array([0.18e-6, 0.5e-6, 1e-6, 2e-6])
    gain = {"active": 50 * x / 1e-6, "cascode": 5000 * (x / 1e-6) ** 2}
    f3 = {k: 80e6 / v for k, v in gain.items()}
    gbw = {k: np.full(4, 80e6) for k in gain}
    fig = plot_design_sweep(x, gain, f3, gbw, key="l_m", scenario=scenario({"gm_s": 1e-3, "c_load_f": 1e-12},
                                                                            tex=True))
    gain_ax, freq_ax = fig.axes[:2]
    assert freq_ax.get_xlabel() == "Channel length $L$ (µm)"
    assert "(V/V)" in gain_ax.get_ylabel() and freq_ax.get_ylabel() == "Frequency (Hz)"
    assert gain_ax.get_yscale() == freq_ax.get_yscale() == freq_ax.get_xscale() == "log"
    assert freq_ax.get_lines()[0].get_xdata()[0] == pytest.approx(0.18)  # drawn in µm
    gbw_lines = [ln for ln in freq_ax.get_lines() if ln.get_gid() == "gbw"]
    assert len(gbw_lines) == 2 and all(np.allclose(ln.get_ydata(), 80e6) for ln in gbw_lines)
    title = fig._suptitle.get_text()
    assert "channel length" in title and "$g_m$ = 1 mS" in title and "$C_L$ = 1 pF" in title
    narrow = plot_design_sweep([1.0, 2.0], {"a": [10.0, 11.0]}, {"a": [1e6, 1.1e6]}, {"a": [1e7, 1.2e7]},
                               key="w_over_l")
    assert narrow.axes[0].get_yscale() == narrow.axes[1].get_xscale() == "linear"


def test_plot_design_sweep_given_axes_and_errors():
    own = Figure()
    axes = own.subplots(2, 1)
    assert plot_design_sweep([1.0, 2.0], {"a": [1.0, 2.0]}, {"a": [1.0, 2.0]}, {"a": [2.0, 4.0]}, key="gm_s",
                             axes=axes) is own
    with pytest.raises(ValueError, match="same, non-empty designs"):
        plot_design_sweep([1.0], {"a": [1.0]}, {"b": [1.0]}, {"a": [1.0]}, key="gm_s")
    with pytest.raises(ValueError, match="length 2"):
        plot_design_sweep([1.0, 2.0], {"a": [1.0]}, {"a": [1.0, 2.0]}, {"a": [1.0, 2.0]}, key="gm_s")


def test_design_table_sweep_rows_repeat_values_per_load():
    rows = sweep_design({"gm_s": 1e-3, "ro_n_ohm": 1e5, "load": "active"}, "c_load_f", [1e-12, 2e-12])
    columns, cells = design_table(rows, "c_load_f", [1e-12, 2e-12])
    assert columns[0] == "C_L (F)" and "load" not in columns
    assert [c["C_L (F)"] for c in cells] == ["1 pF", "2 pF"]


# --- the designed stage in simulations ------------------------------------------------------------------

@pytest.fixture
def pair_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pair.toml").write_text(PAIR_TOML)
    return tmp_path


def test_compare_a_designed_stage_beside_a_preset(pair_dir):
    cmp = acquire.compare(["ina128", "design:pair.toml"], source__duration_s=5)
    assert [row["preset"] for row in cmp.rows] == ["ina128", "design:pair.toml"]
    doc = cmp.metrics["design:pair.toml"]
    assert doc["provenance"]["preset"] == "design:pair.toml"
    assert doc["nominal_gain_v_per_v"] == pytest.approx(summarize(load_design("pair.toml"))["a_d_v_per_v"])


def test_cli_simulate_with_a_designed_stage(pair_dir):
    r = runner.invoke(app, ["simulate", "--set", "amplifier.design=pair.toml", "--duration-s", "5", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["provenance"]["preset"] == "design:pair.toml"
    r = runner.invoke(app, ["simulate", "--preset", "design:pair.toml", "--duration-s", "5"])
    assert r.exit_code == 0, r.output
    assert "preset design:pair.toml" in r.stdout


def test_cli_simulate_with_an_ideal_pair_is_a_one_line_error(pair_dir):
    (pair_dir / "ideal.toml").write_text('load = "active"\ngm_s = 1e-3\nro_n_ohm = 1e5\n')
    one_line_error(runner.invoke(app, ["simulate", "--set", "amplifier.design=ideal.toml", "--duration-s", "5"]),
                   2, "infinite CMRR", "r_tail_ohm")
