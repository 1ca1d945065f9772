"""Label the synthetic days per task: activity level from the load, risk class from a score, label noise."""

from __future__ import annotations

import numpy as np

from p2pfed.config import SyntheticConfig
from p2pfed.data.population import (
    LABEL_NAMES,
    LOAD_THRESHOLDS,
    N_CLASSES,
    N_RISK_CLASSES,
    RISK,
    RISK_LABEL_NAMES,
)
from p2pfed.data.synthetic_days import Days, Person, Physiology, ewma_before


def label_names(cfg: SyntheticConfig) -> tuple[str, ...]:
    """Class names of the labels `cfg.task` asks for."""
    return RISK_LABEL_NAMES if cfg.task == "risk" else LABEL_NAMES


def n_classes(cfg: SyntheticConfig) -> int:
    """Number of classes of the labels `cfg.task` asks for."""
    return len(label_names(cfg))


def activity_labels(load: np.ndarray, noise: float, r: np.random.Generator) -> np.ndarray:
    """Each day's activity level 0..N_CLASSES-1 from its load (LOAD_THRESHOLDS), `noise` of them
    moved to a neighbouring level by `r`."""
    y_true = np.searchsorted(np.asarray(LOAD_THRESHOLDS), load, side="right")
    return flip_labels(y_true, noise, r, N_CLASSES)


def risk_score(p: Person, d: Days, b: Physiology) -> np.ndarray:
    """Each day's health-risk score (see RiskModel): chronic + habitual + acute parts."""
    m = RISK
    chronic = (
        m.age * (p.age - m.age_ref)
        + m.weight * np.log(p.weight / 75.0)
        + m.fitness * (m.vo2_ref - p.vo2)
        + m.rhr * (p.rhr - m.rhr_ref)
    )
    mean_load = float(d.load.mean())
    past = ewma_before(d.load, mean_load, m.habit_memory)  # the past weeks, not today
    habit = m.habit * np.log(m.load_ref / np.maximum(past, 1.0))
    acute = (
        m.rhr_up * (b.rhr - p.rhr)
        + m.hrv_down * np.log(p.hrv / b.hrv)
        + m.short_sleep * np.maximum(m.sleep_ref - b.sleep, 0.0)
        + m.poor_sleep * np.maximum(m.eff_ref - b.eff, 0.0)
    )
    return chronic + habit + acute


def risk_labels(score: np.ndarray, noise: float, r: np.random.Generator) -> np.ndarray:
    """Each day's risk class 0..N_RISK_CLASSES-1 from its score (RISK.thresholds), `noise` of them
    moved to a neighbouring class by `r`."""
    risk_true = np.searchsorted(np.asarray(RISK.thresholds), score, side="right")
    return flip_labels(risk_true, noise, r, N_RISK_CLASSES)


def flip_labels(y: np.ndarray, rate: float, r: np.random.Generator, n_classes: int) -> np.ndarray:
    """Move a `rate` fraction of labels one class up or down (reflected at the ends)."""
    n = y.shape[0]
    flip = r.random(n) < rate
    step = np.where(r.random(n) < 0.5, -1, 1)
    out = y + np.where(flip, step, 0)
    out = np.where(out < 0, 1, out)
    out = np.where(out >= n_classes, n_classes - 2, out)
    return out.astype(np.int64)
