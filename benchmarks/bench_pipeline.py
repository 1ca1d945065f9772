"""Message pipeline benchmark: seal -> ZeroMQ loopback -> open, against raw SecretBox throughput.

What is measured, for a float32 model delta of 1 MiB (262144 floats) and of 100 KiB (25600):

* full pipeline = ``Wire.seal`` (encode body, Box-encrypt, Ed25519 sign of head + MAC tag) ->
  ``ZmqTransport.send`` over tcp://127.0.0.1 -> ``ZmqTransport.recv`` -> ``Wire.open`` (limits,
  header, roster, replay, verify, decrypt, decode, finite check), with the real classes and keys;
  - streaming: receiver node in another process (spawned), sender in this one, messages back to
    back with a window (the receiver acks every k messages over a pipe); payload bytes per
    second from the first seal to the last message opened at the receiver;
  - serial: one message at a time through the whole chain, both ends in this process;
* baselines, same payloads, same run: ``nacl.secret.SecretBox(key).encrypt(msg)`` (the issue's
  baseline) and ``nacl.bindings.crypto_secretbox_easy`` (stricter: no nonce concatenation);
  for information also libsodium's ``crypto_secretbox_easy`` into a preallocated buffer;
* a per-step breakdown, and raw ZeroMQ transfer of the same frames without any crypto.

Every figure is the median of ``--repeats`` rounds (each round = many messages); rounds
interleave all measurements so background load hits baselines and pipeline alike, and ratios are
also computed per round (their min-max is the spread shown).

    .venv/bin/python benchmarks/bench_pipeline.py            # full run, about 25 s
    .venv/bin/python benchmarks/bench_pipeline.py --quick    # seconds; smoke test only
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import msgpack
import nacl
import nacl.bindings
import nacl.secret
import nacl.signing
import nacl.utils
import numpy as np
import zmq

from p2pfed.wire import codec
from p2pfed.wire.codec import Fields, Kind
from p2pfed.config import TransportConfig, WireConfig
from p2pfed.wire.crypto import Identity, Keyring, signed_bytes
from p2pfed.errors import Rejected
from p2pfed.wire.sequence import ReplayGuard, SequenceCounter
from p2pfed.transport.zeromq import ZmqTransport
from p2pfed.types import Manifest
from p2pfed.wire.envelope import Wire

try:  # libsodium itself, for the "no allocation, no copy" reference row only
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _lib
except ImportError:  # pragma: no cover - private module of PyNaCl
    _ffi = _lib = None

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SIZES = {"1 MiB": 262_144, "100 KiB": 25_600}  # float32 values
SEEDS = {"sender": b"s" * 32, "receiver": b"r" * 32}
FIELDS = Fields(ack=0, base=1, weight=1.0, age=0)
TARGET_SIZE, TARGET_RATIO = "1 MiB", 0.40
BUSY_CORES = 0.25  # background load (cores) above which a run is flagged as unreliable
MB = 1e6  # throughputs are in MB/s = 10^6 payload bytes per second


@dataclass(frozen=True)
class Counts:
    """Messages per round, per size: micro steps, serial chain, streaming batch."""

    micro: int
    serial: int
    stream: int
    window: int  # streaming: messages in flight
    ack_every: int  # streaming: the receiver acks every k messages


def counts_for(label: str, quick: bool) -> Counts:
    if quick:
        return Counts(micro=3, serial=3, stream=8, window=4, ack_every=2)
    if label == "1 MiB":
        return Counts(micro=50, serial=40, stream=200, window=16, ack_every=4)
    return Counts(micro=200, serial=300, stream=1500, window=64, ack_every=16)


def manifest_for(n: int) -> Manifest:
    return Manifest(names=("delta",), shapes=((n,),), arch=f"bench-delta-{n}")


def payload_for(n: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(n).astype("<f4")


def make_wire(me: str, manifest: Manifest) -> Wire:
    identities = {k: Identity.from_seed(v) for k, v in SEEDS.items()}
    keyring = Keyring(identities[me], {k: i.public_key for k, i in identities.items()})
    cfg = WireConfig()
    return Wire(me, keyring, manifest, SequenceCounter(1), ReplayGuard(cfg.replay_window), cfg)


# --- receiver process (streaming) ---------------------------------------------------------------


def _send(conn, *msg: object) -> None:
    """Control messages between the two benchmark processes: JSON, never pickle."""
    conn.send_bytes(json.dumps(msg).encode())


def _recv(conn) -> list:
    return json.loads(conn.recv_bytes())


def _receiver_main(conn, sizes: dict[str, int]) -> None:
    asyncio.run(_receiver(conn, sizes))


async def _receiver(conn, sizes: dict[str, int]) -> None:
    """A receiving node: ZmqTransport.recv -> Wire.open, acking progress to the sender."""
    wires = {label: make_wire("receiver", manifest_for(n)) for label, n in sizes.items()}
    expected = {label: payload_for(n) for label, n in sizes.items()}
    transport = ZmqTransport("tcp://127.0.0.1:*", {})
    _send(conn, "ready", transport.bound)
    try:
        while True:
            cmd = _recv(conn)
            if cmd[0] == "stop":
                _send(conn, "bye", time.process_time())
                break
            _, label, n, mode, ack_every = cmd
            wire, rejected, last, t_first = wires[label], Counter(), None, 0.0
            cpu0, flt0 = time.process_time(), _minflt()
            for i in range(n):
                inc = await transport.recv()
                if i == 0:
                    t_first = perf_counter()
                if mode == "full":
                    try:
                        last = wire.open(inc.frames)
                    except Rejected as e:
                        rejected[e.reason.value] += 1
                if (i + 1) % ack_every == 0 or i == n - 1:
                    _send(conn, "ack", i + 1)
            t_last = perf_counter()
            cpu, flt = time.process_time() - cpu0, _minflt() - flt0
            ok = mode != "full" or (last is not None and np.array_equal(last.payload, expected[label]))
            report = {"t_first": t_first, "t_last": t_last, "cpu": cpu, "minflt": flt}
            report.update(rejected=dict(rejected), payload_ok=ok)
            _send(conn, "done", report)
    finally:
        await transport.close()


# --- measurements ---------------------------------------------------------------------------------


class Case:
    """Everything one payload size needs: wires, keys, a sealed message and its pieces."""

    def __init__(self, label: str, n: int, counts: Counts) -> None:
        self.label, self.counts = label, counts
        self.manifest = manifest_for(n)
        self.payload = payload_for(n)
        self.nbytes = self.payload.nbytes
        self.msg = self.payload.tobytes()  # what the baselines encrypt
        self.key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
        self.nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
        self.out = bytearray(len(self.msg) + nacl.secret.SecretBox.MACBYTES)
        self.wire_s = make_wire("sender", self.manifest)
        self.wire_r = make_wire("receiver", self.manifest)
        self.plaintext = codec.encode_body(Kind.PUSH, FIELDS, self.payload)
        _, frames = self.seal()
        self.frames = frames
        self.head, self.body, self.sig = frames
        _, header = codec.decode_head(self.head)
        self.body_nonce = header.nonce
        self.signed = signed_bytes(self.head, self.body)
        self.identity = Identity.from_seed(SEEDS["sender"])
        self.verify_key = nacl.signing.VerifyKey(self.identity.public_key)
        self.whole_sig = self.identity.sign(self.body)
        self.samples: dict[str, list[float]] = {}  # metric -> seconds per message, one per round

    def seal(self) -> tuple[int, list[bytes]]:
        return self.wire_s.seal(Kind.PUSH, "receiver", FIELDS, self.payload, time.time())

    def record(self, metric: str, seconds: float) -> None:
        self.samples.setdefault(metric, []).append(seconds)


def _minflt() -> int:
    """Minor page faults of this process so far (fresh memory being mapped in)."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    except (ImportError, OSError):  # pragma: no cover - not on Unix
        return 0


def per_op(fn: Callable[[], object], n: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    t0 = perf_counter()
    for _ in range(n):
        fn()
    return (perf_counter() - t0) / n


def micro_round(c: Case, record: bool = True) -> None:
    """Baselines and the per-step breakdown (no transport)."""
    n, kr_s, kr_r = c.counts.micro, c.wire_s.keyring, c.wire_r.keyring
    steps: dict[str, Callable[[], object]] = {
        "baseline.secretbox": lambda: nacl.secret.SecretBox(c.key).encrypt(c.msg),
        "baseline.secretbox_easy": lambda: nacl.bindings.crypto_secretbox_easy(c.msg, c.nonce, c.key),
        "step.encode": lambda: codec.encode_body(Kind.PUSH, FIELDS, c.payload),
        "step.encrypt": lambda: kr_s.encrypt("receiver", c.plaintext),
        "step.sign": lambda: c.identity.sign(c.signed),
        "step.seal": c.seal,
        "step.verify": lambda: c.verify_key.verify(c.signed, c.sig),
        "step.decrypt": lambda: kr_r.decrypt("sender", c.body_nonce, c.body),
        "step.decode": lambda: codec.decode_body(Kind.PUSH, c.plaintext, c.manifest),
        "alt.sha256": lambda: hashlib.sha256(c.body).digest(),
        "alt.sign_whole": lambda: c.identity.sign(c.body),
        "alt.verify_whole": lambda: c.verify_key.verify(c.body, c.whole_sig),
    }
    if _lib is not None:
        out = _ffi.from_buffer(c.out)
        steps["info.libsodium_inplace"] = lambda: _lib.crypto_secretbox_easy(out, c.msg, len(c.msg), c.nonce, c.key)
    for metric, fn in steps.items():
        seconds = per_op(fn, n)
        if record:
            c.record(metric, seconds)
    # Wire.open needs a fresh sequence number per message: seal a batch first (untimed).
    batch = [c.seal()[1] for _ in range(n)]
    t0 = perf_counter()
    for frames in batch:
        c.wire_r.open(frames)
    if record:
        c.record("step.open", (perf_counter() - t0) / n)


async def serial_round(c: Case, a: ZmqTransport, b: ZmqTransport, record: bool = True) -> None:
    """One message at a time: the full chain, then the same frames over ZeroMQ without crypto."""
    n = c.counts.serial
    cpu0, flt0 = time.process_time(), _minflt()
    t0 = perf_counter()
    for _ in range(n):
        _, frames = c.seal()
        await send(a, "local", frames)
        inc = await b.recv()
        c.wire_r.open(inc.frames)
    full = (perf_counter() - t0) / n
    cpu, flt = (time.process_time() - cpu0) / n, (_minflt() - flt0) / n
    t0 = perf_counter()
    for _ in range(n):
        await send(a, "local", c.frames)
        await b.recv()
    raw = (perf_counter() - t0) / n
    if record:
        c.record("pipeline.serial", full)
        c.record("raw.serial", raw)
        c.record("cpu.serial", cpu)
        c.record("faults.serial", flt)


async def send(t: ZmqTransport, peer: str, frames: list[bytes], timeout: float = 10.0) -> None:
    """Send, retrying while the DEALER is not yet connected (IMMEDIATE) or at its HWM."""
    deadline = perf_counter() + timeout
    while not t.send(peer, frames):
        if perf_counter() > deadline:
            raise RuntimeError(f"could not send to {peer} within {timeout} s")
        await asyncio.sleep(0.001)


def stream_round(c: Case, a: ZmqTransport, conn, mode: str, record: bool = True) -> dict:
    """N messages back to back to the receiver process, at most `window` unacknowledged."""
    k = c.counts
    n, window = k.stream, k.window
    _send(conn, "run", c.label, n, mode, k.ack_every)
    sent = acked = retries = 0
    cpu0, flt0 = time.process_time(), _minflt()
    t0 = perf_counter()
    while sent < n:
        while sent - acked >= window or conn.poll():
            kind, acked = _recv(conn)
        frames = c.seal()[1] if mode == "full" else c.frames
        while not a.send("remote", frames):  # not yet connected, or ZeroMQ's HWM count lags
            retries += 1
            if retries > 20_000:
                raise RuntimeError("receiver process unreachable")
            if conn.poll(0.0005):
                kind, acked = _recv(conn)
        sent += 1
    while acked < n:
        kind, acked = _recv(conn)
    t_ack = perf_counter()
    cpu = time.process_time() - cpu0  # all threads of this process, ZeroMQ's I/O thread included
    flt = _minflt() - flt0
    kind, report = _recv(conn)
    assert kind == "done", kind
    # perf_counter is CLOCK_MONOTONIC on Linux: one clock for both processes, so the end is the
    # moment the receiver finished opening the last message.  Elsewhere: the last ack's arrival.
    shared_clock = sys.platform == "linux" and "CLOCK_MONOTONIC" in time.get_clock_info("perf_counter").implementation
    t_end = report["t_last"] if shared_clock else t_ack
    if record:
        c.record("pipeline.stream" if mode == "full" else "raw.stream", (t_end - t0) / n)
        if mode == "raw":
            c.record("cpu.raw_stream_total", (cpu + report["cpu"]) / n)
        if mode == "full":
            c.record("cpu.stream_sender", cpu / n)
            c.record("cpu.stream_receiver", report["cpu"] / n)
            c.record("cpu.stream_total", (cpu + report["cpu"]) / n)
            c.record("faults.stream_sender", flt / n)
            c.record("faults.stream_receiver", report["minflt"] / n)
    report.update(retries=retries, shared_clock=shared_clock)
    return report


# --- summary ------------------------------------------------------------------------------------

LABELS = {
    "pipeline.stream": "Full pipeline, streaming (2 processes)",
    "pipeline.serial": "Full pipeline, serial (1 process, 1 msg at a time)",
    "baseline.secretbox": "Baseline: SecretBox(key).encrypt(msg)",
    "baseline.secretbox_easy": "Baseline: bindings.crypto_secretbox_easy",
    "info.libsodium_inplace": "libsodium secretbox into preallocated buffer",
    "raw.stream": "ZeroMQ only, streaming (same frames, no crypto)",
    "raw.serial": "ZeroMQ only, serial (same frames, no crypto)",
    "step.encode": "encode body (codec.encode_body)",
    "step.encrypt": "Box encrypt (Keyring.encrypt)",
    "step.sign": "Ed25519 sign of signed bytes",
    "step.seal": "= Wire.seal total",
    "step.verify": "Ed25519 verify of signed bytes (head + tag)",
    "step.decrypt": "Box decrypt (Keyring.decrypt)",
    "step.decode": "decode body + finite check",
    "step.open": "= Wire.open total",
    "alt.sha256": "not used: SHA-256 of body (earlier hash-then-sign)",
    "alt.sign_whole": "not used: Ed25519 sign of whole body",
    "alt.verify_whole": "not used: Ed25519 verify of whole body",
    "cpu.serial": "serial: CPU time per message (all threads)",
    "cpu.stream_sender": "streaming: CPU per message, sender process",
    "cpu.stream_receiver": "streaming: CPU per message, receiver process",
    "cpu.stream_total": "streaming: CPU per message, both processes",
    "cpu.raw_stream_total": "ZeroMQ-only streaming: CPU per message, both processes",
    "faults.serial": "serial: minor page faults per message",
    "faults.stream_sender": "streaming: page faults per msg, sender",
    "faults.stream_receiver": "streaming: page faults per msg, receiver",
}
THROUGHPUT_ROWS = [
    "pipeline.stream",
    "pipeline.serial",
    "baseline.secretbox",
    "baseline.secretbox_easy",
    "info.libsodium_inplace",
    "raw.stream",
    "raw.serial",
]
SECTION_ENDS = ("step.seal", "raw.serial", "step.open", "pipeline.serial", "alt.verify_whole")
BREAKDOWN_ROWS = [
    "step.encode",
    "step.encrypt",
    "step.sign",
    "step.seal",
    "raw.serial",
    "step.verify",
    "step.decrypt",
    "step.decode",
    "step.open",
    "pipeline.serial",
    "alt.sha256",
    "alt.sign_whole",
    "alt.verify_whole",
    "cpu.serial",
    "cpu.stream_sender",
    "cpu.stream_receiver",
    "cpu.stream_total",
    "cpu.raw_stream_total",
]


def summarize(c: Case) -> dict:
    metrics = {}
    for name, vals in c.samples.items():
        med, lo, hi = statistics.median(vals), min(vals), max(vals)
        if name.startswith("faults."):
            metrics[name] = {"label": LABELS[name], "per_msg": vals, "median": med, "min": lo, "max": hi}
            continue
        metrics[name] = {
            "label": LABELS.get(name, name),
            "seconds_per_msg": vals,
            "us_median": med * 1e6,
            "us_min": lo * 1e6,
            "us_max": hi * 1e6,
            "mbps_median": c.nbytes / med / MB,
            "mbps_min": c.nbytes / hi / MB,
            "mbps_max": c.nbytes / lo / MB,
        }
    ratios = {}
    for pipe in ("pipeline.stream", "pipeline.serial", "raw.stream", "raw.serial"):
        for base in ("baseline.secretbox", "baseline.secretbox_easy"):
            if pipe in c.samples and base in c.samples:
                per_round = [b / p for p, b in zip(c.samples[pipe], c.samples[base], strict=True)]
                ratios[f"{pipe}/{base}"] = {
                    "of_medians": statistics.median(c.samples[base]) / statistics.median(c.samples[pipe]),
                    "per_round_median": statistics.median(per_round),
                    "per_round_min": min(per_round),
                    "per_round_max": max(per_round),
                }
    out = {
        "payload_bytes": c.nbytes,
        "floats": int(c.payload.size),
        "counts": vars(c.counts),
        "metrics": metrics,
        "ratios": ratios,
    }
    if "cpu.stream_total" in c.samples:
        # Streaming is CPU-bound: with all cores free for it, it could at best spread the CPU
        # work of one message over every core.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        cpu = statistics.median(c.samples["cpu.stream_total"])
        out["stream_cpu_bound"] = {
            "cores": cores,
            "us_cpu_per_msg": cpu * 1e6,
            "mbps_if_all_cores_idle": c.nbytes / (cpu / cores) / MB,
        }
    return out


def _cpu_stat() -> tuple[int, int] | None:
    """(busy, steal) jiffies of the whole machine so far, from /proc/stat (Linux only)."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def background_load(stat0, stat1, wall: float, own_cpu: float) -> dict | None:
    """Cores kept busy by other processes while the benchmark ran (and hypervisor steal)."""
    if stat0 is None or stat1 is None or wall <= 0:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy = (stat1[0] - stat0[0]) / hz
    return {
        "other_cores": max(0.0, (busy - own_cpu) / wall),
        "steal_cores": (stat1[1] - stat0[1]) / hz / wall,
        "own_cores": own_cpu / wall,
        "seconds": wall,
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
    def git(*cmd: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *cmd], capture_output=True, text=True, timeout=5).stdout.strip()

    try:
        commit, dirty = git("rev-parse", "--short", "HEAD"), bool(git("status", "--porcelain"))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "git_commit": commit + ("-dirty" if dirty else ""),
        "versions": {
            "pyzmq": zmq.__version__,
            "libzmq": zmq.zmq_version(),
            "pynacl": nacl.__version__,
            "libsodium": "bundled with PyNaCl",
            "numpy": np.__version__,
            "msgpack": ".".join(map(str, msgpack.version)),
        },
    }


def _range(mt: dict, key: str, fmt: str = ".0f") -> str:
    return f"{mt[key + '_median']:{fmt}} [{mt[key + '_min']:{fmt}}-{mt[key + '_max']:{fmt}}]"


def print_report(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(Console().width, 120))
    m, sizes = result["machine"], list(result["sizes"].values())
    con.print(
        f"[bold]Message pipeline[/bold]: {m['cpu']}, {m['usable_cores']} cores, Python {m['python']}, "
        f"pyzmq {m['versions']['pyzmq']} (libzmq {m['versions']['libzmq']}), PyNaCl {m['versions']['pynacl']}, "
        f"numpy {m['versions']['numpy']}; load avg {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}.  "
        f"Median of {result['repeats']} rounds \\[min-max]; ratios: of the medians \\[per-round min-max]."
        + ("  [bold red]--quick: figures are meaningless[/bold red]" if result["quick"] else "")
    )
    t = Table(title="Throughput, MB/s of float32 payload (10^6 B/s)")
    t.add_column("size")
    t.add_column("")
    for col in ("MB/s", "vs SecretBox.encrypt", "vs crypto_secretbox_easy"):
        t.add_column(col, justify="right")
    for label, s in result["sizes"].items():
        for name in THROUGHPUT_ROWS:
            mt = s["metrics"].get(name)
            if mt is None:
                continue
            cells = [label if name == THROUGHPUT_ROWS[0] else "", LABELS[name], _range(mt, "mbps")]
            for base in ("baseline.secretbox", "baseline.secretbox_easy"):
                ra = s["ratios"].get(f"{name}/{base}")
                cells.append(f"{ra['of_medians']:.0%} [{ra['per_round_min']:.0%}-{ra['per_round_max']:.0%}]" if ra else "")
            t.add_row(*cells, end_section=name == THROUGHPUT_ROWS[-1])
    con.print(t)
    b = Table(title="Breakdown, µs per message")
    b.add_column("step")
    for label in result["sizes"]:
        b.add_column(label, justify="right")
    for name in BREAKDOWN_ROWS:
        cells = [_range(s["metrics"][name], "us") if name in s["metrics"] else "-" for s in sizes]
        b.add_row(LABELS[name], *cells, end_section=name in SECTION_ENDS)
    for name in ("faults.serial", "faults.stream_sender", "faults.stream_receiver"):
        cells = [f"{s['metrics'][name]['median']:.0f}" if name in s["metrics"] else "-" for s in sizes]
        b.add_row(LABELS[name], *cells)
    con.print(b)
    for label, s in result["sizes"].items():
        cb = s.get("stream_cpu_bound")
        if cb:
            con.print(
                f"{label} streaming uses {cb['us_cpu_per_msg']:.0f} µs of CPU per message over both processes: "
                f"at most {cb['mbps_if_all_cores_idle']:.0f} MB/s even with all {cb['cores']} cores idle."
            )
    for mode, verdict in result["target"].items():
        con.print(f"Target (full pipeline >= {TARGET_RATIO:.0%} of SecretBox.encrypt at {TARGET_SIZE}), {mode}: "
                  f"{verdict}")
    bg = m.get("background")
    if bg:
        busy = bg["other_cores"] + bg["steal_cores"] > BUSY_CORES
        con.print(
            ("[bold red]Machine busy:[/bold red] " if busy else "")
            + f"other processes used {bg['other_cores']:.2f} cores "
            f"(+{bg['steal_cores']:.2f} stolen by the hypervisor) on average during the run, this benchmark "
            f"{bg['own_cores']:.2f}." + ("  Ratios are unreliable; rerun on a quiet machine." if busy else "")
        )
    con.print(f"Results written to {result['path']}")


# --- main ---------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict:
    stat0, wall0, cpu0, receiver_cpu = _cpu_stat(), perf_counter(), time.process_time(), 0.0
    cases = [Case(label, n, counts_for(label, args.quick)) for label, n in SIZES.items()]
    max_window = max(c.counts.window for c in cases)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_receiver_main, args=(child, SIZES), daemon=True, name="bench-receiver")
    proc.start()
    b = ZmqTransport("tcp://127.0.0.1:*", {})
    a = None
    stream_reports: dict[str, list[dict]] = {c.label: [] for c in cases}
    try:
        if not parent.poll(60):
            raise RuntimeError("receiver process did not start")
        kind, remote = _recv(parent)
        a = ZmqTransport(
            "tcp://127.0.0.1:*",
            {"local": b.bound, "remote": remote},
            # ZeroMQ learns that queued messages were read only in batches, so its HWM must
            # be well above the window or a full pipe turns sends into retries.
            TransportConfig(send_hwm=2 * max_window + 16),
        )
        a.connect(["local", "remote"])
        for c in cases:  # warm-up: connections, allocator, caches, lazy imports
            micro_round(c, record=False)
            await serial_round(c, a, b, record=False)
            for mode in ("full", "raw"):
                stream_round(c, a, parent, mode, record=False)
        for _ in range(args.repeats):  # interleaved rounds
            for c in cases:
                micro_round(c)
                await serial_round(c, a, b)
                for mode in ("full", "raw"):
                    stream_reports[c.label].append(stream_round(c, a, parent, mode) | {"mode": mode})
        _send(parent, "stop")
        receiver_cpu = _recv(parent)[1] if parent.poll(10) else 0.0
        proc.join(10)
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        if a is not None:
            await a.close()
        await b.close()

    sizes = {}
    for c in cases:
        s = summarize(c)
        reps = stream_reports[c.label]
        s["stream_checks"] = {
            "payload_ok": all(r["payload_ok"] for r in reps),
            "rejected": sum(sum(r["rejected"].values()) for r in reps),
            "send_retries": sum(r["retries"] for r in reps),
            "end_clock": "receiver: last opened" if all(r["shared_clock"] for r in reps) else "sender: last ack",
        }
        sizes[c.label] = s
    target = {}
    tgt = sizes[TARGET_SIZE]["ratios"]
    for mode in ("stream", "serial"):
        ra = tgt[f"pipeline.{mode}/baseline.secretbox"]
        short = 100 * (TARGET_RATIO - ra["of_medians"])
        met = "met" if short <= 0 else f"NOT met (short by {short:.1f} percentage points)"
        target["streaming" if mode == "stream" else "serial"] = (
            f"{ra['of_medians']:.1%} of SecretBox.encrypt "
            f"(rounds {ra['per_round_min']:.0%}-{ra['per_round_max']:.0%}) -> {met}"
        )
    info = machine_info()
    info["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    own_cpu = time.process_time() - cpu0 + receiver_cpu
    info["background"] = background_load(stat0, _cpu_stat(), perf_counter() - wall0, own_cpu)
    bg = info["background"]
    quiet = bg is None or bg["other_cores"] + bg["steal_cores"] <= BUSY_CORES
    if not quiet:
        target = {mode: verdict + " (machine busy: unreliable)" for mode, verdict in target.items()}
    return {
        "benchmark": "message-pipeline",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeats": args.repeats,
        "units": {"throughput": "MB/s = 1e6 payload bytes per second", "time": "microseconds per message"},
        "machine": info,
        "quiet_machine": quiet,
        "target": target,
        "sizes": sizes,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny counts, 2 rounds (smoke test; figures meaningless)")
    p.add_argument("--repeats", type=int, default=None, help="rounds per measurement (default 7, quick: 2)")
    p.add_argument("--out", type=Path, help="JSON result file (default: benchmarks/results/pipeline-<time>.json)")
    p.add_argument("--json", action="store_true", help="print the JSON result instead of tables")
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 7
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    result = asyncio.run(run(args))
    out = args.out or RESULTS / f"pipeline-{dt.datetime.now():%Y%m%d-%H%M%S}{'-quick' if args.quick else ''}.json"
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
