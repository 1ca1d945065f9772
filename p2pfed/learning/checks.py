"""ModelConfig checks the learners and the model zoo share (torch-free): one set of error messages."""

from __future__ import annotations

import math

from p2pfed.config import ModelConfig
from p2pfed.errors import ConfigError


def check_optimiser(cfg: ModelConfig) -> None:
    """ConfigError unless the batch size, learning rate, momentum and weight decay are usable."""
    if isinstance(cfg.batch_size, bool) or not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ConfigError(f"model.batch_size must be a positive integer, got {cfg.batch_size!r}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ConfigError(f"model.lr must be a positive number, got {cfg.lr!r}")
    if not 0 <= cfg.momentum < 1:
        raise ConfigError(f"model.momentum must be in [0, 1), got {cfg.momentum!r}")
    if not (math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0):
        raise ConfigError(f"model.weight_decay must be >= 0, got {cfg.weight_decay!r}")


def check_shapes(cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> None:
    """ConfigError unless the input shape, the class count and the hidden sizes can make a model."""
    if not input_shape or any(int(d) <= 0 for d in input_shape):
        raise ConfigError(f"model input shape must be non-empty with positive sizes, got {input_shape}")
    if n_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got n_classes={n_classes}")
    if any(int(h) <= 0 for h in cfg.hidden):
        raise ConfigError(f"model.hidden sizes must all be positive, got {list(cfg.hidden)}")
