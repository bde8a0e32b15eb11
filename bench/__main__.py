"""Run the benchmarks and print one table with the machine, versions and commit."""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys

MODULES = ["import", "montecarlo", "ecgsyn", "stages_analog", "stages_digital", "chain", "qrs", "simulate", "batch"]


def header() -> str:
    """Machine, versions and commit, printed above the table."""
    import numpy
    import scipy
    import wfdb

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return (f"machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()} "
            f"{platform.system()} {platform.release()}\n"
            f"python {platform.python_version()}  numpy {numpy.__version__}  scipy {scipy.__version__}  "
            f"wfdb {wfdb.__version__}\ncommit: {commit}")


def main(argv: list[str]) -> None:
    names = argv or MODULES
    print(header())
    print(f"\n{'benchmark':<62} {'value':>12}  unit")
    print("-" * 90)
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        for row, value, unit in module.run():
            print(f"{row:<62} {value:>12.4g}  {unit}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
