"""Regenerate ngspice_results.json from patient.cir (needs ngspice 39 or later; the tests do not).

Usage, from the repository root: ``python tests/data/patient/run_ngspice.py``.
Independent of the ecgfe code on purpose: it only runs ngspice and parses its printout.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = {"P1": "b1", "P2": "b2", "P3": "b3", "P4": "b4,r4", "P5": "b5,r5", "P6": "b6,r6"}


def main() -> None:
    # ngspice 39 in batch mode with a .control block exits 1 even on success: check the printout instead
    out = subprocess.run(["ngspice", "-b", str(HERE / "patient.cir")], capture_output=True, text=True).stdout
    values = {m.group(1) + m.group(2): float(m.group(3))
              for m in re.finditer(r"^(v[ri])\(([^)]*)\)\s*=\s*(\S+)", out, re.M)}
    results = {case: [values[f"vr{node}"], values[f"vi{node}"]] for case, node in CASES.items()}
    version = re.search(r"ngspice-(\d+)", subprocess.run(["ngspice", "--version"], capture_output=True,
                                                         text=True).stdout)
    doc = {"ngspice": version.group(1) if version else "unknown", "f_hz": 60.0, "mains_v_rms": 120.0,
           "v_cm_re_im_v": results}
    (HERE / "ngspice_results.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
