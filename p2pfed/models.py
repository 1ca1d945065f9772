"""Model zoo: build a torch model from ModelConfig with a deterministic, portable initialisation."""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.types import PARAM_DTYPE, Manifest

log = logging.getLogger(__name__)

#: Bump when the layer layout or initialisation of a kind changes meaning; part of the schema.
ARCH_VERSION = 1


def _shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in shape)


def _check_common(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> None:
    if not input_shape or any(int(d) <= 0 for d in input_shape):
        raise ConfigError(f"model input shape must be non-empty with positive sizes, got {input_shape}")
    if n_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got n_classes={n_classes}")
    if any(int(h) <= 0 for h in cfg.hidden):
        raise ConfigError(f"model.hidden sizes must all be positive, got {list(cfg.hidden)}")


# ---------------------------------------------------------------------------------------------
# Kinds: each has a builder and an arch string. Add "cnn1d" here (input_shape = (channels, t)).
# ---------------------------------------------------------------------------------------------


def _mlp(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Flatten, then Linear+ReLU per hidden size, then a linear output layer (logits)."""
    n_in = int(np.prod(input_shape))
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = n_in
    for i, h in enumerate(cfg.hidden, start=1):
        layers[f"fc{i}"] = nn.utils.skip_init(nn.Linear, width, int(h))
        layers[f"relu{i}"] = nn.ReLU()
        width = int(h)
    layers["out"] = nn.utils.skip_init(nn.Linear, width, n_classes)
    return nn.Sequential(layers)


def _mlp_arch(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> str:
    hidden = ",".join(str(int(h)) for h in cfg.hidden)
    shape = _shape_str(input_shape)
    return f"mlp/v{ARCH_VERSION}(in={shape};hidden=[{hidden}];act=relu;out={n_classes})"


_KINDS: dict[str, tuple[Callable[..., nn.Module], Callable[..., str]]] = {
    "mlp": (_mlp, _mlp_arch),
}

#: Model kinds `build_model` knows.
KNOWN_KINDS: tuple[str, ...] = tuple(_KINDS)


def _kind(cfg: ModelConfig) -> tuple[Callable[..., nn.Module], Callable[..., str]]:
    try:
        return _KINDS[cfg.kind]
    except KeyError:
        raise ConfigError(
            f"unknown model.kind {cfg.kind!r} (known kinds: {', '.join(KNOWN_KINDS)})"
        ) from None


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Build the model `cfg` describes, initialised from `cfg.init_seed` alone.

    The initial weights are drawn with numpy's PCG64 (not torch's RNG), so they are bit-identical
    in every process and on every platform for the same config and shapes, and the global torch
    RNG state is left untouched.
    """
    builder, _ = _kind(cfg)
    input_shape = tuple(int(d) for d in input_shape)
    _check_common(cfg, input_shape, n_classes)
    model = builder(cfg, input_shape, n_classes)
    init_parameters(model, cfg.init_seed)
    return model


def arch_string(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> str:
    """Human-readable architecture description; part of the schema hash of the manifest."""
    _, arch = _kind(cfg)
    input_shape = tuple(int(d) for d in input_shape)
    _check_common(cfg, input_shape, n_classes)
    return arch(cfg, input_shape, n_classes)


def manifest_of(model: nn.Module, arch: str) -> Manifest:
    """Manifest (names, shapes in `model.parameters()` order, dtype "<f4") of a float32 model."""
    names, shapes = [], []
    for name, p in model.named_parameters():
        if p.dtype != torch.float32:
            raise ValueError(f"parameter {name} is {p.dtype}; p2pfed models must be float32")
        names.append(name)
        shapes.append(tuple(int(d) for d in p.shape))
    return Manifest(names=tuple(names), shapes=tuple(shapes), arch=arch, dtype=PARAM_DTYPE.str)


def init_parameters(model: nn.Module, seed: int) -> None:
    """(Re)initialise every Linear/Conv layer like torch's default, from a numpy PCG64 stream.

    Weights and biases are uniform in +-1/sqrt(fan_in) (torch's kaiming_uniform(a=sqrt(5))
    default), drawn in float64 and rounded to float32 in module order.
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(_entropy(seed))))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear | nn.Conv1d):
                w = module.weight
                fan_in = int(np.prod(w.shape[1:]))
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                w.copy_(_uniform(rng, bound, tuple(w.shape)))
                if module.bias is not None:
                    module.bias.copy_(_uniform(rng, bound, tuple(module.bias.shape)))
            elif any(True for _ in module.parameters(recurse=False)):
                raise ConfigError(f"no deterministic initialisation for layer {type(module).__name__}")


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(-bound, bound, size=shape).astype(np.float32))


def _entropy(seed: int) -> int:
    """Map any Python int (negative too) to the non-negative entropy SeedSequence wants."""
    return int(seed) % (1 << 64)
