"""The ``[churn]`` table of a simulation spec: `ChurnConfig`, its presets, and `resolve()`.

Models (``churn.model``; each one's process is described in its module)

``none``
    Everyone is online the whole time; there are no events (late joiners aside).
``bernoulli``
    Independent availability per time slot (`p2pfed.sim.churn.bernoulli`). Reads
    ``availability`` and ``slot``.
``markov``
    Two-state on/off sessions with exponential lengths (`p2pfed.sim.churn.markov`). Reads
    ``availability``, ``mean_online`` and ``mean_offline``: give any two of the three; the third
    is derived (`resolve()`).
``diurnal``
    Sessions that follow a daily cycle (`p2pfed.sim.churn.diurnal`). Reads ``availability``,
    ``mean_online``, ``mean_offline`` (two of the three, as for ``markov``), ``day``,
    ``amplitude`` and ``phase_spread``.
``trace``
    Replays a CSV file ``trace`` of online intervals (`p2pfed.sim.churn.trace`). A relative path
    is relative to the spec file's folder (``base_dir``).

For every model:

- ``crash_fraction``: each departure (``up=False`` event) is a crash with this probability
  (volatile state lost; the node restarts from its last checkpoint), else a graceful leave
  (state saved first). Drawn per departure, independently of the session times, so changing
  it never moves a transition.
- ``late_join_fraction`` / ``late_join_window``: each node is, independently with probability
  ``late_join_fraction``, a late joiner: offline from 0 until a join time uniform in
  ``[0, late_join_window]``, when it comes online (an ``up`` event) and then follows the model
  from that moment (a Markov session starts, a Bernoulli node stays up until the next slot
  boundary, a diurnal node waits for its next redraw). Not allowed with ``trace``, which
  already says when each node first appears.
- ``always_online``: these node ids are online the whole time whatever the model (e.g. a
  stable seed node). Every id must be a simulated node.

Presets (``churn.preset``) for the session models. The figures are round, documented choices,
not fits to a particular trace:

``smartphone``
    markov, availability 0.25, mean_online 1800 s (30 min), hence mean_offline 5400 s (90 min):
    about a quarter of the phones are online at any moment and an online session lasts tens of
    minutes, 12 sessions a day on average. This is the usual picture of phones in cross-device
    federated learning, which may only train while idle, charging and on an unmetered network:
    Bonawitz et al., "Towards Federated Learning at Scale: System Design" (SysML 2019), and the
    136k-phone trace of Yang et al., "Characterizing Impacts of Heterogeneity in Federated
    Learning upon Large-Scale Smartphone Data" (WWW 2021). Use ``model = "diurnal"`` with the
    preset to add the daily cycle those studies report.
``laptop``
    markov, availability 0.4, mean_online 7200 s (2 h), hence mean_offline 10800 s (3 h):
    lid-open work sessions of a few hours.
``iot``
    markov, availability 0.95, mean_online 68400 s (19 h), hence mean_offline 3600 s (1 h): a
    mains-powered board (Raspberry Pi, hub) with the odd outage or reboot.

Preset rule (``resolve()``): a preset supplies the model (when ``model`` is left at ``"none"``)
and the session figures you did not set. "Set" means changed from the field's default
(availability 1.0, means 0.0). The three linked quantities availability, mean_online and
mean_offline are completed to two known values, taking yours first, then the preset's
availability, then the preset's mean_online; the third is derived. So ``preset = "smartphone"``
with ``availability = 0.5`` keeps 30-minute sessions (mean_offline becomes 1800 s), and with
``mean_online = 600`` keeps a quarter online (mean_offline becomes 1800 s). ``model =
"diurnal"`` or ``"bernoulli"`` with a preset takes its figures (bernoulli reads only the
availability); a preset with ``"trace"`` is an error.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from p2pfed.errors import ConfigError
from p2pfed.sim.churn.checks import check, check_range, finite

#: Churn models, see the module docstring.
MODELS = ("none", "bernoulli", "markov", "diurnal", "trace")


@dataclass(frozen=True)
class Preset:
    """Named session figures for the markov and diurnal models (mean_offline is derived)."""

    model: str
    availability: float
    mean_online: float  # seconds
    description: str


PRESETS: dict[str, Preset] = {
    "smartphone": Preset("markov", 0.25, 1800.0, "a quarter online, 30-min sessions, 90 min off"),
    "laptop": Preset("markov", 0.4, 7200.0, "40 % online, 2-h sessions, 3 h off"),
    "iot": Preset("markov", 0.95, 68400.0, "95 % online, 19 h up, 1-h outages"),
}


@dataclass(frozen=True)
class ChurnConfig:
    """The ``[churn]`` table of a simulation spec: which churn model, and its figures."""

    model: str = "none"  # none | bernoulli | markov | diurnal | trace
    preset: str = ""  # smartphone | laptop | iot: session figures (see the module docstring)
    availability: float = 1.0  # long-run P(online); bernoulli: P(online) per node per slot
    slot: float = 60.0  # bernoulli: slot length (s)
    mean_online: float = 0.0  # markov/diurnal: mean online session (s); 0 = derive it
    mean_offline: float = 0.0  # markov/diurnal: mean offline spell (s); 0 = derive it
    day: float = 86400.0  # diurnal: cycle length (s)
    amplitude: float = 1.0  # diurnal: daily swing, as a share of the largest feasible one
    phase_spread: float = 1.0  # diurnal: node peaks spread over this share of the day (0 = one zone)
    trace: str = ""  # trace: CSV path, header node,start,end (relative: to the spec file)
    crash_fraction: float = 1.0  # share of departures that are crashes (else graceful leaves)
    late_join_fraction: float = 0.0  # P(a node joins late, at a uniform time in the window)
    late_join_window: float = 0.0  # seconds
    always_online: tuple[str, ...] = ()  # node ids exempt from churn (e.g. a stable seed node)

    def __post_init__(self) -> None:
        check(
            self.model in MODELS,
            f"churn.model {self.model!r} is unknown; choose one of {', '.join(MODELS)}",
        )
        check(
            self.preset == "" or self.preset in PRESETS,
            f"churn.preset {self.preset!r} is unknown; choose one of {', '.join(PRESETS)} (or leave it out)",
        )
        check_range("availability", self.availability, 0.0, 1.0)
        check(finite(self.slot) and self.slot > 0, f"churn.slot must be > 0 seconds, got {self.slot!r}")
        for name in ("mean_online", "mean_offline"):
            value = getattr(self, name)
            check(
                finite(value) and value >= 0,
                f"churn.{name} must be >= 0 seconds (0 = derive it), got {value!r}",
            )
        check(finite(self.day) and self.day > 0, f"churn.day must be > 0 seconds, got {self.day!r}")
        check_range("amplitude", self.amplitude, 0.0, 1.0)
        check_range("phase_spread", self.phase_spread, 0.0, 1.0)
        check_range("crash_fraction", self.crash_fraction, 0.0, 1.0)
        check_range("late_join_fraction", self.late_join_fraction, 0.0, 1.0)
        check(
            finite(self.late_join_window) and self.late_join_window >= 0,
            f"churn.late_join_window must be >= 0 seconds, got {self.late_join_window!r}",
        )
        check(
            self.late_join_fraction == 0 or self.late_join_window > 0,
            "churn.late_join_fraction > 0 needs churn.late_join_window > 0 (joins are uniform in "
            "[0, late_join_window] seconds)",
        )
        check(
            not (self.model == "trace" and self.late_join_fraction > 0),
            "churn.late_join_fraction cannot be used with model 'trace': the trace already says "
            "when each node first comes online",
        )
        check(
            not (self.model == "trace" and self.preset),
            f"churn.preset {self.preset!r} does not apply to model 'trace', which replays its file as is",
        )
        check(
            self.model != "trace" or self.trace != "",
            "churn.model 'trace' needs churn.trace, the path of a CSV file with header node,start,end",
        )
        check(
            self.trace == "" or self.model == "trace",
            f"churn.trace is set but churn.model is {self.model!r}; set model = 'trace' to replay it",
        )
        check(
            all(isinstance(n, str) and n for n in self.always_online),
            "churn.always_online must list non-empty node ids",
        )
        dup = sorted({n for n in self.always_online if self.always_online.count(n) > 1})
        check(not dup, f"churn.always_online lists these ids more than once: {', '.join(dup)}")
        _resolved_fields(self)  # raises ConfigError if the session figures do not add up


def resolve(cfg: ChurnConfig) -> ChurnConfig:
    """`cfg` with its preset applied and the derived session figures filled in.

    The result has ``preset = ""`` and, for markov and diurnal, all three of availability,
    mean_online and mean_offline explicit and consistent. Fields you set win over the preset's
    (see "Preset rule" in the module docstring). Resolving twice changes nothing.
    """
    return dataclasses.replace(cfg, **_resolved_fields(cfg))


def _resolved_fields(cfg: ChurnConfig) -> dict[str, object]:
    model, p, a, b = cfg.model, cfg.availability, cfg.mean_online, cfg.mean_offline
    preset = PRESETS.get(cfg.preset)
    via = f" (with preset {cfg.preset!r})" if preset else ""
    if preset is not None and model == "none":
        model = preset.model
    if preset is not None and model == "bernoulli" and p == 1.0:
        p = preset.availability
    if model in ("markov", "diurnal"):
        p_set, a_set, b_set = p != 1.0, a > 0, b > 0
        if preset is not None:
            if p_set + a_set + b_set < 2 and not p_set:
                p, p_set = preset.availability, True
            if p_set + a_set + b_set < 2 and not a_set:
                a, a_set = preset.mean_online, True
        if a_set and b_set:
            derived = a / (a + b)
            if p_set and not math.isclose(p, derived, rel_tol=1e-6, abs_tol=1e-12):
                raise ConfigError(
                    f"churn.availability = {p:g} contradicts mean_online / (mean_online + mean_offline)"
                    f" = {a:g} / ({a:g} + {b:g}) = {derived:.6g}{via}; give only two of the three"
                )
            p = derived if not p_set else p
        elif a_set or b_set:
            given, other = ("mean_online", "mean_offline") if a_set else ("mean_offline", "mean_online")
            if not 0 < p < 1:
                raise ConfigError(
                    f"churn.model {model!r} with only churn.{given} needs churn.availability strictly "
                    f"between 0 and 1 to derive churn.{other}, got {p:g}{via}"
                )
            if a_set:
                b = a * (1 - p) / p
            else:
                a = b * p / (1 - p)
        else:
            raise ConfigError(
                f"churn.model {model!r} needs session lengths: set two of availability, mean_online "
                "and mean_offline (e.g. availability = 0.25 and mean_online = 1800), or a preset "
                f"({', '.join(PRESETS)})"
            )
    return {"preset": "", "model": model, "availability": p, "mean_online": a, "mean_offline": b}
