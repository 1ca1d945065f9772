"""Model zoo (mlp, cnn1d): build a torch model from ModelConfig with a deterministic init; size and MACs."""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError
from p2pfed.learning.checks import check_shapes
from p2pfed.types import PARAM_DTYPE, Manifest

log = logging.getLogger(__name__)

#: Bump when the layer layout or initialisation of a kind changes meaning; part of the schema.
ARCH_VERSION = 1  # "mlp" (p2pfed.learning.numpy_mlp mirrors it)
CNN_ARCH_VERSION = 1  # "cnn1d"


def _shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in shape)


def _check_cnn(cfg: ModelConfig, input_shape: tuple[int, ...]) -> None:
    if len(input_shape) != 2:
        raise ConfigError(
            f"model.kind 'cnn1d' needs raw windows of shape (channels, time), got samples of shape "
            f"{input_shape}; use data.x_key = \"X_raw\" (or an npz with (n, channels, time) inputs), "
            "or model.kind = 'mlp' for feature vectors"
        )
    if not cfg.channels or any(int(c) <= 0 for c in cfg.channels):
        raise ConfigError(f"model.channels must be a non-empty list of positive sizes, got {list(cfg.channels)}")
    if int(cfg.kernel) < 1:
        raise ConfigError(f"model.kernel must be >= 1, got {cfg.kernel}")
    if int(cfg.pool) < 1:
        raise ConfigError(f"model.pool must be >= 1 (1 = no pooling), got {cfg.pool}")
    if _cnn_min_length(cfg, input_shape[1]) < 1:
        raise ConfigError(
            f"windows of {input_shape[1]} time steps are too short for {len(cfg.channels)} conv layers "
            f"with kernel {cfg.kernel} and pooling {cfg.pool}; use fewer model.channels, a smaller "
            "model.kernel or model.pool"
        )


def _hidden_layers(layers: OrderedDict[str, nn.Module], cfg: ModelConfig, width: int, n_classes: int) -> None:
    """Append Linear+ReLU per hidden size, then the output layer `out` (logits)."""
    for i, h in enumerate(cfg.hidden, start=1):
        layers[f"fc{i}"] = nn.utils.skip_init(nn.Linear, width, int(h))
        layers[f"relu{i}"] = nn.ReLU()
        width = int(h)
    layers["out"] = nn.utils.skip_init(nn.Linear, width, n_classes)


# ---------------------------------------------------------------------------------------------
# Kinds: each has a builder and an arch string.
# ---------------------------------------------------------------------------------------------


def _mlp(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Flatten, then Linear+ReLU per hidden size, then a linear output layer (logits)."""
    n_in = int(np.prod(input_shape))
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    _hidden_layers(layers, cfg, n_in, n_classes)
    return nn.Sequential(layers)


def _mlp_arch(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> str:
    hidden = ",".join(str(int(h)) for h in cfg.hidden)
    shape = _shape_str(input_shape)
    return f"mlp/v{ARCH_VERSION}(in={shape};hidden=[{hidden}];act=relu;out={n_classes})"


def _padding(kernel: int) -> int:
    return (int(kernel) - 1) // 2


def _cnn_min_length(cfg: ModelConfig, length: int) -> int:
    """Shortest time length the window reaches in the conv stack (each conv, each pooling)."""
    k, pool, shortest = int(cfg.kernel), int(cfg.pool), length
    for i in range(len(cfg.channels)):
        length = length + 2 * _padding(k) - k + 1
        shortest = min(shortest, length)
        if i < len(cfg.channels) - 1 and pool > 1:
            length //= pool
            shortest = min(shortest, length)
    return shortest


def _cnn1d(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Conv1d+ReLU per `channels` entry (max-pool `pool` between them), global average pooling
    over time, then Linear+ReLU per hidden size and the linear output layer `out`.

    Input: (channels, time) windows.  Layers are `conv1..convK`, `fc1..fcH` and `out`.
    """
    _check_cnn(cfg, input_shape)
    c_in = int(input_shape[0])
    k, pad = int(cfg.kernel), _padding(cfg.kernel)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    last = len(cfg.channels)
    for i, c in enumerate(cfg.channels, start=1):
        layers[f"conv{i}"] = nn.utils.skip_init(nn.Conv1d, c_in, int(c), k, padding=pad)
        layers[f"crelu{i}"] = nn.ReLU()
        if i < last and int(cfg.pool) > 1:
            layers[f"pool{i}"] = nn.MaxPool1d(int(cfg.pool))
        c_in = int(c)
    layers["gap"] = nn.AdaptiveAvgPool1d(1)
    layers["flatten"] = nn.Flatten()
    _hidden_layers(layers, cfg, c_in, n_classes)
    return nn.Sequential(layers)


def _cnn1d_arch(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> str:
    _check_cnn(cfg, input_shape)
    channels = ",".join(str(int(c)) for c in cfg.channels)
    hidden = ",".join(str(int(h)) for h in cfg.hidden)
    return (
        f"cnn1d/v{CNN_ARCH_VERSION}(in={_shape_str(input_shape)};channels=[{channels}];"
        f"kernel={int(cfg.kernel)};pad={_padding(cfg.kernel)};pool=max{int(cfg.pool)};gap=avg;"
        f"hidden=[{hidden}];act=relu;out={n_classes})"
    )


_KINDS: dict[str, tuple[Callable[..., nn.Module], Callable[..., str]]] = {
    "mlp": (_mlp, _mlp_arch),
    "cnn1d": (_cnn1d, _cnn1d_arch),
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
    check_shapes(cfg, input_shape, n_classes)
    model = builder(cfg, input_shape, n_classes)
    init_parameters(model, cfg.init_seed)
    return model


def arch_string(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> str:
    """Human-readable architecture description; part of the schema hash of the manifest."""
    _, arch = _kind(cfg)
    input_shape = tuple(int(d) for d in input_shape)
    check_shapes(cfg, input_shape, n_classes)
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


# ---------------------------------------------------------------------------------------------
# Size and cost
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """Size and cost of a model: what a phone or a Raspberry Pi has to hold and compute."""

    params: int  # scalar parameters (float32 each, so 4 * params bytes on the wire)
    macs: int  # multiply-accumulates of one forward pass of one sample (Linear and Conv1d)
    arch: str
    #: (layer name, parameters, MACs per sample) of every layer with parameters, in order
    layers: tuple[tuple[str, int, int], ...] = ()

    @property
    def nbytes(self) -> int:
        """Bytes of the float32 parameter vector (a keyframe's payload)."""
        return 4 * self.params


def describe_model(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> ModelInfo:
    """Parameter count and MACs per sample of the model `cfg` describes, computed analytically.

    MACs count the multiply-accumulates of Linear (in x out) and Conv1d (out channels x in
    channels / groups x kernel x output length) layers; bias additions, activations and pooling
    are not counted (the usual convention, they are a small fraction).
    """
    model = build_model(cfg, input_shape, n_classes)
    shape = tuple(int(d) for d in input_shape)
    layers: list[tuple[str, int, int]] = []
    for name, module in model.named_children():
        shape, macs = _propagate(module, shape, name)
        n = sum(p.numel() for p in module.parameters())
        if n:
            layers.append((name, int(n), int(macs)))
    if shape != (n_classes,):  # pragma: no cover - guards the builders against drift
        raise AssertionError(f"model output shape {shape} is not ({n_classes},)")
    return ModelInfo(
        params=sum(p.numel() for p in model.parameters()),
        macs=sum(m for _, _, m in layers),
        arch=arch_string(cfg, input_shape, n_classes),
        layers=tuple(layers),
    )


def _out_len(length: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _one(v: int | tuple[int, ...]) -> int:
    return int(v[0] if isinstance(v, tuple) else v)


def _propagate(module: nn.Module, shape: tuple[int, ...], name: str) -> tuple[tuple[int, ...], int]:
    """Per-sample output shape of `module` for input `shape`, and its MACs."""
    if isinstance(module, nn.Flatten):
        return (int(np.prod(shape)),), 0
    if isinstance(module, nn.ReLU):
        return shape, 0
    if isinstance(module, nn.Linear):
        if shape != (module.in_features,):
            raise ValueError(f"layer {name}: Linear({module.in_features}) gets input of shape {shape}")
        return (module.out_features,), module.in_features * module.out_features
    if isinstance(module, nn.Conv1d):
        c, length = shape
        if c != module.in_channels:
            raise ValueError(f"layer {name}: Conv1d({module.in_channels}) gets {c} channels")
        k, s, d = _one(module.kernel_size), _one(module.stride), _one(module.dilation)
        out = _out_len(length, k, s, _one(module.padding), d)  # type: ignore[arg-type]
        macs = module.out_channels * (module.in_channels // module.groups) * k * out
        return (module.out_channels, out), macs
    if isinstance(module, nn.MaxPool1d):
        c, length = shape
        k = _one(module.kernel_size)
        s = _one(module.stride) if module.stride is not None else k
        return (c, _out_len(length, k, s, _one(module.padding), _one(module.dilation))), 0
    if isinstance(module, nn.AdaptiveAvgPool1d):
        return (shape[0], _one(module.output_size)), 0  # type: ignore[arg-type]
    raise ValueError(f"layer {name}: cannot size a {type(module).__name__}")
