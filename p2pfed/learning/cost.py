"""What one forward pass of a model costs in multiply-accumulates per sample (for simulated device timing)."""

from __future__ import annotations

import numpy as np

from p2pfed.config import ModelConfig
from p2pfed.types import LocalData, Manifest


def macs_per_sample(cfg: ModelConfig, data: LocalData, manifest: Manifest) -> float:
    """Multiply-accumulates of one forward pass.

    An MLP's are the sizes of its weight matrices (computed here, so a numpy-only simulation
    never imports torch); other kinds ask `p2pfed.learning.models.describe_model`.
    """
    if cfg.kind == "mlp":
        return float(sum(int(np.prod(s)) for s in manifest.shapes if len(s) == 2))
    from p2pfed.learning.models import describe_model

    return float(describe_model(cfg, data.input_shape, data.n_classes).macs)
