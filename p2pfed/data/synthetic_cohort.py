"""Who the synthetic users are: validated knobs, population mix, each user's archetype, random streams.

Every draw of the generator comes from ``rng(seed, stream, index, part)``: part 0 a user's
traits, 1 their days, 3 their risk labels' noise, and part 2 (with index 0) the population-level
archetype deal, which depends on (seed, stream) alone.
"""

from __future__ import annotations

import numpy as np

from p2pfed.config import SyntheticConfig
from p2pfed.data.population import ARCHETYPES, TASKS
from p2pfed.errors import DataError

#: Version tag mixed into every seed, so other users of `data.seed` never share these streams.
_TAG = 0x5F17_0001
#: Stream of the users that nodes hold, and the disjoint stream of held-out evaluation users.
NODE_STREAM = 0
HELDOUT_STREAM = 1

MIN_DAYS = 1

#: Step of the low-discrepancy (Weyl) sequence that deals a weighted mix: the golden ratio.
_WEYL = (np.sqrt(5.0) - 1.0) / 2.0


def rng(seed: int, stream: int, index: int, part: int) -> np.random.Generator:
    """The random stream `part` of user `index` of `stream` (see the module doc)."""
    return np.random.default_rng(np.random.SeedSequence([_TAG, seed, stream, index, part]))


def validate(cfg: SyntheticConfig) -> None:
    """Raise DataError for any knob of `cfg` out of its range."""
    if cfg.task not in TASKS:
        raise DataError(
            f"data.synthetic.task must be one of {', '.join(map(repr, TASKS))}, got {cfg.task!r}"
        )
    if not isinstance(cfg.days, int) or isinstance(cfg.days, bool) or cfg.days < MIN_DAYS:
        raise DataError(f"data.synthetic.days must be an integer >= {MIN_DAYS}, got {cfg.days!r}")
    if not 0.0 <= cfg.quantity_skew <= 3.0:
        raise DataError(f"data.synthetic.quantity_skew must be in [0, 3], got {cfg.quantity_skew!r}")
    if not 0.0 <= cfg.label_noise <= 1.0:
        raise DataError(f"data.synthetic.label_noise must be in [0, 1], got {cfg.label_noise!r}")
    if not 0.0 <= cfg.feature_noise <= 10.0:
        raise DataError(f"data.synthetic.feature_noise must be in [0, 10], got {cfg.feature_noise!r}")
    unknown = [a for a in cfg.archetypes if a not in ARCHETYPES]
    if unknown:
        raise DataError(
            f"data.synthetic.archetypes: unknown archetype(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(ARCHETYPES)})"
        )
    mix_weights(cfg)


def check_index(seed: int, index: int) -> None:
    """Raise DataError unless `seed` and the user `index` are non-negative integers."""
    for what, v in (("data.seed", seed), ("user index", index)):
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 0:
            raise DataError(f"{what} must be a non-negative integer, got {v!r}")


def _allowed(cfg: SyntheticConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys(cfg.archetypes)) or tuple(ARCHETYPES)


def mix_weights(cfg: SyntheticConfig) -> dict[str, float] | None:
    """The population mix as {archetype: share} (shares sum to 1), or None for equal shares.

    `cfg.archetype_mix` has one weight per archetype of `cfg.archetypes` (all six, in ARCHETYPES
    order, when that is empty); weights need not sum to 1, and 0 leaves an archetype out. Equal
    weights are the same as no mix (round robin).
    """
    mix = tuple(cfg.archetype_mix)
    if not mix:
        return None
    allowed = _allowed(cfg)
    if cfg.archetypes and len(cfg.archetypes) != len(allowed):
        raise DataError(
            "data.synthetic.archetypes lists an archetype twice; with archetype_mix, list each once"
        )
    if len(mix) != len(allowed):
        raise DataError(
            f"data.synthetic.archetype_mix has {len(mix)} weight(s) but there are {len(allowed)} "
            f"archetypes ({', '.join(allowed)}): give one weight per archetype, in that order"
        )
    bad = [
        w for w in mix if isinstance(w, bool) or not isinstance(w, int | float) or not np.isfinite(w) or w < 0
    ]
    if bad:
        raise DataError(f"data.synthetic.archetype_mix weights must be finite and >= 0, got {bad[0]!r}")
    total = float(sum(mix))
    if total <= 0:
        raise DataError("data.synthetic.archetype_mix: at least one weight must be > 0")
    if max(mix) - min(mix) <= 1e-12 * max(mix):
        return None
    return {a: float(w) / total for a, w in zip(allowed, mix)}


def archetype_of(cfg: SyntheticConfig, seed: int, index: int, stream: int = NODE_STREAM) -> str:
    """The archetype of user `index`, from (cfg, seed, stream, index) alone.

    Equal shares (no `archetype_mix`, and always for the held-out stream): round robin over a
    permutation drawn from (seed, stream), so any len(allowed) consecutive users cover every
    allowed archetype and small federations see the whole population. With a mix, user i gets
    the archetype whose slice of [0, 1) (slices sized by the shares, in the same permuted order)
    holds frac(offset + i * 0.618...), a low-discrepancy (Weyl) sequence: any n consecutive
    users hold each archetype n * share times, give or take about two users (80 % runners: 8 of
    any 10 users +- 1, 40 of any 50 +- 2). The held-out stream deals every archetype with a
    non-zero weight equally, so every archetype is evaluated on the same footing.
    """
    validate(cfg)
    check_index(seed, index)
    allowed = _allowed(cfg)
    mix = mix_weights(cfg)
    if mix is not None and stream == HELDOUT_STREAM:
        allowed, mix = tuple(a for a in allowed if mix[a] > 0), None
    r = rng(int(seed), stream, 0, 2)
    order = r.permutation(len(allowed))
    if mix is None:
        return allowed[int(order[index % len(allowed)])]
    names = [allowed[int(k)] for k in order if mix[allowed[int(k)]] > 0]
    edges = np.cumsum([mix[a] for a in names])
    u = (r.random() + int(index) * _WEYL) % 1.0
    return names[min(int(np.searchsorted(edges, u, side="right")), len(names) - 1)]
