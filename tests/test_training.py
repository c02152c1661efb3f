"""The shared training skeleton (minelib.training): settings, members, the recorder and its divergence checks."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from minelib import TrainingDivergedError, seeding
from minelib.bidirectional import BidirectionalConfig
from minelib.bottleneck import BottleneckArchitecture, BottleneckConfig
from minelib.ensemble import shuffle_rows
from minelib.training import (LOSS_BOUND, NORM_BOUND, Members, Recorder, configure, data_sets, per_member_data,
                              settings_of)

CPU = torch.device("cpu")


# ---------------------------------------------------------------- settings

def test_configure_applies_overrides_through_validation():
    cfg = configure(BottleneckConfig, None, {"epochs": 3})
    assert cfg == BottleneckConfig(epochs=3)
    assert configure(BottleneckConfig, cfg, {"lr": 1e-3}) == BottleneckConfig(epochs=3, lr=1e-3)
    assert configure(BottleneckConfig, cfg, {}) == cfg
    with pytest.raises(ValueError, match="lr"):
        configure(BottleneckConfig, cfg, {"lr": 0.0})
    with pytest.raises(TypeError, match=r"unknown setting\(s\) epoch; BottleneckConfig has: epochs"):
        configure(BottleneckConfig, None, {"epoch": 3})
    with pytest.raises(TypeError, match="BidirectionalConfig needs steps"):
        configure(BidirectionalConfig, None, {"variant": "ali"})
    with pytest.raises(TypeError, match="config must be a BidirectionalConfig"):
        configure(BidirectionalConfig, BottleneckConfig(), {})


def test_configs_are_frozen_normalised_and_recorded_as_plain_values():
    cfg = BidirectionalConfig(variant="ALI_MINE", steps=5, adam_betas=[0.5, 0.9], lr=1)
    assert cfg.variant == "ali_mine" and cfg.adam_betas == (0.5, 0.9) and isinstance(cfg.lr, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.1
    assert settings_of(cfg)["adam_betas"] == [0.5, 0.9] and set(settings_of(cfg)) == {
        f.name for f in dataclasses.fields(BidirectionalConfig)}
    assert BottleneckArchitecture(hidden=[32, 32]).hidden == (32, 32)


@pytest.mark.parametrize("cls,bad,error,name", [
    (BidirectionalConfig, dict(variant="vae", steps=5), ValueError, "variant"),
    (BidirectionalConfig, dict(variant="ali", steps=0), ValueError, "steps"),
    (BidirectionalConfig, dict(variant="ali", steps=5, lam=-1.0), ValueError, "lam"),
    (BidirectionalConfig, dict(variant="ali", steps=5, clip=1), TypeError, "clip"),
    (BidirectionalConfig, dict(variant="ali", steps=5, t_lr=0.0), ValueError, "t_lr"),
    (BidirectionalConfig, dict(variant="ali", steps=5, adam_betas="0.5"), ValueError, "adam_betas"),
    (BottleneckConfig, dict(epochs=2.5), TypeError, "epochs"),
    (BottleneckConfig, dict(lr_decay=1.5), ValueError, "lr_decay"),
    (BottleneckConfig, dict(polyak=-0.1), ValueError, "polyak"),
    (BottleneckConfig, dict(log_every=0), ValueError, "log_every"),
    (BottleneckConfig, dict(adam_betas=(0.5, 1.0)), ValueError, "adam_betas"),
    (BottleneckArchitecture, dict(n_classes=1), ValueError, "n_classes"),
    (BottleneckArchitecture, dict(critic_hidden=[16, -1]), ValueError, "critic_hidden"),
])
def test_configs_reject_bad_settings_by_name(cls, bad, error, name):
    with pytest.raises(error, match=name):
        cls(**bad)


# ---------------------------------------------------------------- members

def test_per_member_data_has_one_rule_for_arrays_tensors_and_samplers():
    x = np.zeros((5, 2))
    assert per_member_data(x, 3) == [x] * 3
    rows = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]     # one data set as nested lists: shared, not 3 data sets
    assert per_member_data(rows, 3) == [rows] * 3
    sets = [x, torch.zeros(4, 2), lambda n, rng: np.zeros((n, 2))]
    assert per_member_data(sets, 3) == sets
    images = [np.zeros((4, 8, 8), np.uint8)] * 2                # image arrays: one per member
    assert per_member_data(images, 2) == images
    with pytest.raises(ValueError, match="3 data sets for 2 models; give one per model"):
        per_member_data(sets, 2, "models")
    assert data_sets(x) is None and data_sets(rows) is None and data_sets(sets) == sets


@pytest.mark.parametrize("stacked", [False, True])
def test_members_draw_and_shuffle_from_their_own_streams(stacked):
    seeds = [3, 2**70, 5] if stacked else [3]
    members = Members(seeds, CPU, stacked=stacked)
    draw = members.draw("noise", lambda k, g: torch.randn(4, generator=g))
    alone = [torch.randn(4, generator=seeding.generator(s, "noise")) for s in seeds]
    assert torch.equal(draw, torch.stack(alone) if stacked else alone[0])
    # a stream continues where it stopped; another purpose is another stream
    again = members.draw("noise", lambda k, g: torch.randn(4, generator=g))
    assert not torch.equal(again, draw)
    assert members.gens("noise") is members.gens("noise") and members.gens("data") is not members.gens("noise")
    assert members.full(math.nan).shape == ((3,) if stacked else ())
    order = members.draw("order", lambda k, g: torch.randperm(5, generator=g))
    want = [torch.randperm(5, generator=seeding.generator(s, "order")) for s in seeds]
    assert torch.equal(order, torch.stack(want) if stacked else want[0])
    z = torch.arange(3 * 6, dtype=torch.float64).reshape(3, 6, 1)
    shuffled = members.shuffle(z if stacked else z[0])
    fresh = Members(seeds, CPU, stacked=stacked).generators("shuffle")
    assert torch.equal(shuffled, shuffle_rows(z if stacked else z[0], fresh, stacked))


def test_members_stack_copy_back_and_unstack():
    singles = [torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)) for _ in range(2)]
    members = Members([0, 1], CPU, stacked=True)
    net = members.stack(singles)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    back = members.unstack(net, singles)
    assert all(torch.equal(b[0].weight, s[0].weight.detach() + 1.0) for b, s in zip(back, singles))
    members.copy_back(net, singles)
    assert all(torch.equal(b[0].weight, s[0].weight) for b, s in zip(back, singles))
    with pytest.raises(TypeError, match="Conv1d.*one at a time"):
        members.stack([torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3))] * 2)
    plain = Members([0], CPU, stacked=False)
    assert plain.stack(singles[:1]) is singles[0]


# ---------------------------------------------------------------- the recorder

def _recorder(members, steps=7, every=3, limits=None):
    limits = {"loss": LOSS_BOUND, "norm": NORM_BOUND} if limits is None else limits
    return Recorder(["loss", "norm", "mi"], members, steps, every, limits, label="Toy", hint="lower lr", progress=False)


def test_recorder_flushes_every_few_steps_and_builds_tidy_histories():
    members = Members([7, 8], CPU, stacked=True)
    flushed = []
    with _recorder(members) as rec:
        for step in range(1, 8):
            value = torch.tensor([step, 10.0 * step])
            out = rec.add(step, loss=value, norm=value + 0.5, mi=torch.full((2,), math.nan))
            flushed.append(None if out is None else tuple(out.shape))
    assert flushed == [None, None, (3, 3, 2), None, None, (3, 3, 2), (1, 3, 2)]   # the last flush at `steps`
    a, b = rec.histories()
    assert list(a.columns) == ["step", "loss", "norm", "mi"] and list(a.step) == list(range(1, 8))
    assert list(a.loss) == list(range(1, 8)) and list(b.loss) == [10.0 * s for s in range(1, 8)]
    assert a["mi"].isna().all() and a["loss"].dtype == np.float64


@pytest.mark.parametrize("bad,what", [(math.inf, "became non-finite"), (math.nan, "became non-finite"),
                                      (2e6, r"reached 2e\+06 \(\|value\| > 1e\+06\)"),
                                      (-3e6, r"reached -3e\+06 \(\|value\| > 1e\+06\)")])
def test_recorder_names_column_step_and_seed_of_a_diverged_value(bad, what):
    members = Members([7, 8], CPU, stacked=True)
    message = rf"Toy training diverged: loss {what} at step 5 \(seed 8\); lower lr"
    with pytest.raises(TrainingDivergedError, match=message):
        with _recorder(members) as rec:
            for step in range(1, 8):
                loss = torch.tensor([1.0, bad if step == 5 else 1.0])
                rec.add(step, loss=loss, norm=torch.ones(2), mi=torch.full((2,), math.nan))


def test_recorder_leaves_unchecked_columns_alone_and_bounds_norms_separately():
    members = Members([0], CPU, stacked=False)
    with _recorder(members, steps=2, every=2) as rec:          # mi is NaN by design: not checked
        for step in (1, 2):
            rec.add(step, loss=torch.tensor(1.0), norm=torch.tensor(NORM_BOUND / 2), mi=torch.tensor(math.nan))
    with pytest.raises(TrainingDivergedError, match=r"norm reached 2e\+08 .* at step 2 \(seed 0\)"):
        with _recorder(members, steps=2, every=2) as rec:
            for step in (1, 2):
                rec.add(step, loss=torch.tensor(1.0), norm=torch.tensor(2 * NORM_BOUND * (step - 1)),
                        mi=torch.tensor(0.0))
