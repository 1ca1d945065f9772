"""Simulation spec: the frozen-dataclass form of a `simulations/*.toml` file, with `--set` overrides.

A spec reuses the node's own config sections (`[model]`, `[data]`, `[gossip]`, `[liveness]`) so a
simulated node is configured exactly like a deployed one, and adds what only a simulation has:
how many nodes and for how long (`[sim]`), the graph (`[topology]`), the links (`[network]`),
the hardware (`[devices]`), the churn model (`[churn]`) and algorithm options (`[algorithm]`).
Relative paths (dataset files, churn traces, edge lists) are relative to the spec file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from p2pfed.config import LearningSections, apply_override, build, check, read_toml
from p2pfed.errors import ConfigError
from p2pfed.learning.factory import numpy_backend
from p2pfed.gossip.algorithms import ALGORITHMS, AlgorithmOptions
from p2pfed.sim.churn import ChurnConfig
from p2pfed.sim.devices import PROFILES

#: Simulator-only reference algorithms (not node protocols): a central FedAvg server.
REFERENCE_ALGORITHMS = ("fedavg",)


@dataclass(frozen=True)
class SimSection:
    """What to simulate, for how long, and how it is measured."""

    name: str = "sim"
    nodes: int = 16  # synthetic: number of nodes; dataset files: 0 = one node per partition
    duration: float = 60.0  # virtual seconds to simulate
    sample_interval: float = 5.0  # virtual seconds between metrics records
    seed: int = 0  # master seed: node RNGs, network, churn, devices
    algorithm: str = "gossip"  # see p2pfed.gossip.algorithms.ALGORITHMS, or "fedavg"
    fast: bool = False  # skip encryption and signatures (same frames and sizes); for big sweeps
    learner: str = "auto"  # auto | numpy | torch ("auto": numpy for plain MLPs, else torch)
    eval_nodes: int = 0  # evaluate at most this many nodes per record (0 = all), a fixed sample
    checkpoint_interval: float = 2.0  # how often a node persists its state (what a crash loses)
    fedavg_fraction: float = 1.0  # fedavg: share of the online nodes the server picks per round
    train_process: str = "auto"  # auto | on | off: train in a second process, beside the event loop

    def __post_init__(self) -> None:
        check(self.nodes >= 0, "sim.nodes must be >= 0")
        check(self.duration > 0, "sim.duration must be > 0 (virtual seconds)")
        check(self.sample_interval > 0, "sim.sample_interval must be > 0")
        check(
            self.algorithm in ALGORITHMS + REFERENCE_ALGORITHMS,
            f"sim.algorithm {self.algorithm!r} is unknown (known: {', '.join(ALGORITHMS + REFERENCE_ALGORITHMS)})",
        )
        check(self.learner in ("auto", "numpy", "torch"), "sim.learner must be 'auto', 'numpy' or 'torch'")
        check(self.eval_nodes >= 0, "sim.eval_nodes must be >= 0")
        check(self.checkpoint_interval > 0, "sim.checkpoint_interval must be > 0")
        check(0 < self.fedavg_fraction <= 1, "sim.fedavg_fraction must be in (0, 1]")
        check(
            self.train_process in ("auto", "on", "off"),
            f"sim.train_process must be 'auto', 'on' or 'off', got {self.train_process!r}",
        )


@dataclass(frozen=True)
class TopologySection:
    """The gossip graph, in p2pfed.gossip.topology's spec syntax (e.g. "k-regular:k=4", "small-world:k=4,p=0.1")."""

    spec: str = "k-regular:k=4"
    seed: int = 0


@dataclass(frozen=True)
class PartitionWindow:
    """A network partition: from `start` to `end`, a `fraction` of the nodes is cut off from the rest."""

    start: float
    end: float
    fraction: float = 0.5

    def __post_init__(self) -> None:
        check(0 <= self.start < self.end, "network.partitions: need 0 <= start < end")
        check(0 < self.fraction < 1, "network.partitions: fraction must be in (0, 1)")


@dataclass(frozen=True)
class NetworkSection:
    """Links: one-way latency (+ uniform jitter), independent loss, per-node uplink bandwidth."""

    latency: float = 0.02  # seconds
    jitter: float = 0.005  # seconds, uniform in [0, jitter]
    loss: float = 0.0  # probability a message is lost
    bandwidth_mbps: float = 20.0  # each node's uplink; messages queue behind each other (0 = infinite)
    partitions: tuple[PartitionWindow, ...] = ()

    def __post_init__(self) -> None:
        check(self.latency >= 0 and self.jitter >= 0, "network.latency and network.jitter must be >= 0")
        check(0 <= self.loss < 1, "network.loss must be in [0, 1)")
        check(self.bandwidth_mbps >= 0, "network.bandwidth_mbps must be >= 0 (0 = unlimited)")


@dataclass(frozen=True)
class DeviceSection:
    """Hardware: a profile per node (see p2pfed.sim.devices), drawn from `mix`, slowed by stragglers."""

    mix: dict[str, float] = field(default_factory=lambda: {"laptop": 1.0})
    straggler_sigma: float = 0.0  # lognormal sigma of a per-node slowdown factor (0 = none)

    def __post_init__(self) -> None:
        check(bool(self.mix), "devices.mix must name at least one profile")
        unknown = sorted(set(self.mix) - set(PROFILES))
        check(not unknown, f"devices.mix: unknown profile(s) {', '.join(unknown)} (known: {', '.join(PROFILES)})")
        check(all(w >= 0 for w in self.mix.values()) and sum(self.mix.values()) > 0, "devices.mix weights must be >= 0 and not all 0")
        check(self.straggler_sigma >= 0, "devices.straggler_sigma must be >= 0")


@dataclass(frozen=True)
class SimSpec(LearningSections):
    """A whole simulation: the node's own sections (`LearningSections`) plus what only a simulation has.

    `base_dir` is where relative paths in it are resolved.
    """

    sim: SimSection = field(default_factory=SimSection)
    topology: TopologySection = field(default_factory=TopologySection)
    network: NetworkSection = field(default_factory=NetworkSection)
    devices: DeviceSection = field(default_factory=DeviceSection)
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    algorithm: AlgorithmOptions = field(default_factory=AlgorithmOptions)
    base_dir: str = "."

    def __post_init__(self) -> None:
        super().__post_init__()
        numpy_backend(self.model, self.sim.learner, "sim.learner")


def load_spec(path: str | Path | None = None, overrides: Sequence[str] = ()) -> SimSpec:
    """Read a spec TOML (or the built-in defaults when `path` is None) and apply `--set` overrides."""
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    for item in overrides:
        apply_override(data, item)
    if "base_dir" in data:
        raise ConfigError(
            f"{path or 'spec'}: base_dir is not a spec key (relative paths are relative to the spec file)"
        )
    source = str(path) if path is not None else "built-in defaults"
    base = str(Path(path).resolve().parent) if path is not None else str(Path.cwd())
    spec = build(SimSpec, {**data, "base_dir": base}, source=source)
    return spec


def spec_to_toml(spec: SimSpec) -> str:
    """The resolved spec as TOML (paths made absolute), written into every run directory."""
    d = dataclasses.asdict(spec)
    d.pop("base_dir")
    shared = [f.name for f in dataclasses.fields(LearningSections)]
    d = {**{k: v for k, v in d.items() if k not in shared}, **{k: d[k] for k in shared}}  # simulation sections first
    base = Path(spec.base_dir)
    for section, key in (("data", "path"), ("data", "eval_path"), ("churn", "trace")):
        v = d.get(section, {}).get(key)
        if v:
            d[section][key] = str((base / v).resolve())
    return tomli_w.dumps(_plain(d))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if x is not None}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
