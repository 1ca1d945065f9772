"""The roster: the members of a federation (id, public key, address) and its shared settings, from TOML."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2pfed.config.toml import build, check, read_toml
from p2pfed.errors import ConfigError

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ID_RULE = "ids are 1-64 characters of letters, digits, '.', '_' or '-', starting alphanumeric"
ADDR_RE = re.compile(r"tcp://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})")


@dataclass(frozen=True)
class Member:
    """One federation member: id, Ed25519 public key (base64), ZeroMQ address."""

    id: str
    public_key: str
    address: str

    def __post_init__(self) -> None:
        check(ID_RE.fullmatch(self.id) is not None, f"member id {self.id!r}: {ID_RULE}")
        try:
            raw = base64.b64decode(self.public_key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        check(
            len(raw) == 32,
            f"member {self.id!r}: public_key must be the base64 of 32 bytes, as printed by "
            "`p2pfed keygen`",
        )
        m = ADDR_RE.fullmatch(self.address)
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
