"""``import acquire`` wall time in a fresh interpreter (target <= 0.3 s), against a bare interpreter start."""

from __future__ import annotations

import subprocess
import sys
import time

TARGET_S = 0.3
REPEATS = 7


def _best_of(code: str) -> float:
    """Shortest wall time of REPEATS fresh interpreters running ``code`` (least disturbed by load)."""
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def run():
    bare = _best_of("pass")
    with_acquire = _best_of("import acquire")
    api = _best_of("import acquire.api")
    yield f"import acquire, fresh interpreter (target <= {TARGET_S} s)", with_acquire, "s"
    yield "import acquire: time over a bare interpreter start", with_acquire - bare, "s"
    yield "import acquire.api: time over a bare interpreter start", api - bare, "s"
