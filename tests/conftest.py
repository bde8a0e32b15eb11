"""Shared fixtures: the local PhysioNet mirror, Agg plotting, seeded RNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from hypothesis import settings

matplotlib.use("Agg")

# CI runs every hypothesis test on the same derandomized examples, so a submission's CI result does
# not depend on the draw; a developer's `make test` explores new examples on every run.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
#: The local PhysioNet mirror; override with $ECGFE_TEST_MIRROR.
MIRROR = Path(os.environ.get("ECGFE_TEST_MIRROR", REPO.parent / "shared" / "physionet"))


@pytest.fixture
def mirror() -> Path:
    """Path of the PhysioNet mirror; skips the test when it is absent."""
    if not (MIRROR / "mitdb" / "1.0.0" / "100.hea").exists():
        pytest.skip(f"PhysioNet mirror not found at {MIRROR} (set $ECGFE_TEST_MIRROR)")
    return MIRROR


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    """An empty ECGFE_DATA_DIR; no mirror URL from the environment."""
    home = tmp_path / "data"
    monkeypatch.setenv("ECGFE_DATA_DIR", str(home))
    monkeypatch.delenv("ECGFE_PHYSIONET_URL", raising=False)
    return home


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator so tests are repeatable."""
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
