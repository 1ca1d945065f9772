"""Churn models of the virtual-time simulator: seeded schedules of nodes going online and offline."""

from p2pfed.sim.churn.config import MODELS, PRESETS, ChurnConfig, Preset, resolve
from p2pfed.sim.churn.draw import schedule
from p2pfed.sim.churn.timeline import Event, Schedule
from p2pfed.sim.churn.trace import TRACE_HEADER, format_trace, read_trace

__all__ = [
    "MODELS",
    "PRESETS",
    "TRACE_HEADER",
    "ChurnConfig",
    "Event",
    "Preset",
    "Schedule",
    "format_trace",
    "read_trace",
    "resolve",
    "schedule",
]
