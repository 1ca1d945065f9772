"""Tests of p2pfed.learning.models: building, deterministic initialisation, manifests, arch strings, sizes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from hypothesis import given
from hypothesis import strategies as st

from p2pfed.config import MODEL_KINDS, ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.learning.models import KNOWN_KINDS, arch_string, build_model, describe_model, manifest_of

CFG = ModelConfig(kind="mlp", hidden=(64,), init_seed=0)


def flat(model: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()


def test_mlp_layers_and_output_shape() -> None:
    model = build_model(replace(CFG, hidden=(32, 16)), (24,), 4)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(24, 32), (32, 16), (16, 4)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.modules()) == 2
    assert model(torch.zeros(5, 24)).shape == (5, 4)


def test_mlp_flattens_multidimensional_input() -> None:
    model = build_model(CFG, (3, 8), 6)
    assert model(torch.zeros(2, 3, 8)).shape == (2, 6)
    assert next(model.parameters()).shape == (64, 24)


def test_no_hidden_layers_is_logistic_regression() -> None:
    model = build_model(replace(CFG, hidden=()), (10,), 3)
    assert [tuple(p.shape) for p in model.parameters()] == [(3, 10), (3,)]


def test_init_is_deterministic_and_depends_on_init_seed_only() -> None:
    a = flat(build_model(CFG, (24,), 4))
    b = flat(build_model(replace(CFG, lr=1.0, train_seed=7), (24,), 4))
    c = flat(build_model(replace(CFG, init_seed=1), (24,), 4))
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_init_leaves_global_torch_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(CFG, (24,), 4)
    assert torch.equal(torch.rand(3), expected)


def test_init_follows_torch_default_bounds() -> None:
    model = build_model(replace(CFG, hidden=(50,)), (200,), 4)
    for p, fan_in in zip(model.parameters(), [200, 200, 50, 50], strict=True):
        bound = 1 / math.sqrt(fan_in)
        top = float(p.detach().abs().max())
        assert top <= bound * (1 + 1e-6)  # float32 rounding
        if p.numel() >= 50:
            assert top > 0.8 * bound  # actually spread over the range


def test_unknown_kind_lists_known_kinds() -> None:
    with pytest.raises(ConfigError, match=r"unknown model.kind 'transformer' \(known kinds: mlp, cnn1d\)"):
        build_model(replace(CFG, kind="transformer"), (24,), 4)
    with pytest.raises(ConfigError, match="known kinds"):
        arch_string(replace(CFG, kind="cnn"), (24,), 4)
    assert KNOWN_KINDS == MODEL_KINDS == ("mlp", "cnn1d")  # config refuses what models cannot build


@pytest.mark.parametrize(
    ("cfg", "shape", "classes", "fragment"),
    [
        (replace(CFG, hidden=(64, 0)), (24,), 4, "hidden sizes must all be positive"),
        (CFG, (24,), 1, "at least 2 classes"),
        (CFG, (), 4, "input shape"),
        (CFG, (0,), 4, "input shape"),
    ],
)
def test_bad_model_configs(cfg: ModelConfig, shape: tuple[int, ...], classes: int, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        build_model(cfg, shape, classes)


def test_manifest_lists_parameters_in_order() -> None:
    model = build_model(CFG, (24,), 4)
    m = manifest_of(model, arch_string(CFG, (24,), 4))
    assert m.names == ("fc1.weight", "fc1.bias", "out.weight", "out.bias")
    assert m.shapes == ((64, 24), (64,), (4, 64), (4,))
    assert m.dtype == "<f4"
    assert m.size == sum(p.numel() for p in model.parameters()) == 24 * 64 + 64 + 64 * 4 + 4
    assert m.nbytes == 4 * m.size


def test_manifest_rejects_non_float32_models() -> None:
    model = build_model(CFG, (24,), 4).double()
    with pytest.raises(ValueError, match="float32"):
        manifest_of(model, "x")


def schema(cfg: ModelConfig, shape: tuple[int, ...] = (24,), classes: int = 4) -> str:
    return manifest_of(build_model(cfg, shape, classes), arch_string(cfg, shape, classes)).schema


def test_schema_identifies_the_architecture() -> None:
    base = schema(CFG)
    assert schema(CFG) == base
    # same layout, other training knobs or init: still compatible
    assert schema(replace(CFG, init_seed=5, lr=0.3, momentum=0.9, batch_size=8)) == base
    # anything that changes the architecture changes the schema
    others = {
        schema(replace(CFG, hidden=(32,))),
        schema(replace(CFG, hidden=(64, 64))),
        schema(replace(CFG, hidden=())),
        schema(CFG, shape=(25,)),
        schema(CFG, shape=(2, 12)),  # same parameter shapes as (24,), other input layout
        schema(CFG, classes=5),
    }
    assert base not in others and len(others) == 6


def test_arch_string_is_readable() -> None:
    assert arch_string(replace(CFG, hidden=(64, 32)), (3, 8), 6) == (
        "mlp/v1(in=3x8;hidden=[64,32];act=relu;out=6)"
    )


# --- cnn1d ----------------------------------------------------------------------------------

CNN = ModelConfig(kind="cnn1d", channels=(16, 32), kernel=5, pool=2, hidden=(64,), init_seed=0)


def test_cnn_layers_names_and_output_shape() -> None:
    model = build_model(CNN, (6, 128), 6)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.padding) for m in convs] == [
        (6, 16, (5,), (2,)),
        (16, 32, (5,), (2,)),
    ]
    assert sum(isinstance(m, torch.nn.MaxPool1d) for m in model.modules()) == 1  # between convs only
    assert model(torch.zeros(3, 6, 128)).shape == (3, 6)
    m = manifest_of(model, arch_string(CNN, (6, 128), 6))
    assert m.names == (
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "out.weight", "out.bias"
    )
    assert m.shapes[-2:] == ((6, 64), (6,))  # the classifier is the last layer, named `out`


def test_cnn_without_hidden_layers_has_a_linear_head_on_pooled_channels() -> None:
    model = build_model(replace(CNN, hidden=(), channels=(8,)), (3, 20), 4)
    assert [tuple(p.shape) for p in model.parameters()] == [(8, 3, 5), (8,), (4, 8), (4,)]


def test_cnn_is_invariant_to_where_a_pattern_sits_in_time_roughly() -> None:
    """Global average pooling: the logits see the whole window, not fixed positions."""
    model = build_model(replace(CNN, pool=1), (1, 64), 3)
    x = torch.zeros(1, 1, 64)
    x[0, 0, 10:14] = 1.0
    y = torch.roll(x, 30, dims=2)
    assert torch.allclose(model(x), model(y), atol=1e-6)


def test_cnn_init_is_deterministic_and_follows_torch_bounds() -> None:
    a = flat(build_model(CNN, (6, 128), 6))
    np.testing.assert_array_equal(a, flat(build_model(replace(CNN, lr=0.3, train_seed=4), (6, 128), 6)))
    assert not np.array_equal(a, flat(build_model(replace(CNN, init_seed=1), (6, 128), 6)))
    model = build_model(CNN, (6, 128), 6)
    fan_ins = [6 * 5, 6 * 5, 16 * 5, 16 * 5, 32, 32, 64, 64]
    for p, fan_in in zip(model.parameters(), fan_ins, strict=True):
        bound = 1 / math.sqrt(fan_in)
        assert float(p.detach().abs().max()) <= bound * (1 + 1e-6)
        if p.numel() >= 64:
            assert float(p.detach().abs().max()) > 0.8 * bound


def test_cnn_arch_string_and_schema() -> None:
    assert arch_string(CNN, (6, 128), 6) == (
        "cnn1d/v1(in=6x128;channels=[16,32];kernel=5;pad=2;pool=max2;gap=avg;hidden=[64];act=relu;out=6)"
    )
    base = schema(CNN, (6, 128), 6)
    same = [
        replace(CNN, lr=0.5, momentum=0.9, init_seed=3, batch_size=8),
        replace(CNN, personalize="head", head_layers=2, finetune_steps=3),  # not part of the model
    ]
    assert all(schema(c, (6, 128), 6) == base for c in same)
    others = {
        schema(replace(CNN, channels=(16, 16)), (6, 128), 6),
        schema(replace(CNN, kernel=3), (6, 128), 6),
        schema(replace(CNN, pool=4), (6, 128), 6),  # same parameter shapes, other model
        schema(replace(CNN, hidden=(32,)), (6, 128), 6),
        schema(CNN, (6, 64), 6),  # same parameter shapes, other input
        schema(CNN, (9, 128), 6),
    }
    assert base not in others and len(others) == 6
    assert schema(replace(CNN, kind="mlp"), (6, 128), 6) != base


@pytest.mark.parametrize(
    ("cfg", "shape", "fragment"),
    [
        (CNN, (174,), r"cnn1d' needs raw windows of shape \(channels, time\).*X_raw"),
        (CNN, (2, 3, 4), "channels, time"),
        (replace(CNN, channels=()), (6, 128), "channels must be a non-empty list"),
        (replace(CNN, channels=(8, 0)), (6, 128), "channels must be a non-empty list of positive"),
        (replace(CNN, kernel=0), (6, 128), "kernel must be >= 1"),
        (replace(CNN, pool=0), (6, 128), "pool must be >= 1"),
        (replace(CNN, channels=(4, 4, 4), pool=4), (6, 10), "too short"),
        (replace(CNN, channels=(4,), kernel=2), (6, 1), "too short"),  # even kernel: one step shorter
    ],
)
def test_bad_cnn_configs(cfg: ModelConfig, shape: tuple[int, ...], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        build_model(cfg, shape, 6)
    with pytest.raises(ConfigError, match=fragment):
        describe_model(cfg, shape, 6)


def test_cnn_learns_through_the_learner() -> None:
    """Windows whose class is the channel carrying a burst at a random time: MLP-hard, CNN-easy."""
    from p2pfed.learning.torch_learner import TorchLearner
    from p2pfed.types import LocalData, Split

    rng = np.random.default_rng(0)

    def windows(n: int) -> Split:
        y = rng.integers(0, 3, n)
        X = 0.3 * rng.standard_normal((n, 3, 48)).astype(np.float32)
        for i in range(n):
            t = rng.integers(0, 40)
            X[i, y[i], t : t + 8] += np.sin(np.linspace(0, 2 * np.pi, 8)) * 3 + 2
        return Split(X.astype(np.float32), y.astype(np.int64))

    data = LocalData(train=windows(300), test=windows(150), n_classes=3)
    cfg = replace(CNN, channels=(8, 8), hidden=(), lr=0.1, batch_size=32)
    learner = TorchLearner(cfg, data, threads=1)
    params, _ = learner.train(learner.initial_params(), 300)
    assert learner.evaluate(params, data.test).accuracy > 0.9


# --- describe_model ---------------------------------------------------------------------------


def test_describe_mlp_by_hand() -> None:
    info = describe_model(CFG, (174,), 6)
    assert info.params == 174 * 64 + 64 + 64 * 6 + 6
    assert info.macs == 174 * 64 + 64 * 6
    assert info.nbytes == 4 * info.params
    assert info.layers == (("fc1", 174 * 64 + 64, 174 * 64), ("out", 64 * 6 + 6, 64 * 6))
    assert info.arch == arch_string(CFG, (174,), 6)


def test_describe_cnn_by_hand() -> None:
    info = describe_model(CNN, (6, 128), 6)
    # conv1: 16 out x 6 in x 5 taps x 128 steps; pool to 64; conv2: 32 x 16 x 5 x 64
    assert info.layers == (
        ("conv1", 16 * 6 * 5 + 16, 16 * 6 * 5 * 128),
        ("conv2", 32 * 16 * 5 + 32, 32 * 16 * 5 * 64),
        ("fc1", 32 * 64 + 64, 32 * 64),
        ("out", 64 * 6 + 6, 64 * 6),
    )
    assert info.params == 5590 and info.macs == 227_712


def _hooked_macs(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """MACs from a real forward pass: output sizes observed by hooks (independent of the analysis)."""
    total = 0

    def hook(m: torch.nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, torch.nn.Linear):
            total += m.in_features * m.out_features
        elif isinstance(m, torch.nn.Conv1d):
            total += m.out_channels * m.in_channels * m.kernel_size[0] * out.shape[-1]

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return total


@given(
    channels=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    kernel=st.integers(1, 6),
    pool=st.integers(1, 3),
    length=st.integers(24, 60),
    c_in=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 5), max_size=2),
)
def test_describe_matches_a_real_forward_pass(
    channels: list[int], kernel: int, pool: int, length: int, c_in: int, hidden: list[int]
) -> None:
    cfg = replace(CNN, channels=tuple(channels), kernel=kernel, pool=pool, hidden=tuple(hidden))
    model = build_model(cfg, (c_in, length), 3)
    info = describe_model(cfg, (c_in, length), 3)
    assert info.params == sum(p.numel() for p in model.parameters())
    assert info.macs == _hooked_macs(model, (c_in, length))
    assert sum(p for _, p, _ in info.layers) == info.params


# --- [model] checks in NodeConfig -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ({"kind": "cnn"}, "model.kind must be one of 'mlp', 'cnn1d', got 'cnn'"),
        ({"hidden": [8, -1]}, "model.hidden sizes must all be positive"),
        ({"kind": "cnn1d", "channels": []}, "cnn1d needs at least one conv layer"),
        ({"channels": [4, 0]}, "model.channels must all be positive"),
        ({"kernel": 0}, "model.kernel must be >= 1"),
        ({"pool": 0}, "model.pool must be >= 1"),
        ({"personalize": "body"}, "model.personalize must be one of 'none', 'head', 'finetune', got 'body'"),
        ({"head_layers": 0}, "model.head_layers must be >= 1"),
        ({"finetune_steps": -1}, "model.finetune_steps must be >= 0"),
    ],
)
def test_node_config_refuses_bad_model_sections(model: dict[str, object], fragment: str) -> None:
    from p2pfed.config import NodeConfig, build

    doc = {"node": {"id": "a", "key": "k", "roster": "r"}, "model": model}
    with pytest.raises(ConfigError, match=fragment):
        build(NodeConfig, doc)


def test_node_config_accepts_a_cnn_with_personalisation() -> None:
    from p2pfed.config import NodeConfig, build

    doc = {
        "node": {"id": "a", "key": "k", "roster": "r"},
        "model": {"kind": "cnn1d", "channels": [8, 16], "kernel": 3, "personalize": "head", "head_layers": 2},
    }
    cfg = build(NodeConfig, doc)
    assert cfg.model.channels == (8, 16) and cfg.model.personalize == "head" and cfg.model.head_layers == 2


# --- benchmarks/bench_models.py ----------------------------------------------------------------


def test_bench_models_quick_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Smoke test: the benchmark runs and its figures are consistent (never a timing target)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_models.py"
    out = tmp_path / "models.json"
    proc = subprocess.run(
        [sys.executable, str(bench), "--quick", "--data", str(tmp_path / "none"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    mlp, cnn = result["cases"]["mlp 174-64-6"], result["cases"]["cnn1d 6x128"]
    assert (mlp["params"], mlp["macs_per_sample"]) == (11_590, 11_520)
    assert (cnn["params"], cnn["macs_per_sample"]) == (5_590, 227_712)
    for c in (mlp, cnn):
        assert c["train_samples_per_s"]["median"] > 0 and c["plain_torch_samples_per_s"]["median"] > 0
        assert c["message_bytes"] == 4 * c["params"] + c["message_overhead_bytes"] and 0 < c["message_overhead_bytes"] < 1024
        assert c["head_message_bytes"] == c["message_bytes"] - 4 * (c["params"] - c["head_body_params"])
