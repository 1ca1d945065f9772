"""Configuration: frozen dataclasses loaded from TOML, `--set a.b=c` overrides, and the roster."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from p2pfed.errors import ConfigError, P2PFedError

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Node configuration
# ---------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class NodeConfig:
    """A node's whole configuration, one TOML file (see nodes/example.toml)."""

    node: NodeSection
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    gossip: GossipConfig = field(default_factory=GossipConfig)
    liveness: LivenessConfig = field(default_factory=LivenessConfig)
    wire: WireConfig = field(default_factory=WireConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

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
        check(self.wire.replay_window >= 1, "wire.replay_window must be >= 1")
        check(self.runtime.checkpoint_interval > 0, "runtime.checkpoint_interval must be > 0")
        check(self.runtime.metrics_interval > 0, "runtime.metrics_interval must be > 0")
        check(_ID_RE.fullmatch(self.node.id) is not None, f"node.id {self.node.id!r}: {_ID_RULE}")


def check(ok: bool, message: str) -> None:
    """Raise ConfigError(`message`) unless `ok`."""
    if not ok:
        raise ConfigError(message)


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


# ---------------------------------------------------------------------------------------------
# Roster
# ---------------------------------------------------------------------------------------------

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ID_RULE = "ids are 1-64 characters of letters, digits, '.', '_' or '-', starting alphanumeric"
_ADDR_RE = re.compile(r"tcp://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})")


@dataclass(frozen=True)
class Member:
    """One federation member: id, Ed25519 public key (base64), ZeroMQ address."""

    id: str
    public_key: str
    address: str

    def __post_init__(self) -> None:
        check(_ID_RE.fullmatch(self.id) is not None, f"member id {self.id!r}: {_ID_RULE}")
        try:
            raw = base64.b64decode(self.public_key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        check(
            len(raw) == 32,
            f"member {self.id!r}: public_key must be the base64 of 32 bytes, as printed by "
            "`p2pfed keygen`",
        )
        m = _ADDR_RE.fullmatch(self.address)
        check(
            m is not None and 0 < int(m.group(2)) < 65536,
            f"member {self.id!r}: address {self.address!r} must look like tcp://HOST:PORT",
        )

    @property
    def public_key_bytes(self) -> bytes:
        return base64.b64decode(self.public_key)


@dataclass(frozen=True)
class FederationConfig:
    """Federation-wide settings every member shares."""

    name: str = "p2pfed"
    topology: str = "ring"  # topology spec, see p2pfed.gossip.topology (e.g. "k-regular:k=4")
    topology_seed: int = 0


@dataclass(frozen=True)
class Roster:
    """The members of a federation; only they are talked to or listened to."""

    members: tuple[Member, ...]
    federation: FederationConfig = field(default_factory=FederationConfig)

    def __post_init__(self) -> None:
        check(len(self.members) > 0, "the roster lists no members ([[member]] tables)")
        ids = [m.id for m in self.members]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        check(not dup, f"roster lists these ids more than once: {', '.join(dup)}")
        keys = [m.public_key for m in self.members]
        check(len(set(keys)) == len(keys), "two roster members share a public key")

    def get(self, node_id: str) -> Member:
        for m in self.members:
            if m.id == node_id:
                return m
        raise ConfigError(f"{node_id!r} is not on the roster (members: {', '.join(self.ids)})")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.members)


def load_roster(path: str | Path) -> Roster:
    """Read a roster TOML: a [federation] table and one [[member]] table per member."""
    data = read_toml(path)
    raw = dict(data)
    members = raw.pop("member", [])
    if not isinstance(members, list):
        raise ConfigError(f"{path}: 'member' must be an array of tables ([[member]])")
    return build(Roster, {**raw, "members": members}, source=str(path))


def roster_to_toml(roster: Roster) -> dict[str, Any]:
    """The TOML document (as a dict) that `load_roster` reads back into `roster`."""
    return {
        "federation": dataclasses.asdict(roster.federation),
        "member": [dataclasses.asdict(m) for m in roster.members],
    }


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


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


def read_toml(path: str | Path, what: str = "file") -> dict[str, Any]:
    """The TOML document at `path`; ConfigError saying what is wrong (`what` names the file's role)."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{p}: {what} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None


def read_text(path: Path, what: str, error: type[P2PFedError] = ConfigError, hint: str = "", encoding: str = "utf-8") -> str:
    """The text of the user's file at `path`; else `error` saying `what` the file is and what went wrong.

    `hint` follows the not-found message (e.g. which key names the file and what it is relative to).
    """
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise error(f"{what} {path} not found{' ' + hint if hint else ''}") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text") from None
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b=c` into (["a", "b"], value); the value is read as TOML, else as a string."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE such as gossip.period=0.5")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one `a.b=c` override to a TOML document in place."""
    keys, value = parse_override(item)
    cur = data
    for k in keys[:-1]:
        nxt = cur.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {item!r}: {k!r} is not a table")
        cur = nxt
    cur[keys[-1]] = value


def build(cls: type[T], data: Any, source: str = "config", path: str = "") -> T:
    """Build frozen dataclass `cls` from a TOML mapping, with a clear error for each mistake."""
    where = f"{source}: {path}" if path else source
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {_tname(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{path}." if path else ""
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(prefix + u for u in unknown)} "
            f"(known: {', '.join(sorted(fields))})"
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], source, sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing required key {sub}")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def _convert(tp: Any, value: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source, path)  # type: ignore[arg-type]
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {path} must be an array, got {_tname(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, source, f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{source}: {path} must have {len(args)} items")
        return tuple(_convert(a, v, source, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {path} must be a table, got {_tname(value)}")
        return {_convert(kt, k, source, path): _convert(vt, v, source, f"{path}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        errors = []
        for a in typing.get_args(tp):
            if a is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(a, value, source, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{source}: {path}: unsupported value")
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {path} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {path} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: {path} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {path} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{source}: {path}: unsupported config type {tp!r}")  # pragma: no cover


def _tname(v: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(v), type(v).__name__
    )
