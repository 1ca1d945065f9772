"""What a simulation measures: a metrics record per sample, the network's average model, the run's summary."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from p2pfed.evaluation.scoring import NodeOutcome, distribution, evaluate_run, write_evaluation
from p2pfed.learning import many
from p2pfed.node.metrics import json_safe
from p2pfed.sim.trainer import WorkerTrainer
from p2pfed.types import PARAM_DTYPE

if TYPE_CHECKING:
    from p2pfed.sim.engine import Simulation
    from p2pfed.sim.nodes import SimNode


def model_of(sim: Simulation, node: SimNode) -> np.ndarray:
    """The model a node holds now: its core's while online, else the one its last checkpoint kept."""
    if node.model is not None and sim.algorithm == "fedavg":
        return node.model
    if node.online and node.core is not None:
        return node.core.model()
    saved = node.store.state
    return saved.params if saved is not None else sim.init


def age_of(sim: Simulation, node: SimNode) -> int:
    """Local steps behind the node's current model (what `model_of` returns)."""
    if sim.algorithm == "fedavg":
        return node.age
    if node.online and node.core is not None:
        return int(node.core.age)
    saved = node.store.state
    return saved.age if saved is not None else 0


def record(sim: Simulation) -> dict[str, Any]:
    """The metrics record at `sim.now`: accuracies of the evaluated nodes, consensus, traffic, churn."""
    nodes = sim.eval_nodes
    models = [model_of(sim, n) for n in nodes]
    heldout = sim.heldout
    held = many.accuracy_many([n.learner for n in nodes], models, heldout) if heldout is not None else [None] * len(nodes)
    local = [many.accuracy(n.learner, m, n.data.test) for n, m in zip(nodes, models)]
    X = np.stack([np.asarray(m, dtype=np.float64) for m in models]) if models else np.zeros((0, 1))
    consensus = float(np.mean(np.linalg.norm(X - X.mean(axis=0), axis=1))) if len(models) > 1 else 0.0
    held_d, local_d = distribution(held), distribution(local)
    everyone = sim.nodes
    online = [n for n in everyone if n.online]
    # every rejection since the start of the run, across crashes and restarts
    rejections = sim.rejections_retired + sum(n.core.counters.rejected - n.rej_base for n in online if n.core is not None)
    return {
        "t": round(sim.now, 6),
        "acc_mean": held_d["mean"],
        "acc_median": held_d["median"],
        "acc_p10": held_d["worst10"],
        "local_acc_mean": local_d["mean"],
        "local_acc_p10": local_d["worst10"],
        "consensus": consensus,
        "online": len(online) / len(everyone),
        "msgs_per_node": sum(n.sent_msgs for n in everyone) / len(everyone),
        "bytes_per_node": sum(n.sent_bytes for n in everyone) / len(everyone),
        "age_mean": float(np.mean([age_of(sim, n) for n in everyone])),
        "staleness": float(np.mean([sim.now - n.last_merge for n in online])) if online else None,
        "rejections": rejections,
        "local_acc": {n.id: (None if v is None else round(v, 6)) for n, v in zip(nodes, local)},
    }


def consensus_model(sim: Simulation) -> dict[str, Any]:
    """Accuracy of the network's average model (weighted by train size), as each node would use it.

    Without personalisation this is *the global model*: its accuracy on every node's own
    held-out data is what personalisation is measured against. With `personalize = "head"`
    each node applies its own head to the average body; with "finetune", its own fine-tuning.
    """
    w = np.array([len(n.data.train) for n in sim.nodes], dtype=np.float64)
    avg = (np.stack([model_of(sim, n).astype(np.float64) for n in sim.nodes]).T @ (w / w.sum())).astype(PARAM_DTYPE)
    local = distribution([many.accuracy(n.learner, avg, n.data.test) for n in sim.nodes])
    held = None
    if sim.heldout is not None:
        # one shared model scores the same through every plain learner: score it once
        scorers = sim.eval_nodes if sim.spec.model.personalize != "none" else sim.eval_nodes[:1]
        held = distribution([many.accuracy(n.learner, avg, sim.heldout) for n in scorers])["mean"]
    return {"local_acc_mean": local["mean"], "local_acc_p10": local["worst10"], "acc_mean": held}


def finish(sim: Simulation, last_record: dict[str, Any]) -> dict[str, Any]:
    """Write OUT/evaluation.json (every node's final model) and OUT/summary.json; return the summary."""
    s = sim.spec.sim
    outcomes = []
    for n in sim.nodes:
        m = model_of(sim, n)
        outcomes.append(
            NodeOutcome(
                node=n.id,
                group=n.group,
                local_true=n.data.test.y,
                local_pred=n.learner.predict(m, n.data.test.X),
                heldout_pred=n.learner.predict(m, sim.heldout.X) if sim.heldout is not None else None,
            )
        )
    d0 = sim.nodes[0].data
    average = consensus_model(sim)
    evaluation = evaluate_run(outcomes, sim.heldout, d0.n_classes, d0.label_names, extra={"consensus_model": average})
    write_evaluation(sim.out, evaluation)
    final = {k: v for k, v in last_record.items() if k != "local_acc"}
    wall = time.perf_counter() - sim.wall0
    node_updates = sim.totals.trainings
    summary = {
        "name": s.name,
        "algorithm": s.algorithm,
        "nodes": len(sim.nodes),
        "seed": s.seed,
        "fast": s.fast,
        "duration": s.duration,
        "topology": sim.spec.topology.spec,
        "churn": sim.spec.churn.preset or sim.spec.churn.model,
        "model": sim.manifest.arch,
        "params": sim.manifest.size,
        "final": final,
        "wall_seconds": round(wall, 3),
        "setup_seconds": round(sim.setup_seconds, 3),
        "train_process": isinstance(sim.trainer, WorkerTrainer),
        "node_updates": node_updates,
        "node_updates_per_second": round(node_updates / max(wall - sim.setup_seconds, 1e-9), 1),
        "events": sim.totals.events,
        "messages": {
            "delivered": sim.totals.delivered,
            "lost": sim.network.lost,
            "partitioned": sim.network.partitioned,
            "to_offline_node": sim.totals.to_offline,
        },
        "churn_events": sim.totals.churn_events,
        "crashes": sim.totals.crashes,
        "online_fraction": sim.schedule.online_fraction(0.0, s.duration),
        "consensus_model": average,
    }
    tmp = sim.out / "summary.json.tmp"
    tmp.write_text(json.dumps(json_safe(summary), indent=2) + "\n")
    tmp.replace(sim.out / "summary.json")
    return summary
