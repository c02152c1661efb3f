"""The seeding scheme: one stream per (seed, purpose, member), distinct wherever the inputs differ."""
import itertools

import numpy as np
import pytest
import torch

from minelib import seeding


def test_streams_are_distinct_across_seeds_purposes_and_members():
    seeds = [0, 1, 999, 1000, 2**32, 2**32 + 1, 2**64, 2**70]
    keys = list(itertools.product(seeds, seeding.PURPOSES, range(4)))
    values = {seeding.torch_seed(s, p, m) for s, p, m in keys}
    assert len(values) == len(keys)           # no two streams share a torch seed
    assert all(0 <= v < 2**63 for v in values)


def test_the_old_offsets_collisions_are_gone():
    # seed * 1000 + s made (seed 0, replicate 1000) equal (seed 1, replicate 0); % 2**32 made 2**32 equal 0
    assert seeding.replicate_seeds(0, 1001)[1000] != seeding.replicate_seeds(1, 1)[0]
    assert seeding.torch_seed(2**32, "data") != seeding.torch_seed(0, "data")


def test_streams_are_reproducible_and_drive_torch_and_numpy():
    a = torch.rand(5, generator=seeding.generator(7, "noise", 2))
    b = torch.rand(5, generator=seeding.generator(7, "noise", 2))
    c = torch.rand(5, generator=seeding.generator(7, "noise", 3))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert np.array_equal(seeding.rng(7, "data").normal(size=4), seeding.rng(7, "data").normal(size=4))
    assert seeding.replicate_seeds(3, 4) == seeding.replicate_seeds(3, 4) and len(set(seeding.replicate_seeds(3, 4))) == 4


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (1.0, TypeError), (True, TypeError), ("0", TypeError),
                                       (None, TypeError)])
def test_bad_seeds_are_refused_naming_the_argument(seed, exc):
    with pytest.raises(exc, match="seed"):
        seeding.torch_seed(seed, "data")


def test_unknown_purpose_is_refused():
    with pytest.raises(ValueError, match="purpose"):
        seeding.generator(0, "weights")


def test_numpy_integers_are_accepted():
    assert seeding.torch_seed(np.int64(5), "init") == seeding.torch_seed(5, "init")
