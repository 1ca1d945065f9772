"""Model benchmark: size, MACs, local training and inference speed, and message size of p2pfed's models.

For the two models a node would run on UCI HAPT data (MLP 174-64-6 on the feature vectors ``X``,
and the 1D-CNN on the raw windows ``X_raw``, 6 channels x 128 steps), it reports:

* parameters and MACs per sample (`p2pfed.learning.models.describe_model`, analytic);
* local training throughput in samples/s of `TorchLearner.train` on **one thread** (minibatch
  SGD, ``model.batch_size`` = 32), against the same model trained by an idiomatic PyTorch loop
  (``torch.optim.SGD``, same batches) in the same run: the ratio shows what the flat-vector
  learner costs or saves;
* inference: `TorchLearner.predict` rows/s on the held-out windows, and the latency of one
  sample (what a phone pays per prediction);
* the bytes of a model message: a keyframe PUSH sealed by the real `Wire` (msgpack header,
  Box-encrypted body, Ed25519 signature), for the full model and for the body gossiped with
  ``personalize = "head"``;
* with ``--accuracy``: held-out-volunteer accuracy of each model trained centrally on the 21
  train volunteers (a reference point, not the federated result).

Data: the shared UCI HAPT files if present (``--data``), else random inputs of the same shapes
(throughput depends on shapes only). Every figure is the median of ``--repeats`` rounds
[min-max]; rounds interleave the learner and the plain-PyTorch baseline.

    .venv/bin/python benchmarks/bench_models.py              # about 30 s
    .venv/bin/python benchmarks/bench_models.py --accuracy   # plus ~30 s of central training
    .venv/bin/python benchmarks/bench_models.py --quick      # seconds; smoke test only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import numpy as np
import torch
import torch.nn.functional as F

from p2pfed.wire.codec import Fields, Kind
from p2pfed.config import DataConfig, ModelConfig, WireConfig
from p2pfed.wire.crypto import Identity, Keyring
from p2pfed.data import list_subjects, load_heldout, load_local
from p2pfed.learning.torch_learner import TorchLearner
from p2pfed.learning.models import build_model, describe_model
from p2pfed.learning.personal import PersonalLearner
from p2pfed.wire.sequence import ReplayGuard, SequenceCounter
from p2pfed.types import LocalData, Manifest, Split
from p2pfed.wire.envelope import Wire

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "uci_hapt"
N_CLASSES = 6


@dataclass(frozen=True)
class Case:
    name: str
    cfg: ModelConfig
    x_key: str
    input_shape: tuple[int, ...]
    accuracy_steps: int  # central training steps for --accuracy


CASES = (
    Case("mlp 174-64-6", ModelConfig(kind="mlp", hidden=(64,)), "X", (174,), 3000),
    Case("cnn1d 6x128", ModelConfig(kind="cnn1d", channels=(16, 32), kernel=5, pool=2, hidden=(64,)), "X_raw", (6, 128), 3000),
)


# --- data ------------------------------------------------------------------------------------


def load_case_data(case: Case, data_dir: Path | None) -> tuple[LocalData, Split | None, str]:
    """All train volunteers as one node's data (split and standardized per person) + held-out people."""
    train = data_dir / "train.npz" if data_dir else None
    if train is not None and train.is_file():
        test = data_dir / "test.npz"  # type: ignore[operator]
        cfg = DataConfig(
            source="npz",
            path=str(train),
            users=tuple(list_subjects(train)),
            x_key=case.x_key,
            eval_path=str(test) if test.is_file() else "",
        )
        return load_local(cfg), load_heldout(cfg), f"{train} ({case.x_key})"
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        return Split(rng.standard_normal((n, *case.input_shape)).astype(np.float32), rng.integers(0, N_CLASSES, n))

    return LocalData(split(4096), split(1024), N_CLASSES), split(2048), "random inputs of the same shape"


# --- measurements ----------------------------------------------------------------------------


def learner_round(learner: TorchLearner, params: np.ndarray, steps: int) -> float:
    t0 = perf_counter()
    learner.train(params, steps)
    return steps * learner._bs / (perf_counter() - t0)  # noqa: SLF001 - the batch actually used


class PlainTorch:
    """The same model trained the idiomatic way: module, torch.optim.SGD, same batch size."""

    def __init__(self, case: Case, data: LocalData) -> None:
        self.model = build_model(case.cfg, case.input_shape, data.n_classes)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=case.cfg.lr)
        self.X = torch.from_numpy(np.ascontiguousarray(data.train.X, dtype=np.float32))
        self.y = torch.from_numpy(np.asarray(data.train.y, dtype=np.int64))
        self.bs = min(case.cfg.batch_size, len(data.train))
        self.rng = np.random.default_rng(1)

    def round(self, steps: int) -> float:
        idx = [torch.from_numpy(self.rng.integers(0, self.X.shape[0], self.bs)) for _ in range(steps)]
        t0 = perf_counter()
        for i in idx:
            self.opt.zero_grad()
            loss = F.cross_entropy(self.model(self.X[i]), self.y[i])
            loss.backward()
            self.opt.step()
        return steps * self.bs / (perf_counter() - t0)


def steps_for(learner: TorchLearner, params: np.ndarray, seconds: float) -> int:
    """Steps that take about `seconds` (after a warm-up)."""
    learner.train(params, 5)
    t0 = perf_counter()
    learner.train(params, 20)
    per = (perf_counter() - t0) / 20
    return max(10, int(seconds / per))


def predict_rate(learner: TorchLearner, params: np.ndarray, X: np.ndarray) -> float:
    t0 = perf_counter()
    learner.predict(params, X)
    return X.shape[0] / (perf_counter() - t0)


def one_sample_ms(learner: TorchLearner, params: np.ndarray, x: np.ndarray, n: int) -> float:
    learner.predict(params, x)
    times = []
    for _ in range(n):
        t0 = perf_counter()
        learner.predict(params, x)
        times.append(perf_counter() - t0)
    return 1000 * statistics.median(times)


def message_bytes(manifest: Manifest, params: np.ndarray) -> int:
    """Bytes of all frames of a keyframe PUSH carrying `params`, sealed by the real Wire."""
    a, b = Identity.from_seed(b"a" * 32), Identity.from_seed(b"b" * 32)
    keyring = Keyring(a, {"a": a.public_key, "b": b.public_key})
    cfg = WireConfig()
    wire = Wire("a", keyring, manifest, SequenceCounter(1), ReplayGuard(cfg.replay_window), cfg)
    _, frames = wire.seal(Kind.PUSH, "b", Fields(ack=0, base=0, weight=300.0, age=100), params, time.time())
    return sum(len(f) for f in frames)


def central_accuracy(case: Case, data: LocalData, heldout: Split | None) -> dict:
    learner = TorchLearner(case.cfg, data, threads=1)
    t0 = perf_counter()
    params, _ = learner.train(learner.initial_params(), case.accuracy_steps)
    return {
        "steps": case.accuracy_steps,
        "seconds": perf_counter() - t0,
        "own_rows": learner.evaluate(params, data.test).accuracy,
        "heldout_people": learner.evaluate(params, heldout).accuracy if heldout is not None else None,
    }


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    machine = machine_info()
    cases = {}
    for case in CASES:
        data, heldout, source = load_case_data(case, args.data)
        info = describe_model(case.cfg, data.input_shape, data.n_classes)
        learner = TorchLearner(case.cfg, data, threads=1)
        plain = PlainTorch(case, data)
        params = learner.initial_params()
        steps = 10 if args.quick else steps_for(learner, params, 0.5)
        plain.round(5)
        ours, base = [], []
        for _ in range(args.repeats):
            ours.append(learner_round(learner, params, steps))
            base.append(plain.round(steps))
        X = (heldout or data.test).X
        X = X[: 256 if args.quick else len(X)]
        head = PersonalLearner(learner, "head")
        full_bytes = message_bytes(learner.manifest, params)
        entry = {
            "data": source,
            "input_shape": list(data.input_shape),
            "n_classes": data.n_classes,
            "arch": info.arch,
            "params": info.params,
            "macs_per_sample": info.macs,
            "layers": [list(layer) for layer in info.layers],
            "param_bytes": info.nbytes,
            "batch_size": learner._bs,  # noqa: SLF001
            "steps_per_round": steps,
            "train_samples_per_s": _stats(ours),
            "plain_torch_samples_per_s": _stats(base),
            "ratio_vs_plain_torch": statistics.median(ours) / statistics.median(base),
            "train_gmacs_per_s": statistics.median(ours) * 3 * info.macs / 1e9,  # forward + 2x backward
            "predict_rows_per_s": _stats([predict_rate(learner, params, X) for _ in range(args.repeats)]),
            "predict_one_sample_ms": one_sample_ms(learner, params, X[:1], 20 if args.quick else 300),
            "message_bytes": full_bytes,
            "message_overhead_bytes": full_bytes - info.nbytes,
            "head_body_params": head.manifest.size,
            "head_message_bytes": message_bytes(head.manifest, head.initial_params()),
        }
        if args.accuracy:
            entry["central_accuracy"] = central_accuracy(case, data, heldout)
        cases[case.name] = entry
    machine["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "benchmark": "models",
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "machine": machine,
        "cases": cases,
    }


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "git_commit": commit,
    }


def _r(s: dict, fmt: str = ",.0f") -> str:
    return f"{s['median']:{fmt}} [{s['min']:{fmt}}-{s['max']:{fmt}}]"


def print_report(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(Console().width, 120))
    m = result["machine"]
    con.print(
        f"[bold]Models[/bold]: {m['cpu']}, torch {m['torch']} on {result['threads']} thread; load avg "
        f"{m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}. Median of {result['repeats']} rounds \\[min-max]."
        + ("  [bold red]--quick: figures are meaningless[/bold red]" if result["quick"] else "")
    )
    t = Table()
    t.add_column("")
    for name in result["cases"]:
        t.add_column(name, justify="right")
    rows = [
        ("data", lambda c: c["data"]),
        ("parameters", lambda c: f"{c['params']:,} ({c['param_bytes'] / 1024:.1f} KiB float32)"),
        ("MACs per sample (forward)", lambda c: f"{c['macs_per_sample']:,}"),
        ("training, samples/s (batch 32)", lambda c: _r(c["train_samples_per_s"])),
        ("  plain PyTorch loop, samples/s", lambda c: _r(c["plain_torch_samples_per_s"])),
        ("  TorchLearner / plain PyTorch", lambda c: f"{c['ratio_vs_plain_torch']:.2f}x"),
        ("  training GMAC/s (3x forward MACs)", lambda c: f"{c['train_gmacs_per_s']:.2f}"),
        ("inference, rows/s (batched)", lambda c: _r(c["predict_rows_per_s"])),
        ("inference, one sample (ms)", lambda c: f"{c['predict_one_sample_ms']:.3f}"),
        ("model message, bytes (keyframe PUSH)", lambda c: f"{c['message_bytes']:,} (+{c['message_overhead_bytes']} envelope)"),
        ("  body only (personalize = head)", lambda c: f"{c['head_message_bytes']:,} ({c['head_body_params']:,} params)"),
    ]
    if any("central_accuracy" in c for c in result["cases"].values()):
        rows.append(
            (
                "central training: held-out people",
                lambda c: f"{100 * c['central_accuracy']['heldout_people']:.1f}% ({c['central_accuracy']['steps']} steps, "
                f"{c['central_accuracy']['seconds']:.0f} s)"
                if c.get("central_accuracy") and c["central_accuracy"]["heldout_people"] is not None
                else "n/a",
            )
        )
    for label, fn in rows:
        t.add_row(label, *[fn(c) for c in result["cases"].values()])
    con.print(t)
    for name, c in result["cases"].items():
        con.print(f"{name}: {c['arch']}; layers (name, params, MACs): {c['layers']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few steps, 2 rounds (smoke test; figures meaningless)")
    p.add_argument("--repeats", type=int, default=None, help="rounds per measurement (default 7, quick: 2)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with UCI HAPT train.npz/test.npz")
    p.add_argument("--accuracy", action="store_true", help="also train each model centrally and score held-out people")
    p.add_argument("--out", type=Path, help="JSON result file (default: benchmarks/results/models-<time>.json)")
    p.add_argument("--json", action="store_true", help="print the JSON result instead of the table")
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 7
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    result = run(args)
    out = args.out or RESULTS / f"models-{dt.datetime.now():%Y%m%d-%H%M%S}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result["path"] = str(out)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
