"""K networks as one (minelib.ensemble): stacking, unstacking, MINE's moving averages, per-member draws."""
import pytest
import torch

from minelib import MINE, ensemble
from minelib.gan import Generator


def test_ensemble_stack_runs_members_side_by_side_and_unstacks():
    torch.manual_seed(0)
    singles = [Generator(2, 2, (8, 8)) for _ in range(3)]
    stacked = ensemble.stack(singles)
    z = torch.randn(3, 50, 2)
    for mode in ("train", "eval", "train"):          # BatchNorm: batch statistics, then running ones
        for m in [stacked, *singles]:
            m.train(mode == "train")
        out = stacked(z)
        for k, g in enumerate(singles):
            torch.testing.assert_close(out[k], g(z[k]), rtol=1e-5, atol=1e-6)
    for k, g in enumerate(singles):                 # running statistics and weights come back
        back = ensemble.unstack(stacked, Generator(2, 2, (8, 8)), k)
        for (name, a), b in zip(back.state_dict().items(), g.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)
    with pytest.raises(TypeError, match="Conv1d"):
        ensemble.stack([torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3))] * 2)


def test_ensemble_stacks_mines_with_their_moving_averages():
    singles = [MINE(2, 1, ema_rate=0.5, hidden=(8,), input_noise=0.1, seed=s) for s in (3, 4)]
    x, z = torch.randn(2, 40, 2), torch.randn(2, 40, 1)
    for k, m in enumerate(singles):
        m.loss(x[k], z[k])                           # starts each moving average
    stacked = ensemble.stack(singles)
    assert isinstance(stacked, ensemble.StackedMINE) and stacked.members == 2 and stacked.network.input_noise == 0.1
    stacked.eval()
    for k, m in enumerate(singles):
        m.eval()
        torch.testing.assert_close(stacked.scores(x, z, z.flip(1))[0][k], m.scores(x[k], z[k], z[k].flip(0))[0])
        assert stacked.log_ema[k] == m.log_ema
    stacked.train()
    stacked.loss(x, z)                               # moves both moving averages
    back = ensemble.unstack(stacked, singles[1], 1)
    assert back.log_ema == stacked.log_ema[1] and back.log_ema != singles[1].log_ema
    torch.testing.assert_close(back.network.weights[0][0], stacked.network.weights[0][1])
    with pytest.raises(TypeError, match="single-member StatisticsNetwork"):
        ensemble.stack([MINE(2, 1, members=2), MINE(2, 1, members=2)])
    # Settings outside the weights (noise levels, rates) must agree too, or members would take member 0's.
    for other in (MINE(2, 1, ema_rate=0.5, hidden=(8,), input_noise=0.2), MINE(2, 1, ema_rate=0.1, hidden=(8,),
                                                                           input_noise=0.1)):
        with pytest.raises(ValueError, match="module 1 differs from module 0"):
            ensemble.stack([singles[0], other])


@pytest.mark.parametrize("stacked", [False, True])
def test_per_member_draws_come_from_each_members_generator(stacked):
    gens = lambda: [torch.Generator().manual_seed(s) for s in (3, 4, 5)][:3 if stacked else 1]
    out = ensemble.per_member(gens(), lambda k, g: torch.randn(2, 4, generator=g), stacked, dim=1 if stacked else 0)
    alone = [torch.randn(2, 4, generator=g) for g in gens()]
    if stacked:
        assert out.shape == (2, 3, 4) and all(torch.equal(out[:, k], a) for k, a in enumerate(alone))
    else:
        assert torch.equal(out, alone[0])
    z = torch.arange(3 * 6 * 1, dtype=torch.float64).reshape(3, 6, 1)
    shuffled = ensemble.shuffle_rows(z if stacked else z[0], gens(), stacked)
    for k in range(3 if stacked else 1):
        rows = shuffled[k] if stacked else shuffled
        assert sorted(rows[:, 0].tolist()) == z[k, :, 0].tolist()       # a permutation of the member's own rows
        assert (rows[:, 0] != z[k, :, 0]).all()                         # without fixed points
