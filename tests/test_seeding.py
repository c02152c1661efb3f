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
    # torch's CPU generator keeps the low 32 bits of a seed: distinct there too
    assert len({v & 0xFFFFFFFF for v in values}) == len(keys)


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


def test_purposes_are_only_ever_appended():
    # A purpose's index is part of its streams' identity: the first nine are where they always were.
    assert seeding.PURPOSES[:9] == ("data", "init", "order", "noise", "shuffle", "eval", "sample", "replicate", "split")
    assert len(set(seeding.PURPOSES)) == len(seeding.PURPOSES)


def test_member_seeds_is_the_one_rule_for_k_members():
    assert seeding.member_seeds(7, 1) == [7]                              # one member: the int itself
    assert seeding.member_seeds(7, 3) == seeding.replicate_seeds(7, 3)    # K > 1: the replicates of the int
    assert seeding.member_seeds([4, 2**70, np.int64(9)], 3) == [4, 2**70, 9]
    assert seeding.member_seeds(np.array([1, 2]), 2) == [1, 2]
    assert seeding.member_seeds(2**70, 2) != seeding.member_seeds(0, 2)
    assert seeding.member_seeds(2**32, 2) != seeding.member_seeds(0, 2)


@pytest.mark.parametrize("seed, k, exc, msg", [
    ([1, 2], 3, ValueError, r"seed must be an integer >= 0 or a list of 3 seeds, one per member; got a list of 2"),
    ([], 0, ValueError, "non-empty"),
    ([1, -2], 2, ValueError, r"seed\[1\] must be >= 0"),
    ([1, 2.0], 2, TypeError, r"seed\[1\] must be an integer"),
    (1.5, 2, TypeError, "seed must be an integer >= 0 or a list of 2"),
    (True, 1, TypeError, "seed must be an integer"),
    (None, 1, TypeError, "seed must be an integer"),
    (-1, 1, ValueError, "seed must be >= 0"),
])
def test_member_seeds_refuses_bad_seeds_naming_the_argument(seed, k, exc, msg):
    with pytest.raises(exc, match=msg):
        seeding.member_seeds(seed, k)


def test_child_seed_keeps_none_for_the_global_generator():
    assert seeding.child_seed(None, "critic") is None
    assert seeding.child_seed(3, "critic") == seeding.torch_seed(3, "critic") != seeding.torch_seed(3, "init")


def test_fork_global_seeds_inside_and_restores_outside():
    torch.manual_seed(1)
    before = torch.get_rng_state()
    with seeding.fork_global(2**70, "init"):
        a = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    with seeding.fork_global(2**70, "init"):
        assert torch.equal(torch.rand(3), a)
    with seeding.fork_global(2**70, "global"):
        assert not torch.equal(torch.rand(3), a)
    with seeding.fork_global(None, "init"):
        torch.rand(3)                  # draws from the caller's state, which is then restored
    assert torch.equal(torch.get_rng_state(), before)
    with pytest.raises(TypeError, match="seed"):
        with seeding.fork_global(1.0, "init"):
            pass
