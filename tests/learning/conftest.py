"""Fixtures of the learning tests: Gaussian blobs to learn, and torch on one thread (results do not depend on it)."""

from __future__ import annotations

import pytest
import torch
from helpers import blobs

from p2pfed.types import LocalData


@pytest.fixture(scope="module")
def data() -> LocalData:
    """400 train and 400 test rows of 24 features in 4 well-separated classes (an MLP solves it)."""
    return blobs()


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)
