"""StatisticsNetwork's seeds (the one rule of minelib.seeding) and the seeded noise of noise layers."""
import pytest
import torch

from minelib import StatisticsNetwork, seeding
from minelib.networks import gaussian_like, seeded_noise


def _same_weights(a: StatisticsNetwork, k: int, b: StatisticsNetwork) -> bool:
    """Member ``k`` of ``a`` has the weights of the one-member network ``b``."""
    return all(torch.equal(p[k], q[0]) for p, q in zip(a.parameters(), b.parameters()))


def test_a_member_is_initialised_as_its_seed_alone():
    stacked = StatisticsNetwork(3, 2, hidden=(8, 4), members=3, seed=[5, 2**70, 0])
    for k, s in enumerate([5, 2**70, 0]):
        assert _same_weights(stacked, k, StatisticsNetwork(3, 2, hidden=(8, 4), seed=s))
    assert not _same_weights(stacked, 1, StatisticsNetwork(3, 2, hidden=(8, 4), seed=2**32))


def test_an_int_seed_with_k_members_means_its_replicates():
    by_int = StatisticsNetwork(3, 2, hidden=(8,), members=3, seed=11)
    by_list = StatisticsNetwork(3, 2, hidden=(8,), members=3, seed=seeding.replicate_seeds(11, 3))
    assert all(torch.equal(p, q) for p, q in zip(by_int.parameters(), by_list.parameters()))
    one = StatisticsNetwork(3, 2, hidden=(8,), seed=11)               # one member: the int itself
    assert _same_weights(one, 0, StatisticsNetwork(3, 2, hidden=(8,), members=1, seed=[11]))


def test_none_draws_from_the_global_generator_and_a_seed_never_touches_it():
    torch.manual_seed(0)
    a = StatisticsNetwork(2, 1, hidden=(4,))
    torch.manual_seed(0)
    b = StatisticsNetwork(2, 1, hidden=(4,))
    assert _same_weights(a, 0, b)
    state = torch.get_rng_state()
    StatisticsNetwork(2, 1, hidden=(4,), members=2, seed=2**70)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("seed, members, exc", [(-1, 1, ValueError), (1.5, 1, TypeError), (True, 2, TypeError),
                                                ([1, 2], 3, ValueError), ([1, 2.0, 3], 3, TypeError)])
def test_bad_seeds_are_refused_naming_the_argument(seed, members, exc):
    with pytest.raises(exc, match="seed"):
        StatisticsNetwork(2, 1, members=members, seed=seed)


def test_seeded_noise_blocks_nest_and_restore():
    net = StatisticsNetwork(2, 1, hidden=(4,), seed=0, input_noise=0.1)
    outer, inner = [seeding.generator(0, "noise_layers")], [seeding.generator(0, "eval")]
    with seeded_noise(net, outer):
        with seeded_noise(net, inner):
            assert net.noise_generators == inner
        assert net.noise_generators == outer
    assert net.noise_generators is None
    h = torch.zeros(3, 2)
    assert torch.equal(gaussian_like(h, [seeding.generator(4, "noise")]),
                       torch.randn(3, 2, generator=seeding.generator(4, "noise")))
