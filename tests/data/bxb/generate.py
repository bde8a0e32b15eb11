"""Regenerate ``random_cases.json``: random annotation pairs scored by WFDB's own ``bxb``.

Not part of the test suite (it needs the WFDB binaries); kept so the expected
counts can be re-derived. Build ``bxb`` from WFDB 10.7 (github.com/bemoody/wfdb,
``./configure --without-netfiles --without-flac --without-xview --static_only``,
``make -C lib``, then ``gcc -Ilib/.. app/bxb.c lib/libwfdb.a -lm`` with the
headers under ``wfdb/``) and run ``python generate.py /path/to/bxb``.

Each case is a record header of ``n_samples`` samples at ``fs_hz``, a
reference annotation file (beats N V A L, flutter waves ``!``, rhythm ``+``,
noise ``~``, VF episodes ``[`` ``]`` some left open, a stray ``]``) and a test
file of N beats, compared with ``bxb -f s<start> [-t s<end>]``; the QRS TP, FN
and FP are read from bxb's "QRS sensitivity" and "QRS positive predictivity"
lines. Intervals of 5 to 160 samples at 360 Hz (match window 54 samples) make
every branch of bxb's walk frequent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", "The inplace keyword", DeprecationWarning)
import wfdb  # noqa: E402

FS_HZ = 360.0


def run_bxb(bxb: str, case: dict) -> list[int]:
    """bxb's (TP, FN, FP) for one case."""
    with tempfile.TemporaryDirectory() as d:
        Path(d, "rec.hea").write_text(f"rec 0 {case['fs_hz']:g} {case['n_samples']}\n")
        ref = case["ref"] or [[0, '"']]  # a comment annotation: bxb reads no beat from it
        test = [[t, "N"] for t in case["test"]] or [[0, '"']]
        for ext, ann in (("ref", ref), ("tst", test)):
            wfdb.wrann("rec", ext, np.array([a[0] for a in ann]), symbol=[a[1] for a in ann],
                       write_dir=d, fs=case["fs_hz"])
        args = [bxb, "-r", "rec", "-a", "ref", "tst", "-f", f"s{case['start']}"]
        if case["end"] is not None:
            args += ["-t", f"s{case['end']}"]
        out = subprocess.run(args, cwd=d, env={**os.environ, "WFDB": d}, capture_output=True,
                             text=True, check=True).stdout
    tp, se_den = map(int, re.search(r"QRS sensitivity:.*\((\d+)/(\d+)\)", out).groups())
    _, pp_den = map(int, re.search(r"QRS positive predictivity:.*\((\d+)/(\d+)\)", out).groups())
    return [tp, se_den - tp, pp_den - tp]


def random_case(rng: np.random.Generator) -> dict:
    """One random reference/test pair with VF episodes, flutter waves and a start and end."""
    beats = np.cumsum(rng.integers(5, 160, rng.integers(0, 25))).tolist()
    ann = [[b, str(s)] for b, s in zip(beats, rng.choice(list("NNNNNVAL!+~"), len(beats)))]
    last = beats[-1] if beats else 500
    for _ in range(rng.integers(0, 3) if beats else 0):
        on = int(rng.integers(0, last + 50))
        ann.append([on, "["])
        if rng.random() < 0.8:
            ann.append([on + int(rng.integers(0, 300)), "]"])
    if rng.random() < 0.2:
        ann.append([int(rng.integers(0, 3000)), "]"])
    ann.sort(key=lambda a: a[0])
    test = np.unique(rng.integers(0, last + 100, rng.integers(0, 25))).tolist()
    start = int(rng.choice([0, int(rng.integers(0, 60)), int(rng.integers(0, 1500))]))
    n_samples = max([start, *(a[0] for a in ann), *test]) + 10
    end = int(rng.integers(max(start, 1), n_samples)) if rng.random() < 0.3 else None
    return {"fs_hz": FS_HZ, "n_samples": n_samples, "start": start, "end": end, "ref": ann, "test": test}


def main(bxb: str, n_cases: int = 200, seed: int = 13) -> None:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n_cases):
        case = random_case(rng)
        case["bxb"] = run_bxb(bxb, case)
        cases.append(case)
    out = Path(__file__).with_name("random_cases.json")
    out.write_text(json.dumps(cases, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
