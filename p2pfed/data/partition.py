"""Partitioners: pure, seeded functions that divide a dataset's rows into nodes (row-index arrays).

Every function returns one ascending int64 array of row indices per node; the arrays are
disjoint and together cover every row they were given. The same arguments always give the same
partition, so every node can compute the whole partition and keep its own part.

- ``by_person``: the natural split, one node per person (subject).
- ``person_across_devices``: each person's rows spread over ``devices`` nodes (a phone, a watch,
  ...): contiguous stretches in recording order (``order="time"``: each device saw a different
  period) or a random deal (``order="shuffle"``: every device sees the person's whole mix).
- ``dirichlet_labels``: label skew over a pooled set of rows, as in Hsu, Qi and Brown 2019
  ("Measuring the effects of non-identical data distribution for federated visual
  classification"): node i's label mix is ``q_i ~ Dirichlet(alpha * p)``, with ``p`` the pooled
  label shares, and nodes have equal sizes (``n // nodes`` or one more), so every node has at
  least ``min_rows`` rows whenever ``n // nodes >= min_rows`` (checked up front; no resampling
  is needed). A finite pool cannot serve every mix exactly, so the nodes' wanted counts
  ``size_i * q_i`` are fitted jointly to the class totals (iterative proportional fitting:
  a class in demand is shared among the nodes that want it most) and rounded to whole rows
  with error diffusion; drawing nodes one by one instead would leave the last nodes with
  whatever classes remain. alpha is the total concentration: 0.1 leaves almost every node
  with one or two labels, 100 is close to IID. (The per-class variant of Yurochkin et al. 2019 /
  NIID-Bench, which splits each class over the nodes by Dirichlet(alpha), leaves most of 50
  nodes empty at alpha = 0.1 and needs endless resampling to give each node ``min_rows``.)
- ``quantity_skew``: IID rows (shuffled, so every node sees the pooled label mix), with node
  sizes ``min_rows + (n - nodes * min_rows) * w_i / sum(w)``, ``w_i ~ LogNormal(0, sigma)``
  (largest remainders round to whole rows); sigma = 0 gives equal sizes.
"""

from __future__ import annotations

import logging

import numpy as np

from p2pfed.errors import DataError

log = logging.getLogger(__name__)

SCHEMES = ("person", "devices", "dirichlet", "quantity")
ORDERS = ("time", "shuffle")
_TAG = 0x5F17_0003


def _rng(seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([_TAG, int(seed), *words]))


def _int(name: str, v: object, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
        raise DataError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def _person_key(person: int) -> int:
    p = int(person)
    return 2 * p if p >= 0 else -2 * p - 1


def by_person(subject: np.ndarray) -> list[np.ndarray]:
    """One node per distinct subject id, in ascending id order; each node's rows in row order."""
    subject = np.asarray(subject)
    return [np.flatnonzero(subject == s) for s in np.unique(subject)]


def person_across_devices(
    subject: np.ndarray, devices: int, order: str = "time", seed: int = 0
) -> list[np.ndarray]:
    """Each subject's rows split into `devices` near-equal parts, one node each.

    Nodes are numbered person-major: node ``p * devices + j`` is device j of the p-th subject
    (ascending ids). "time": device j gets the j-th contiguous stretch of the person's rows in
    row (recording) order; "shuffle": a random deal drawn from (seed, subject), so a person's
    devices do not depend on anyone else's rows. Every subject needs >= `devices` rows.
    """
    devices = _int("data.partition.devices", devices, 1)
    if order not in ORDERS:
        raise DataError(f"data.partition.order must be one of {', '.join(map(repr, ORDERS))}, got {order!r}")
    _int("data.partition.seed", seed, 0)
    out: list[np.ndarray] = []
    for rows, s in zip(by_person(subject), np.unique(np.asarray(subject))):
        if len(rows) < devices:
            raise DataError(
                f"subject {int(s)} has {len(rows)} row(s), fewer than data.partition.devices = {devices}"
            )
        if order == "shuffle":
            rows = _rng(seed, 1, _person_key(int(s))).permutation(rows)
        out.extend(np.sort(part) for part in np.array_split(rows, devices))
    return out


def dirichlet_labels(
    y: np.ndarray, nodes: int, alpha: float, seed: int = 0, min_rows: int = 10
) -> list[np.ndarray]:
    """Label-skewed partition of the rows with labels `y` into `nodes` nodes (see module doc)."""
    y = np.asarray(y)
    n = int(y.shape[0])
    nodes = _int("data.partition.nodes", nodes, 1)
    min_rows = _int("data.partition.min_rows", min_rows, 0)
    _int("data.partition.seed", seed, 0)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not np.isfinite(alpha) or alpha <= 0:
        raise DataError(f"data.partition.alpha must be a number > 0, got {alpha!r}")
    _feasible(n, nodes, min_rows)
    if n == 0:
        return [np.zeros(0, np.int64) for _ in range(nodes)]
    rng = _rng(seed, 2)
    classes, counts = np.unique(y, return_counts=True)
    sizes = np.full(nodes, n // nodes, np.int64)
    sizes[rng.permutation(nodes)[: n % nodes]] += 1
    q = rng.dirichlet(np.full(len(classes), float(alpha)) * counts / n, size=nodes)
    bad = ~np.isfinite(q).all(axis=1) | (q.sum(axis=1) <= 0)
    if bad.any():  # underflow at tiny alpha: such a node holds one class
        q[bad] = np.eye(len(classes))[rng.choice(len(classes), int(bad.sum()), p=counts / n)]
    want = _fit(sizes[:, None] * (q + 1e-9), sizes, counts)
    table = _round(want, sizes, counts, rng)
    parts: list[list[np.ndarray]] = [[] for _ in range(nodes)]
    for k, c in enumerate(classes):
        rows = rng.permutation(np.flatnonzero(y == c))
        for i, chunk in enumerate(np.split(rows, np.cumsum(table[:, k])[:-1])):
            parts[i].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def _fit(a: np.ndarray, rows: np.ndarray, cols: np.ndarray, iters: int = 5000) -> np.ndarray:
    """Iterative proportional fitting: scale the rows and columns of the positive matrix `a`
    until its row sums are `rows` and its column sums `cols` (both with the same total)."""
    out = np.zeros(a.shape)
    live = rows > 0  # empty nodes (fewer rows than nodes) want nothing
    a = a[live].astype(np.float64)
    for _ in range(iters):
        a *= (cols / a.sum(axis=0))[None, :]
        a *= (rows[live] / a.sum(axis=1))[:, None]
        if np.abs(a.sum(axis=0) - cols).max() < 1e-6 * max(1.0, float(cols.max())):
            break
    out[live] = a
    return out


def _round(want: np.ndarray, rows: np.ndarray, cols: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whole-row table with row sums `rows` and column sums `cols`, close to the real `want`.

    Nodes are rounded one after another (in a random order), each against the columns' rounding
    error so far (error diffusion), so no column drifts and the last node's mix stays close to
    its `want` row.
    """
    out = np.zeros(want.shape, np.int64)
    left = cols.astype(np.int64).copy()
    err = np.zeros(want.shape[1])
    order = rng.permutation(want.shape[0])
    for step, i in enumerate(order):
        m = int(rows[i])
        if step == len(order) - 1:
            got = left.copy()
        elif m == 0:
            got = np.zeros_like(left)
        else:
            w = np.maximum(want[i] - err, 0.0)
            w = w / w.sum() if w.sum() > 0 else left / left.sum()
            got = np.minimum(_apportion(m, w, rng), left)
            while got.sum() < m:  # a class ran out: the rest from the class it wants most
                room = left - got
                got[int(np.argmax(np.where(room > 0, w + 1e-12, -1.0)))] += 1
        out[i] = got
        left -= got
        err += got - want[i]
    return out


def quantity_skew(
    n_rows: int, nodes: int, sigma: float, seed: int = 0, min_rows: int = 10
) -> list[np.ndarray]:
    """IID rows 0..n_rows-1 dealt to `nodes` nodes of lognormally skewed sizes (see module doc)."""
    n = _int("number of rows", n_rows, 0)
    nodes = _int("data.partition.nodes", nodes, 1)
    min_rows = _int("data.partition.min_rows", min_rows, 0)
    _int("data.partition.seed", seed, 0)
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not 0 <= sigma <= 5:
        raise DataError(f"data.partition.sigma must be a number in [0, 5], got {sigma!r}")
    _feasible(n, nodes, min_rows)
    rng = _rng(seed, 3)
    w = rng.lognormal(0.0, float(sigma), nodes) if sigma > 0 else np.ones(nodes)
    sizes = min_rows + _apportion(n - nodes * min_rows, w / w.sum(), rng)
    rows = rng.permutation(n)
    return [np.sort(part) for part in np.split(rows, np.cumsum(sizes)[:-1])]


def _apportion(total: int, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whole numbers summing to `total`, proportional to `shares` (largest remainders first)."""
    quota = shares * total
    out = np.floor(quota).astype(np.int64)
    rest = total - int(out.sum())
    if rest > 0:
        order = np.lexsort((rng.random(len(shares)), -(quota - out)))
        out[order[:rest]] += 1
    return out


def _feasible(n: int, nodes: int, min_rows: int) -> None:
    if nodes * min_rows > n:
        raise DataError(
            f"data.partition: {n} rows cannot give {nodes} nodes at least {min_rows} rows each "
            f"(needs {nodes * min_rows}); use fewer nodes or a smaller min_rows"
        )


def dominant_label(y: np.ndarray) -> int:
    """The most frequent label of a node's rows (the smallest one on ties)."""
    y = np.asarray(y)
    if y.size == 0:
        raise DataError("a node with no rows has no dominant label")
    return int(np.argmax(np.bincount(y)))
