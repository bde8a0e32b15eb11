"""Regenerate the ngspice oracle for tests/test_diffpair.py (needs ngspice; the tests do not).

Usage, from the repository root::

    python tests/data/diffpair/run_ngspice.py

Writes the small-signal netlists resistive.cir, active.cir and cascode.cir
from CASES below (one subcircuit per load, one instance per case and drive),
runs them and the hand-written active_level1_length.cir with ``ngspice -b``,
and writes ngspice_results.json. Independent of the ecgfe code on purpose.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = {"gm_s": 1e-3, "ro_n_ohm": 100e3, "ro_p_ohm": 100e3, "c_load_f": 1e-12, "r_tail_ohm": 100e3}

#: tag -> (description, DiffPairParams keyword arguments beyond BASE)
CASES = {
    "resistive": {
        "r0": ("matched", {}),
        "r1": ("R_D mismatch +1 %", {"r_d_mismatch_fraction": 0.01}),
        "r2": ("g_m mismatch +1 %", {"gm_mismatch_fraction": 0.01}),
        "r3": ("g_m +1 %, R_D +1 %", {"gm_mismatch_fraction": 0.01, "r_d_mismatch_fraction": 0.01}),
        "r4": ("g_m -1 %, R_D +1 %", {"gm_mismatch_fraction": -0.01, "r_d_mismatch_fraction": 0.01}),
        "r5": ("R_SS = 1 kOhm (2 g_m R_SS = 2), g_m +1 %, R_D +1 %",
               {"r_tail_ohm": 1e3, "gm_mismatch_fraction": 0.01, "r_d_mismatch_fraction": 0.01}),
        "r6": ("near-ideal tail R_SS = 1 TOhm, g_m +1 %", {"r_tail_ohm": 1e12, "gm_mismatch_fraction": 0.01}),
    },
    "active": {
        "a0": ("matched", {}),
        "a1": ("g_m mismatch +1 %", {"gm_mismatch_fraction": 0.01}),
        "a2": ("g_m mismatch -1 %", {"gm_mismatch_fraction": -0.01}),
        "a3": ("mirror mismatch +1 %", {"mirror_mismatch_fraction": 0.01}),
        "a4": ("mirror mismatch -1 %", {"mirror_mismatch_fraction": -0.01}),
        "a5": ("g_m -1 %, mirror -1 %", {"gm_mismatch_fraction": -0.01, "mirror_mismatch_fraction": -0.01}),
        "a6": ("near-ideal tail R_SS = 1 TOhm, g_m +1 %", {"r_tail_ohm": 1e12, "gm_mismatch_fraction": 0.01}),
    },
    "cascode": {
        "c0": ("matched", {}),
        "c1": ("g_m mismatch +1 %", {"gm_mismatch_fraction": 0.01}),
        "c2": ("g_m mismatch -1 %", {"gm_mismatch_fraction": -0.01}),
        "c3": ("mirror mismatch +1 %", {"mirror_mismatch_fraction": 0.01}),
        "c4": ("mirror mismatch -1 %", {"mirror_mismatch_fraction": -0.01}),
        "c5": ("g_m -1 %, mirror -1 %", {"gm_mismatch_fraction": -0.01, "mirror_mismatch_fraction": -0.01}),
        "c6": ("near-ideal tail R_SS = 1 TOhm, g_m +1 %", {"r_tail_ohm": 1e12, "gm_mismatch_fraction": 0.01}),
    },
}

# Each MOSFET is a VCCS g_m (v_g - v_s) from drain to source plus r_o (no body effect).
SUBCKT = {
    "resistive": """\
.subckt pair g1 g2 d1 d2 out gm1=1m gm2=1m rd1=10k rd2=10k ro=100k rss=100k cl=1p
G1 d1 s g1 s {gm1}
R1 d1 s {ro}
G2 d2 s g2 s {gm2}
R2 d2 s {ro}
RD1 d1 0 {rd1}
RD2 d2 0 {rd2}
C1 d1 0 {cl}
C2 d2 0 {cl}
RSS s 0 {rss}
* differential output v(d2) - v(d1)
EO out 0 d2 d1 1
.ends
""",
    "active": """\
.subckt pair g1 g2 out gm1=1m gm2=1m gm3=1m gm4=1m ron=100k rop=100k rss=100k cl=1p
* NMOS input pair: M1 drain d1, M2 drain out
G1 d1 s g1 s {gm1}
R1 d1 s {ron}
G2 out s g2 s {gm2}
R2 out s {ron}
* PMOS mirror, sources at ac ground: M3 diode-connected at d1, M4 drives out
G3 d1 0 d1 0 {gm3}
R3 d1 0 {rop}
G4 out 0 d1 0 {gm4}
R4 out 0 {rop}
RSS s 0 {rss}
CL out 0 {cl}
.ends
""",
    "cascode": """\
.subckt pair g1 g2 out gm1=1m gm2=1m gm3=1m gm4=1m gm=1m ron=100k rop=100k rss=100k cl=1p
* NMOS input pair (drains x1, x2) and NMOS cascodes (gates at ac ground)
G1 x1 s g1 s {gm1}
R1 x1 s {ron}
G2 x2 s g2 s {gm2}
R2 x2 s {ron}
G1C b x1 0 x1 {gm}
R1C b x1 {ron}
G2C out x2 0 x2 {gm}
R2C out x2 {ron}
* PMOS cascode mirror: M3 (diode, node a) under M3C (diode, node b); M4 (node c) under M4C (out)
G3 a 0 a 0 {gm3}
R3 a 0 {rop}
G3C b a b a {gm}
R3C b a {rop}
G4 c 0 a 0 {gm4}
R4 c 0 {rop}
G4C out c b c {gm}
R4C out c {rop}
RSS s 0 {rss}
CL out 0 {cl}
.ends
""",
}


def _instance_params(load: str, p: dict) -> str:
    """Subcircuit parameters of one case: mismatched elements split +-eps/2 about nominal."""
    gm, h = p["gm_s"], p.get("gm_mismatch_fraction", 0.0) / 2
    out = {"gm1": gm * (1 + h), "gm2": gm * (1 - h), "rss": p["r_tail_ohm"], "cl": p["c_load_f"]}
    if load == "resistive":
        hr = p.get("r_d_mismatch_fraction", 0.0) / 2
        out.update(rd1=p["r_d_ohm"] * (1 + hr), rd2=p["r_d_ohm"] * (1 - hr), ro=p["ro_n_ohm"])
    else:
        hm = p.get("mirror_mismatch_fraction", 0.0) / 2
        out.update(gm3=gm * (1 - hm), gm4=gm * (1 + hm), ron=p["ro_n_ohm"], rop=p["ro_p_ohm"])
        if load == "cascode":
            out["gm"] = gm
    return " ".join(f"{k}={v:.12g}" for k, v in out.items())


def _params(load: str, extra: dict) -> dict:
    p = {**BASE, "load": load, **extra}
    if load == "resistive":
        p["r_d_ohm"] = 10e3
    return p


def write_netlist(load: str) -> Path:
    lines = [f"* {load}-load MOS differential pair, small signal (ecgfe oracle; generated by run_ngspice.py)",
             "* g_m = 1 mS, r_o = 100 kOhm, C_L = 1 pF, R_SS = 100 kOhm unless the case says otherwise",
             SUBCKT[load],
             "* drives: dp/dn differential (+-0.5 V ac), cm common mode (1 V ac)",
             "VP dp 0 dc 0 ac 0.5", "VN dn 0 dc 0 ac 0.5 180", "VC cm 0 dc 0 ac 1"]
    meas = []
    for tag, (desc, extra) in CASES[load].items():
        prm = _instance_params(load, _params(load, extra))
        lines.append(f"* {tag}: {desc}")
        if load == "resistive":  # ports g1 g2 d1 d2 out; 1 A ac test current out of d1, into d2
            lines += [f"X{tag}D dp dn {tag}d1 {tag}d2 {tag}d pair {prm}",
                      f"X{tag}C cm cm {tag}c1 {tag}c2 {tag}c pair {prm}",
                      f"X{tag}R 0 0 {tag}r1 {tag}r2 {tag}r pair {prm}",
                      f"I{tag}R {tag}r1 {tag}r2 dc 0 ac 1"]
        else:  # ports g1 g2 out; 1 A ac test current into the output
            lines += [f"X{tag}D dp dn {tag}d pair {prm}", f"X{tag}C cm cm {tag}c pair {prm}",
                      f"X{tag}R 0 0 {tag}r pair {prm}", f"I{tag}R 0 {tag}r dc 0 ac 1"]
        meas += [f"meas ac {tag}_ad find vm({tag}d) at=1",
                 f"meas ac {tag}_acm find vm({tag}c) at=1",
                 f"meas ac {tag}_zout find vm({tag}r) at=1",
                 f"let {tag}_lim = {tag}_ad/sqrt(2)",
                 f"meas ac {tag}_f3db when vm({tag}d)=$&{tag}_lim"]
    lines += [".control", "ac dec 2000 1 10g", *meas, "quit", ".endc", ".end", ""]
    path = HERE / f"{load}.cir"
    path.write_text("\n".join(lines))
    return path


def run(path: Path) -> dict:
    out = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True, check=True).stdout
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\w+)\s+=\s+([-+0-9.eE]+)", out, re.M)}


def main() -> None:
    version = subprocess.run(["ngspice", "-v"], capture_output=True, text=True).stdout
    version = next(line.strip("* ").strip() for line in version.splitlines() if "ngspice-" in line)
    small = []
    for load in CASES:
        values = run(write_netlist(load))
        for tag, (desc, extra) in CASES[load].items():
            small.append({"case": tag, "netlist": f"{load}.cir", "description": desc,
                          "params": _params(load, extra),
                          "a_d_v_per_v": values[f"{tag}_ad"], "a_cm_v_per_v": values[f"{tag}_acm"],
                          "z_out_port_ohm": values[f"{tag}_zout"], "f_3db_hz": values[f"{tag}_f3db"]})
    values = run(HERE / "active_level1_length.cir")
    lengths = []
    for tag, l_m in (("l1", 1e-6), ("l2", 2e-6), ("l4", 4e-6)):
        lengths.append({"l_m": l_m, "a_d_v_per_v": values[f"{tag}_ad"], "f_3db_hz": values[f"{tag}_f3db"],
                        "gm_m1_s": values[f"{tag}_gm1"], "gds_m1_s": values[f"{tag}_gds1"],
                        "gds_m4_s": values[f"{tag}_gds4"], "vds_m1_v": values[f"{tag}_vds1"]})
    result = {
        "ngspice": version,
        "command": "ngspice -b <netlist>.cir (via tests/data/diffpair/run_ngspice.py)",
        "small_signal": small,
        "length_sweep": {
            "netlist": "active_level1_length.cir",
            "device": {"id_a": 50e-6, "lambda0_per_v": 0.02, "l0_m": 1e-6, "w_over_l": 12.5,
                       "mu_cox_a_per_v2": 200e-6},
            "circuit": {"load": "active", "c_load_f": 1e-12, "r_tail_ohm": "inf"},
            "points": lengths,
        },
    }
    (HERE / "ngspice_results.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
