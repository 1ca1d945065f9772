"""Pytest configuration shared by all tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

settings.register_profile("p2pfed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("p2pfed")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "uci_hapt"


@pytest.fixture
def uci_hapt() -> Path:
    """Folder of the shared UCI HAPT data (tests and benchmarks only; the product never needs it)."""
    if not (SHARED_DATA / "tiny.npz").exists():
        pytest.skip(f"shared dataset not found at {SHARED_DATA}")
    return SHARED_DATA
