"""Tests of p2pfed.models: building, deterministic initialisation, manifests and arch strings."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.models import KNOWN_KINDS, arch_string, build_model, manifest_of

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
    with pytest.raises(ConfigError, match=r"unknown model.kind 'transformer' \(known kinds: mlp\)"):
        build_model(replace(CFG, kind="transformer"), (24,), 4)
    with pytest.raises(ConfigError, match="known kinds"):
        arch_string(replace(CFG, kind="cnn"), (24,), 4)
    assert "mlp" in KNOWN_KINDS


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
