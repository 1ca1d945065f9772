"""Tests of p2pfed.learning.batches.BatchStream: the seeded, resumable minibatch index stream."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfed.learning.batches import BatchStream, seed_word


def reference(n: int, bs: int, train_seed: int, seed: int, start: int, count: int) -> list[np.ndarray]:
    """The stream's definition written out: slices of concatenated per-epoch permutations."""
    bs = min(bs, n)
    end = start + count * bs
    epochs = range(start // n, end // n + 1)
    words = [seed_word(train_seed), seed_word(seed)]
    stream = np.concatenate([np.random.default_rng([*words, e]).permutation(n) for e in epochs])
    base = (start // n) * n
    return [stream[start - base + i * bs : start - base + (i + 1) * bs] for i in range(count)]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 50),
    bs=st.integers(1, 70),
    train_seed=st.integers(-(2**70), 2**70),
    seed=st.integers(-5, 2**64 + 5),
    start=st.integers(0, 300),
    count=st.integers(0, 12),
)
def test_stream_matches_its_definition_from_any_position(
    n: int, bs: int, train_seed: int, seed: int, start: int, count: int
) -> None:
    s = BatchStream(n, bs, train_seed, seed)
    s.samples_drawn = start
    got = [s.next_batch().copy() for _ in range(count)]
    want = reference(n, bs, train_seed, seed, start, count)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, w)
    assert s.samples_drawn == start + count * min(bs, n)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 50), split=st.integers(0, 10), more=st.integers(0, 10))
def test_resuming_at_samples_drawn_continues_the_same_stream(n: int, bs: int, split: int, more: int) -> None:
    whole = BatchStream(n, bs, 3, 4)
    expected = [whole.next_batch().copy() for _ in range(split + more)]
    first = BatchStream(n, bs, 3, 4)
    for _ in range(split):
        first.next_batch()
    resumed = BatchStream(n, bs, 3, 4)  # a fresh process after a restart
    resumed.samples_drawn = first.samples_drawn
    for want in expected[split:]:
        np.testing.assert_array_equal(resumed.next_batch(), want)


def test_epochs_visit_every_row_once_and_differ() -> None:
    s = BatchStream(90, 30, 0, 0)
    batches = [s.next_batch().copy() for _ in range(6)]
    for epoch in (batches[:3], batches[3:]):
        assert sorted(np.concatenate(epoch).tolist()) == list(range(90))
    assert not np.array_equal(np.concatenate(batches[:3]), np.concatenate(batches[3:]))


def test_seeds_change_the_stream() -> None:
    def first(train_seed: int, seed: int) -> np.ndarray:
        return BatchStream(100, 10, train_seed, seed).next_batch()

    a = first(0, 0)
    np.testing.assert_array_equal(a, first(0, 0))
    assert not np.array_equal(a, first(1, 0))
    assert not np.array_equal(a, first(0, 1))
    np.testing.assert_array_equal(first(-1, 0), first(2**64 - 1, 0))  # seeds are taken mod 2**64


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 50), start=st.integers(0, 200), steps=st.integers(0, 15))
def test_next_batches_equals_repeated_next_batch(n: int, bs: int, start: int, steps: int) -> None:
    a, b = BatchStream(n, bs, 1, 2), BatchStream(n, bs, 1, 2)
    a.samples_drawn = b.samples_drawn = start
    block = a.next_batches(steps)
    assert block.shape == (steps, min(n, bs)) and block.dtype == np.int64 and block.flags.writeable
    expected = [b.next_batch().copy() for _ in range(steps)]
    np.testing.assert_array_equal(block, np.stack(expected) if steps else block)
    assert a.samples_drawn == b.samples_drawn == start + steps * min(n, bs)
    block[...] = -1  # a fresh array: writing to it leaves the stream alone
    a.samples_drawn = start
    np.testing.assert_array_equal(a.next_batches(steps), np.stack(expected) if steps else block)


def test_batch_size_is_capped_at_n_and_empty_data_has_no_batches() -> None:
    s = BatchStream(5, 32)
    assert s.batch_size == 5 and s.n == 5
    assert sorted(s.next_batch().tolist()) == [0, 1, 2, 3, 4]
    empty = BatchStream(0, 32)
    assert empty.batch_size == 0
    with pytest.raises(ValueError, match="no training rows"):
        empty.next_batch()
    with pytest.raises(ValueError, match="no training rows"):
        empty.next_batches(1)
    assert empty.next_batches(0).shape == (0, 0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n": -1, "batch_size": 4}, "n must be a non-negative integer"),
        ({"n": 2.0, "batch_size": 4}, "n must be a non-negative integer"),
        ({"n": 4, "batch_size": 0}, "batch_size must be a positive integer"),
        ({"n": 4, "batch_size": True}, "batch_size must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        BatchStream(**kwargs)


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_samples_drawn_setter_validates(value: object) -> None:
    s = BatchStream(10, 4)
    with pytest.raises(ValueError, match="samples_drawn must be a non-negative integer"):
        s.samples_drawn = value  # type: ignore[assignment]
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        s.next_batches(-1)
