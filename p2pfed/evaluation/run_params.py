"""Run parameters for the report: summary.json's run facts, the simulation spec or the first node's config."""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from p2pfed.config import load_node_config
from p2pfed.errors import P2PFedError

log = logging.getLogger(__name__)


def run_param_lines(run_dir: Path, summary: Mapping[str, Any] | None) -> list[str]:
    """Bullet lines: summary.json's run facts, the simulation spec (spec.toml) or the node config."""
    lines = []
    summary = summary or {}
    run = summary.get("run")
    if isinstance(run, Mapping) and run:
        lines.append("- run: " + _flat(run))
    elif summary:  # e.g. a simulation's summary: its scalar facts
        facts = {k: v for k, v in summary.items() if not isinstance(v, Mapping | list)}
        if facts:
            lines.append("- run: " + _flat(facts))
    spec = run_dir / "spec.toml"
    if spec.is_file():
        try:
            doc = tomllib.loads(spec.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            log.warning("cannot read %s for the run parameters: %s", spec, e)
            doc = {}
        top = {k: v for k, v in doc.items() if not isinstance(v, Mapping)}
        if top:
            lines.append("- spec: " + _flat(top))
        lines += [f"- {k}: {_flat(v)}" for k, v in doc.items() if isinstance(v, Mapping)]
    nodes = sorted((run_dir / "nodes").glob("*.toml")) if (run_dir / "nodes").is_dir() else []
    if nodes:
        try:
            cfg = load_node_config(nodes[0])
        except P2PFedError as e:
            log.warning("cannot read %s for the run parameters: %s", nodes[0], e)
            return lines
        data = {k: v for k, v in dataclasses.asdict(cfg.data).items() if k not in ("users", "path", "eval_path")}
        if cfg.data.source == "npz":
            data = {k: v for k, v in data.items() if k not in ("synthetic", "eval_users")}
            data["file"] = Path(cfg.data.path).name
            data["eval_file"] = Path(cfg.data.eval_path).name if cfg.data.eval_path else ""
        model = dataclasses.asdict(cfg.model)
        if cfg.model.kind != "cnn1d":
            model = {k: v for k, v in model.items() if k not in ("channels", "kernel", "pool")}
        if cfg.model.personalize != "head":
            model.pop("head_layers")
        if cfg.model.personalize != "finetune":
            model.pop("finetune_steps")
        for section, values in (("model", model), ("data", data), ("gossip", dataclasses.asdict(cfg.gossip))):
            lines.append(f"- {section} (as {nodes[0].name} runs it): " + _flat(values))
    return lines


def _flat(values: Mapping[str, Any], prefix: str = "") -> str:
    """`k = v, table.k = v, ...` with arrays as [a, b]."""
    parts = []
    for k, v in values.items():
        if isinstance(v, Mapping):
            parts.append(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, list | tuple):
            parts.append(f"{prefix}{k} = [{', '.join(map(str, v))}]")
        else:
            parts.append(f"{prefix}{k} = {v}")
    return ", ".join(p for p in parts if p)
