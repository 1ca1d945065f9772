"""Device profiles: how much virtual time local training costs on a watch, phone, Raspberry Pi 4 or laptop.

Training `steps` SGD steps of `batch` rows on a model of `macs` multiply-accumulates per sample
costs about ``3 * macs * batch * steps`` (forward + backward ~ 3x forward) useful operations.
A profile turns that into seconds with an *effective* training throughput (what small-batch
PyTorch/NumPy SGD achieves, far below peak FLOPS) plus a fixed overhead per step (framework and
memory traffic, which dominates for tiny models).  The laptop figures are measured on this
development machine (see docs/benchmarks.md, `benchmarks/bench_learners.py`); the others are
rough scalings from public single-core benchmark ratios, good enough to make hardware
*heterogeneous* (stragglers, slow watches) rather than to predict a particular device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DeviceProfile:
    """Effective training throughput of one class of device."""

    name: str
    gmacs: float  # effective giga multiply-accumulates per second during small-batch SGD
    step_overhead: float  # seconds of fixed cost per SGD step

    def train_seconds(self, macs_per_sample: float, batch: int, steps: int) -> float:
        """Virtual seconds that `steps` SGD steps of `batch` rows take on this device."""
        if steps <= 0:
            return 0.0
        return steps * (self.step_overhead + 3.0 * macs_per_sample * batch / (self.gmacs * 1e9))


#: Built-in profiles, slowest first.
PROFILES: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        DeviceProfile("watch", gmacs=0.05, step_overhead=4e-3),
        DeviceProfile("phone", gmacs=1.0, step_overhead=5e-4),
        DeviceProfile("pi4", gmacs=0.5, step_overhead=1e-3),
        DeviceProfile("laptop", gmacs=5.0, step_overhead=1e-4),
    )
}


def assign(nodes: list[str], mix: dict[str, float], straggler_sigma: float, seed: int) -> dict[str, tuple[DeviceProfile, float]]:
    """Give each node a profile (shares as close to `mix` as the node count allows) and a slowdown factor.

    Profiles are dealt by largest remainder over a seeded shuffle of the nodes, so a 25/75 mix
    of 8 nodes is exactly 2/6; the slowdown is lognormal(0, sigma), 1.0 when sigma is 0.
    """
    names = sorted(mix)
    weights = np.array([mix[n] for n in names], dtype=np.float64)
    weights /= weights.sum()
    exact = weights * len(nodes)
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: len(nodes) - counts.sum()]:
        counts[i] += 1
    rng = np.random.default_rng([seed, 0xD5])
    order = rng.permutation(len(nodes))
    profiles = [PROFILES[n] for n, c in zip(names, counts) for _ in range(c)]
    slow = rng.lognormal(0.0, straggler_sigma, len(nodes)) if straggler_sigma > 0 else np.ones(len(nodes))
    return {nodes[j]: (profiles[k], float(slow[j])) for k, j in enumerate(order)}
