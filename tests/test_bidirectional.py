"""Bidirectional models (ALI, ALICE-L2, ALICE-A, ALI+MINE; eq. 23): networks, the one training loop, its settings."""
import dataclasses

import numpy as np
import pytest
import torch

from minelib import TrainingDivergedError, seeding
from minelib.bidirectional import (HISTORY_COLUMNS, VARIANTS, BidirectionalConfig, _codes, _decoded, decode, encode,
                                   mnist_networks, reconstruct, sample, toy_networks, train_bidirectional)
from minelib.toy2d import grid_gaussians

TINY = dict(hidden=(16, 16), t_hidden=(16, 16))
FAST = dict(batch_size=32, lr=1e-3, device="cpu", progress=False)


@pytest.fixture(scope="module")
def grid():
    return grid_gaussians(2_000, seed=0)[0]


def _train(data, variant, steps=20, seed=0, **kw):
    model = toy_networks(variant, seed=seed, **TINY)
    return train_bidirectional(data, model, variant, steps, seed=seed, **{**FAST, **kw})


def test_networks_have_the_variant_pieces():
    for v in VARIANTS:
        m = toy_networks(v, **TINY)
        assert (m.disc_x is not None) == (v == "alice_adv") and (m.disc_z is not None) == (v == "alice_adv")
        assert (m.mine is not None) == (v == "ali_mine")
    m = mnist_networks("ali_mine")
    assert m.encoder(torch.zeros(3, 784)).shape == (3, 100)
    m.decoder.eval()
    out = m.decoder(torch.randn(3, 100))
    assert out.shape == (3, 784) and out.abs().max() <= 1            # tanh output
    assert m.disc(torch.zeros(3, 784), torch.zeros(3, 100)).shape == (3,)
    widths = [l.out_features for l in m.encoder if isinstance(l, torch.nn.Linear)]
    assert widths == [1000, 500, 250, 100]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_trains_with_a_tidy_finite_history(grid, variant):
    r = _train(grid, variant)
    h = r.history
    assert list(h.columns) == HISTORY_COLUMNS and list(h.step) == list(range(1, 21))
    assert np.isfinite(h[["d_loss", "g_loss"]]).all().all()
    assert np.isfinite(h["rec_loss"]).all() == (variant == "alice_l2")
    assert np.isfinite(h["mi"]).all() == (variant == "ali_mine")
    if variant == "ali_mine":
        assert (h.norm_a <= h.norm_u * (1 + 1e-5) + 1e-7).all()           # eq. 36
        assert np.allclose(h.norm_a, np.minimum(h.norm_u, h.norm_m), rtol=1e-4)
    else:
        assert (h[["norm_u", "norm_m", "norm_a"]] == 0).all().all()
    rec, smp, emb = reconstruct(r.model, grid[:50]), sample(r.model, 40), encode(r.model, grid[:50], noise=0.0)
    assert rec.shape == (50, 2) and smp.shape == (40, 2) and emb.shape == (50, 2)
    assert r.settings["variant"] == variant and r.seconds > 0


def test_same_seed_same_run_and_global_rng_untouched(grid):
    state = torch.get_rng_state()
    a, b = _train(grid, "ali_mine", seed=3), _train(grid, "ali_mine", seed=3)
    assert torch.equal(state, torch.get_rng_state())
    assert a.history.equals(b.history)
    assert np.array_equal(sample(a.model, 20), sample(b.model, 20))
    c = _train(grid, "ali_mine", seed=4)
    assert not a.history.equals(c.history)


def test_any_int_seed_is_its_own_seed(grid):
    """2**70 seeds the networks, the training and the noise of encode and sample; 2**32 is not 0 in disguise."""
    big, zero, wrapped = (_train(grid, "ali_mine", steps=4, seed=s) for s in (2**70, 0, 2**32))
    assert big.settings["seed"] == 2**70 and np.isfinite(big.history[["d_loss", "g_loss", "mi"]]).all().all()
    assert not zero.history.equals(wrapped.history) and not big.history.equals(zero.history)
    for fn in (lambda m, s: encode(m, grid[:10], seed=s), lambda m, s: sample(m, 10, seed=s)):
        assert np.array_equal(fn(big.model, 2**70), fn(big.model, 2**70))
        assert not np.array_equal(fn(big.model, 0), fn(big.model, 2**32))
    a, b = (toy_networks("ali", seed=s, **TINY) for s in (0, 2**32))
    assert not torch.equal(a.encoder[0].weight, b.encoder[0].weight)
    with pytest.raises(TypeError, match="seed"):
        _train(grid, "ali", steps=2, seed=1.0)
    with pytest.raises(ValueError, match="seed"):
        toy_networks("ali", seed=-1, **TINY)


def test_variants_of_one_seed_share_f_and_g():
    """F and G come from the seed's init stream, whatever the variant builds besides them."""
    models = [toy_networks(v, seed=3, **TINY) for v in VARIANTS]
    for m in models[1:]:
        for net in ("encoder", "decoder"):
            for p, q in zip(getattr(m, net).parameters(), getattr(models[0], net).parameters()):
                assert torch.equal(p, q)
        for p, q in zip(m.disc.parameters(), models[0].disc.parameters()):
            assert torch.equal(p, q)


def test_int_seed_with_k_models_means_its_replicates(grid):
    build = lambda: [toy_networks("ali_mine", seed=s, **TINY) for s in (1, 2)]
    by_int = train_bidirectional(grid, build(), "ali_mine", 5, seed=6, **FAST)
    by_list = train_bidirectional(grid, build(), "ali_mine", 5, seed=seeding.replicate_seeds(6, 2), **FAST)
    assert [r.settings["seed"] for r in by_int] == seeding.replicate_seeds(6, 2)
    assert all(a.history.equals(b.history) for a, b in zip(by_int, by_list))
    one = train_bidirectional(grid, [toy_networks("ali", seed=1, **TINY)], "ali", 3, seed=6, **FAST)
    assert one[0].settings["seed"] == 6                     # one model: the int itself


def test_unclipped_mi_gradient_is_applied_in_full(grid):
    h = _train(grid, "ali_mine", beta=50.0, clip=False).history
    assert np.allclose(h.norm_a, h.norm_m) and (h.norm_m > h.norm_u).any()
    h = _train(grid, "ali_mine", beta=50.0, clip=True).history
    assert (h.norm_a <= h.norm_u * (1 + 1e-5)).all()


def test_config_shortcuts_and_keywords_are_one_thing(grid):
    a = _train(grid, "ali_mine", steps=6, beta=2.0)
    run = dict(device="cpu", progress=False)
    cfg = BidirectionalConfig("ali_mine", 6, beta=2.0, batch_size=FAST["batch_size"], lr=FAST["lr"])
    b = train_bidirectional(grid, toy_networks("ali_mine", seed=0, **TINY), config=cfg, **run)
    # positional variant and steps, and keywords, override the config's
    other = dataclasses.replace(cfg, variant="ali", steps=2, beta=0.5)
    c = train_bidirectional(grid, toy_networks("ali_mine", seed=0, **TINY), "ali_mine", 6, other, beta=2.0, **run)
    for r in (b, c):
        assert a.history.equals(r.history) and a.settings == r.settings
    # settings: every config field, the run's facts, and None for what the variant does not use
    assert {f.name for f in dataclasses.fields(BidirectionalConfig)} <= set(a.settings)
    assert a.settings["lam"] is None and a.settings["t_lr"] == a.settings["lr"] and a.settings["clip"] is True
    assert {"x_dim", "z_dim", "n_data", "device", "seed", "stacked_with"} <= set(a.settings)
    with pytest.raises(TypeError, match="needs variant, steps"):
        train_bidirectional(grid, toy_networks("ali", **TINY))
    with pytest.raises(TypeError, match="unknown setting.*lambda"):
        _train(grid, "alice_l2", steps=2, **{"lambda": 2.0})
    with pytest.raises(TypeError, match="clip"):
        _train(grid, "ali_mine", steps=2, clip="no")


def test_reconstruct_keeps_the_code_in_the_models_dtype(float64, grid):
    """reconstruct decodes the float64 code itself; decoding encode's float32 copy of it is another computation."""
    r = _train(grid, "ali", steps=3)
    x = grid[:40]
    z = torch.as_tensor(encode(r.model, x).astype(np.float64))
    exact = _decoded(r.model, _codes(r.model, x, 1.0, 0, 4096), 4096)
    assert torch.equal(torch.as_tensor(reconstruct(r.model, x)), exact.float())
    assert np.array_equal(decode(r.model, z.numpy()), _decoded(r.model, z, 4096).float().numpy())


def test_mine_term_raises_the_information_in_the_code():
    """With the MI term the encoder spreads its codes: I(X; F(X)+eps) estimated by T grows beyond ALI's.

    A property of the mean over replicates, not of every seed: over 56 seeds each (beta 1, 300 steps) the
    codes of ALI+MINE were wider than ALI's for 73% of the seeds (80% with the seeding before
    minelib.seeding), and the mean over 5 replicates was wider in all 12 groups of five. So 5 replicates,
    trained as one stacked model each.
    """
    data = grid_gaussians(5_000, seed=1)[0]
    seeds = seeding.replicate_seeds(0, 5)
    run = lambda v, **kw: train_bidirectional(data, [toy_networks(v, seed=s, **TINY) for s in seeds], v, 300, seed=0,
                                              **{**FAST, **kw})
    mine, ali = run("ali_mine", beta=1.0), run("ali")
    spread = lambda runs: np.mean([encode(r.model, data[:500], noise=0.0).std(0).mean() for r in runs])
    assert all(r.history.mi.tail(50).mean() > 0.1 for r in mine)
    assert spread(mine) > spread(ali)


def test_l2_cycle_term_improves_reconstruction(grid):
    data = grid_gaussians(5_000, seed=1)[0]
    x = data[:500]
    mse = lambda r: ((reconstruct(r.model, x) - x) ** 2).sum(1).mean()
    assert mse(_train(data, "alice_l2", steps=300)) < mse(_train(data, "ali", steps=300))


def test_bad_arguments_are_named(grid):
    with pytest.raises(ValueError, match="variant"):
        toy_networks("vae")
    with pytest.raises(ValueError, match="alice_adv"):
        train_bidirectional(grid, toy_networks("ali", **TINY), "alice_adv", 5, **FAST)
    with pytest.raises(ValueError, match="ali_mine"):
        train_bidirectional(grid, toy_networks("ali", **TINY), "ali_mine", 5, **FAST)
    with pytest.raises(ValueError, match="x_dim"):
        train_bidirectional(np.zeros((10, 3)), toy_networks("ali", **TINY), "ali", 5, **FAST)
    with pytest.raises(ValueError, match="steps"):
        _train(grid, "ali", steps=0)


def test_divergence_names_the_iteration(grid):
    model = toy_networks("ali", **TINY)
    with torch.no_grad():
        model.decoder[0].weight[0, 0] = float("nan")      # G(z) is NaN from the first iteration on
    with pytest.raises(TrainingDivergedError, match=r"non-finite at step 1 \(seed 0\);"):
        train_bidirectional(grid, model, "ali", 10, chunk=5, **FAST)
    with pytest.raises(ValueError, match="data"):
        _train(np.full_like(grid, np.inf), "ali", steps=5)


def test_celeba_networks_shapes_and_uint8_training(tmp_path):
    from minelib import celeba
    from minelib.bidirectional import celeba_networks

    m = celeba_networks("alice_adv", z_dim=8, ch=4, head=16)
    x = torch.rand(3, 3 * 64 * 64) * 2 - 1
    assert m.encoder(x).shape == (3, 8)
    assert m.decoder(torch.randn(3, 8)).shape == (3, 3 * 64 * 64)
    assert m.disc(x, torch.zeros(3, 8)).shape == (3,) and m.disc_x(x, x).shape == (3,)
    assert m.disc_z(torch.zeros(3, 8), torch.zeros(3, 8)).shape == (3,)
    data = celeba.load_celeba(celeba.write_fixture(tmp_path, n=20))
    assert data.x_train.dtype == np.uint8
    mm = celeba_networks("ali_mine", z_dim=8, ch=4, head=16)
    r = train_bidirectional(data.x_train, mm, "ali_mine", 4, chunk=2, **{**FAST, "batch_size": 4})
    assert np.isfinite(r.history[["d_loss", "g_loss", "mi"]]).all().all()


def _mnist_tiny(variant, seed):
    return mnist_networks(variant, z_dim=8, g_hidden=(16, 16), f_hidden=(16,), d_hidden=(16, 16), t_hidden=(16,),
                          seed=seed)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind", ["toy", "mnist"])
def test_stacked_models_match_one_by_one(float64, variant, kind):
    """K models trained as one get what each gets alone: minibatches, noise layers (MNIST's D and T), shuffles,
    BatchNorm statistics (MNIST's G). Toy members each have their own data set, MNIST ones share uint8 pixels."""
    rng = np.random.default_rng(0)
    if kind == "toy":
        data, build = [rng.normal(size=(300 + 50 * k, 2)) for k in range(3)], lambda s: toy_networks(variant, seed=s, **TINY)
    else:
        data, build = rng.integers(0, 256, size=(200, 784), dtype=np.uint8), lambda s: _mnist_tiny(variant, s)
    seeds = [5, 9, 11]
    kw = dict(batch_size=16, device="cpu", progress=False, chunk=5)
    runs = train_bidirectional(data, [build(s) for s in seeds], variant, 12, seed=seeds, **kw)
    assert [r.settings["seed"] for r in runs] == seeds and all(r.settings["stacked_with"] == 3 for r in runs)
    for k, (s, run) in enumerate(zip(seeds, runs)):
        alone = train_bidirectional(data[k] if kind == "toy" else data, build(s), variant, 12, seed=s, **kw)
        assert run.settings["n_data"] == alone.settings["n_data"]
        np.testing.assert_allclose(run.history.to_numpy(), alone.history.to_numpy(), rtol=1e-9, atol=1e-12)
        x = data[k][:30] if kind == "toy" else data[:30]
        # MNIST's G has a Linear bias just before each BatchNorm: its gradient is zero up to rounding, which Adam
        # turns into steps of about 1e-9 here, and BatchNorm's running mean follows it, so G's eval outputs differ
        # by up to about 1e-9 too (3e-9 measured). Everything else agrees to 1e-10.
        before_bn = {"decoder.0.bias", "decoder.3.bias", "decoder.1.running_mean", "decoder.4.running_mean"}
        drift = 1e-8 if kind == "mnist" else 1e-12
        # The models compute in float64 (the code z too, between encoder and decoder) and only the outputs are
        # rounded to float32: two float64 values `drift` apart can round to neighbouring float32 values, one
        # float32 ulp apart, and one ulp of a value v is at most eps32 * |v|.
        eps32 = float(np.finfo(np.float32).eps)
        np.testing.assert_allclose(reconstruct(run.model, x), reconstruct(alone.model, x), rtol=eps32, atol=drift)
        np.testing.assert_allclose(sample(run.model, 30), sample(alone.model, 30), rtol=eps32, atol=drift)
        for (name, a), b in zip(run.model.state_dict().items(), alone.model.state_dict().values()):
            tol = 1e-7 if kind == "mnist" and name in before_bn else 1e-10
            torch.testing.assert_close(a, b, rtol=0, atol=tol, msg=name)


def test_stacked_training_rejects_what_cannot_be_stacked(grid):
    models = [toy_networks("ali", seed=s, **TINY) for s in (1, 2)]
    with pytest.raises(ValueError, match="a list of 2 seeds, one per model; got a list of 3"):
        train_bidirectional(grid, models, "ali", 2, seed=[1, 2, 3], **FAST)
    with pytest.raises(ValueError, match="3 data sets for 2 models"):
        train_bidirectional([grid] * 3, models, "ali", 2, seed=[1, 2], **FAST)
    from minelib.bidirectional import celeba_networks
    convs = [celeba_networks("ali", z_dim=4, ch=2, head=8, seed=s) for s in (1, 2)]
    with pytest.raises(TypeError, match="Conv2d.*one at a time"):
        train_bidirectional(np.zeros((4, 3 * 64 * 64), np.uint8), convs, "ali", 1, seed=[1, 2], **FAST)


def test_fg_steps_takes_more_steps_of_f_and_g_per_discriminator_step(float64, grid):
    one, three = _train(grid, "ali", steps=6), _train(grid, "ali", steps=6, fg_steps=3)
    again = _train(grid, "ali", steps=6, fg_steps=3)
    assert len(three.history) == 6 and three.settings["fg_steps"] == 3
    np.testing.assert_array_equal(three.history.to_numpy(), again.history.to_numpy())   # seeded, fresh eps
    assert not np.allclose(three.history.g_loss, one.history.g_loss)
    # the first discriminator step sees the same untrained F and G either way
    assert three.history.d_loss.iloc[0] == one.history.d_loss.iloc[0]
    for bad in (0, 1.5, "2"):
        with pytest.raises((TypeError, ValueError), match="fg_steps"):
            _train(grid, "ali", steps=2, fg_steps=bad)


def test_cosine_schedule_decays_every_step_size(float64, grid):
    # with one iteration the schedule has not moved yet: the same run as a constant step size
    a, b = _train(grid, "ali_mine", steps=1), _train(grid, "ali_mine", steps=1, lr_schedule="cosine")
    np.testing.assert_array_equal(a.history.to_numpy(), b.history.to_numpy())
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)
    # later iterations take smaller steps: the weights move less over the run than at a constant step size
    start = toy_networks("ali", seed=0, **TINY).decoder.state_dict()
    moved = lambda run: sum(float((p - start[k]).norm()) for k, p in run.model.decoder.state_dict().items())
    const, cos = _train(grid, "ali", steps=30), _train(grid, "ali", steps=30, lr_schedule="cosine")
    assert moved(cos) < moved(const)
    with pytest.raises(ValueError, match="lr_schedule"):
        _train(grid, "ali", steps=2, lr_schedule="linear")
