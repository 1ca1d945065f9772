"""A node's configuration: its TOML sections as frozen dataclasses, checked, with paths resolved."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

from p2pfed.config.roster import ID_RE, ID_RULE
from p2pfed.config.toml import apply_override, build, check, read_toml

@dataclass(frozen=True)
class NodeSection:
    """Who this node is and where its files live (relative paths: relative to the config file)."""

    id: str
    key: str  # Ed25519 secret key file written by `p2pfed keygen` (mode 0600)
    roster: str  # roster TOML listing every member
    listen: str = ""  # ZeroMQ bind address; default: this node's roster address
    state_dir: str = "state"  # persisted model, sequence numbers, replay marks, metrics
    neighbours: tuple[str, ...] = ()  # explicit neighbours; default: from the roster topology
    threads: int = 1  # torch intra-op threads (1 suits many nodes per machine and small boards)
    log_level: str = "INFO"
    log_file: str = ""  # also log to this file ("" = console only)


@dataclass(frozen=True)
class ModelConfig:
    """Model architecture and local optimiser; every member must use the same architecture."""

    kind: str = "mlp"  # "mlp" (feature vectors) or "cnn1d" (raw windows, channels x time)
    hidden: tuple[int, ...] = (64,)  # fully connected layers before the output (cnn1d: after pooling)
    channels: tuple[int, ...] = (16, 32)  # cnn1d: output channels of each Conv1d layer
    kernel: int = 5  # cnn1d: kernel size of every conv layer (zero padding (kernel - 1) // 2)
    pool: int = 2  # cnn1d: max-pooling factor after every conv layer but the last
    personalize: str = "none"  # "none"; "head": gossip the body, keep the head local; "finetune"
    head_layers: int = 1  # personalize = "head": final parameterised layers kept local (1 = `out`)
    finetune_steps: int = 20  # personalize = "finetune": local steps before every evaluation
    init_seed: int = 0  # federation-wide: every node starts from the same initial model
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 32
    local_steps: int = 5  # SGD steps per gossip period (fewer steps between averagings: less drift)
    train_seed: int = 0  # mixed with the node id for batch sampling


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the embedded synthetic fitness generator (see p2pfed.data.synthetic)."""

    # what each day's label is: "activity" (0 sedentary .. 3 vigorous: the day's activity load) or
    # "risk" (0 low, 1 elevated, 2 high: the day's cardiometabolic health-risk class)
    task: str = "activity"
    days: int = 120  # mean days of data per user (the number of users is the number of nodes)
    quantity_skew: float = 0.5  # lognormal sigma of days per user (0 = everyone has `days`)
    label_noise: float = 0.05  # fraction of labels moved to a neighbouring class
    feature_noise: float = 1.0  # multiplier of the measurement noise of every feature
    archetypes: tuple[str, ...] = ()  # restrict users to these archetypes (empty = all six)
    # population mix: one weight per archetype (of `archetypes`, or of all six in the order of
    # p2pfed.data.population.ARCHETYPES when empty), e.g. [0.8, 0.04, 0.04, 0.04, 0.04, 0.04] for
    # 80 % runners; empty = equal shares, dealt round robin. Held-out users stay equally mixed.
    archetype_mix: tuple[float, ...] = ()


@dataclass(frozen=True)
class PartitionConfig:
    """How a dataset's rows are divided into nodes (see p2pfed.data.partition)."""

    # "person": the node holds whole people (data.users; the natural split); "devices": one
    # person's rows spread over `devices` nodes; "dirichlet": label skew over pooled rows (Hsu et
    # al. 2019); "quantity": IID pooled rows, skewed node sizes. dirichlet and quantity are
    # experiment schemes: a node must read the whole pool to compute its part.
    scheme: str = "person"
    index: int = 0  # this node's part: its device 0..devices-1 (devices), or node 0..nodes-1
    nodes: int = 0  # dirichlet, quantity: how many nodes share the pool
    # dirichlet, quantity: the people pooled (empty: every subject of the file, or synthetic users
    # 0..nodes-1); a simulated federation of any scheme draws its people from here too
    pool: tuple[int, ...] = ()
    devices: int = 2  # devices: nodes per person
    order: str = "time"  # devices: "time" (contiguous stretches in recording order) or "shuffle"
    alpha: float = 0.5  # dirichlet: concentration (0.1: one or two labels per node; 100: ~IID)
    sigma: float = 1.0  # quantity: lognormal sigma of node sizes (0 = equal sizes)
    min_rows: int = 10  # dirichlet, quantity: fewest rows a node may hold
    seed: int = 0  # seed of the partition (dirichlet, quantity, devices with order = "shuffle")


@dataclass(frozen=True)
class DataConfig:
    """Where this node's private data comes from; it never leaves the node."""

    source: str = "synthetic"  # "synthetic", "npz" or "uci-har" (the official UCI HAR download)
    seed: int = 0  # federation-wide seed of the synthetic population
    # this node's people: synthetic user indices, or subject ids (partition "person"; exactly one
    # for "devices"; ignored by "dirichlet" and "quantity", which use partition.pool)
    users: tuple[int, ...] = (0,)
    # npz file with X, y, subject (source = "npz"), or the UCI HAR download: "UCI HAR
    # Dataset.zip" or its extracted folder (source = "uci-har"; nodes hold its train volunteers)
    path: str = ""
    # input array: npz key, e.g. "X_raw" for raw windows; uci-har: "X" (561 features) or "X_raw"
    x_key: str = "X"
    test_fraction: float = 0.25  # share of the node's own data held out for local accuracy
    split_seed: int = 0  # seed of the per-person (per-node), label-stratified train/test split
    # "person": scale each person (with partitions other than "person": the node) by their own
    # train rows' mean/std; "none"; "auto": "person" for npz and uci-har, "none" for synthetic
    # (whose features are already scaled by fixed population priors)
    standardize: str = "auto"
    eval_users: int = 20  # synthetic users that no node holds, for held-out accuracy (0 = none)
    # npz of held-out people for held-out accuracy (source = "npz"; uci-har always holds out
    # its official test volunteers)
    eval_path: str = ""
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass(frozen=True)
class GossipConfig:
    """Asynchronous push-pull gossip averaging (design.md section 4)."""

    period: float = 0.5  # seconds between a node's own exchanges (plus jitter)
    jitter: float = 0.25  # +- fraction of the period, so nodes do not synchronise
    merge: str = "weighted"  # "weighted" (by training-set size) or "mean"
    exchange_timeout: float = 3.0  # give up on a reply after this long


@dataclass(frozen=True)
class LivenessConfig:
    """Heartbeats and last-heard times (design.md section 6)."""

    heartbeat_interval: float = 1.0  # send a heartbeat to a neighbour silent this long
    peer_timeout: float = 4.0  # a neighbour unheard this long is skipped


@dataclass(frozen=True)
class WireConfig:
    """Limits of the receive pipeline (design.md section 5)."""

    max_head_bytes: int = 1024
    max_body_bytes: int = 0  # 0: derived from the model size
    replay_window: int = 1024  # out-of-order sequence numbers accepted this far back


@dataclass(frozen=True)
class TransportConfig:
    """ZeroMQ socket options; a dead or slow peer must never block a node."""

    send_hwm: int = 16  # queued outgoing messages per neighbour before dropping
    recv_hwm: int = 1000
    reconnect_ivl_ms: int = 200
    reconnect_ivl_max_ms: int = 5000
    heartbeat_ivl_ms: int = 2000  # ZMTP-level keepalive to notice dead TCP connections
    max_message_bytes: int = 0  # hard cap enforced by ZeroMQ itself (0: 4x the wire limit)


@dataclass(frozen=True)
class RuntimeConfig:
    """Checkpointing, metrics and lifetime of the node process."""

    checkpoint_interval: float = 2.0  # seconds between atomic state writes
    metrics_interval: float = 2.0  # seconds between metrics lines
    metrics_file: str = ""  # default: <state_dir>/metrics.jsonl
    duration: float = 0.0  # stop after this many seconds (0 = run until SIGTERM/SIGINT)
    train: bool = True  # False: only gossip (useful for relays and tests)
    parent_pid: int = 0  # exit when this process dies (set by `p2pfed launch`)


@dataclass(frozen=True, kw_only=True)
class LearningSections:
    """The sections a simulated node shares with a deployed one (`[model]`, `[data]`, `[gossip]`, `[liveness]`)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    gossip: GossipConfig = field(default_factory=GossipConfig)
    liveness: LivenessConfig = field(default_factory=LivenessConfig)

    def __post_init__(self) -> None:
        check(self.gossip.period > 0, "gossip.period must be > 0")
        check(0 <= self.gossip.jitter < 1, "gossip.jitter must be in [0, 1)")
        check(self.gossip.merge in ("weighted", "mean"), "gossip.merge must be 'weighted' or 'mean'")
        check(self.gossip.exchange_timeout > 0, "gossip.exchange_timeout must be > 0")
        check(self.liveness.heartbeat_interval > 0, "liveness.heartbeat_interval must be > 0")
        check(
            self.liveness.peer_timeout > self.liveness.heartbeat_interval,
            "liveness.peer_timeout must be longer than liveness.heartbeat_interval",
        )
        check(self.model.local_steps >= 0, "model.local_steps must be >= 0")
        check(self.model.batch_size > 0, "model.batch_size must be > 0")
        check(self.model.lr > 0, "model.lr must be > 0")
        _check_model(self.model)
        check(
            self.data.source in ("synthetic", "npz", "uci-har"),
            "data.source must be 'synthetic', 'npz' or 'uci-har'",
        )
        check(0 < self.data.test_fraction < 1, "data.test_fraction must be in (0, 1)")
        check(
            self.data.partition.scheme in ("person", "devices", "dirichlet", "quantity"),
            "data.partition.scheme must be 'person', 'devices', 'dirichlet' or 'quantity'",
        )
        check(self.data.partition.index >= 0, "data.partition.index must be >= 0")


@dataclass(frozen=True)
class NodeConfig(LearningSections):
    """A node's whole configuration, one TOML file (see nodes/example.toml)."""

    node: NodeSection
    wire: WireConfig = field(default_factory=WireConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.wire.replay_window >= 1, "wire.replay_window must be >= 1")
        check(self.runtime.checkpoint_interval > 0, "runtime.checkpoint_interval must be > 0")
        check(self.runtime.metrics_interval > 0, "runtime.metrics_interval must be > 0")
        check(ID_RE.fullmatch(self.node.id) is not None, f"node.id {self.node.id!r}: {ID_RULE}")


#: Model kinds (p2pfed.learning.models.KNOWN_KINDS) and personalisation modes (p2pfed.learning.personal.MODES),
#: repeated here so a config is refused before anything is written or started.
MODEL_KINDS = ("mlp", "cnn1d")
PERSONALIZE_MODES = ("none", "head", "finetune")


def _check_model(m: ModelConfig) -> None:
    """The architecture and personalisation knobs of [model] (the optimiser is checked above)."""
    check(m.kind in MODEL_KINDS, f"model.kind must be one of {', '.join(map(repr, MODEL_KINDS))}, got {m.kind!r}")
    check(all(h > 0 for h in m.hidden), f"model.hidden sizes must all be positive, got {list(m.hidden)}")
    check(all(c > 0 for c in m.channels), f"model.channels must all be positive, got {list(m.channels)}")
    check(m.kind != "cnn1d" or len(m.channels) > 0, "model.channels is empty: cnn1d needs at least one conv layer")
    check(m.kernel >= 1, f"model.kernel must be >= 1, got {m.kernel}")
    check(m.pool >= 1, f"model.pool must be >= 1 (1 = no pooling), got {m.pool}")
    check(
        m.personalize in PERSONALIZE_MODES,
        f"model.personalize must be one of {', '.join(map(repr, PERSONALIZE_MODES))}, got {m.personalize!r}",
    )
    check(m.head_layers >= 1, f"model.head_layers must be >= 1, got {m.head_layers}")
    check(m.finetune_steps >= 0, f"model.finetune_steps must be >= 0, got {m.finetune_steps}")


def load_node_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> NodeConfig:
    """Read a node TOML, apply `a.b=c` overrides, resolve relative paths against its folder."""
    path = Path(path)
    data = read_toml(path)
    for item in overrides:
        apply_override(data, item)
    cfg = build(NodeConfig, data, source=str(path))
    base = path.resolve().parent
    node = cfg.node
    node = dataclasses.replace(
        node,
        key=_resolve(base, node.key),
        roster=_resolve(base, node.roster),
        state_dir=_resolve(base, node.state_dir),
        log_file=_resolve(base, node.log_file) if node.log_file else "",
    )
    d = cfg.data
    d = dataclasses.replace(
        d,
        path=_resolve(base, d.path) if d.path else "",
        eval_path=_resolve(base, d.eval_path) if d.eval_path else "",
    )
    rt = cfg.runtime
    if rt.metrics_file:
        rt = dataclasses.replace(rt, metrics_file=_resolve(base, rt.metrics_file))
    return dataclasses.replace(cfg, node=node, data=d, runtime=rt)


def _resolve(base: Path, p: str) -> str:
    q = Path(p).expanduser()
    return str(q if q.is_absolute() else (base / q))
