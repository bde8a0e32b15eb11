"""Peak memory of ``ecgfe simulate --out`` on a 24-hour synthetic record (issue 14).

The command runs in a child process that reports its own ``VmHWM`` (peak
resident set, /proc/self/status) at exit: ``ru_maxrss`` of a child would
carry over the parent's peak across fork, which is why it is not used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

DAY_S = 86400.0
#: Issue 14's bound for the 24-hour streamed run.
TARGET_MB = 400.0

CHILD = textwrap.dedent("""
    import atexit, runpy, sys

    def report():
        hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
        sys.stderr.write(f"\\nVMHWM_KB {hwm}\\n")

    atexit.register(report)
    sys.argv = ["ecgfe", *sys.argv[1:]]
    runpy.run_module("cli", run_name="__main__")
""")


def cli_peak_mb(args: list[str]) -> tuple[float, float]:
    """Run ``ecgfe ARGS`` in a child process; its peak RSS (VmHWM, MB) and wall time (s)."""
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(repo)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=repo, env=env)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"ecgfe {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    kb = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("VMHWM_KB"))
    return kb / 1024, elapsed


def run() -> list[tuple[str, float, str]]:
    """Rows (name, value, unit)."""
    with tempfile.TemporaryDirectory() as d:
        hours = {h: cli_peak_mb(["--quiet", "simulate", "--duration-s", f"{3600 * h:g}", "--out", f"{d}/h{h}"])[0]
                 for h in (1, 2)}
        out = Path(d) / "day"
        peak_mb, elapsed = cli_peak_mb(["--quiet", "simulate", "--duration-s", f"{DAY_S:g}", "--out", str(out)])
        size = sum(p.stat().st_size for p in out.iterdir())
    return [
        ("ecgfe simulate --out: peak RSS 2 h / 1 h", hours[2] / hours[1], f"ratio ({hours[1]:.0f} MB at 1 h)"),
        ("ecgfe simulate --out, 24 h synthetic: peak RSS (VmHWM, MB)", peak_mb, f"MB (target <= {TARGET_MB:g})"),
        ("ecgfe simulate --out, 24 h synthetic: real-time factor", DAY_S / elapsed, "x"),
        ("ecgfe simulate --out, 24 h synthetic: output directory (MB)", size / 1e6, "MB"),
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row[0]:<70} {row[1]:>10.4g}  {row[2]}", flush=True)
