"""MINEGAN pieces: 2-D samplers, mode metrics, the GAN training loop (eq. 20-21) and its settings."""
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from minelib import TrainingDivergedError, seeding
from minelib.gan import HISTORY_COLUMNS, Discriminator, GANConfig, Generator, generate, train_gan
from minelib.metrics import grid_mode_metrics, spiral_arc_length, spiral_coverage
from minelib.toy2d import GRID_MEANS, grid_gaussians, swiss_roll, swiss_roll_curve

TINY = dict(g_hidden=(16, 16), d_hidden=(16, 16), t_hidden=(16, 16), batch_size=32, lr=1e-3,
            device="cpu", progress=False)


# ---------------------------------------------------------------- samplers

def test_swiss_roll_follows_its_definition():
    x, pos = swiss_roll(20_000, seed=3)
    assert x.shape == (20_000, 2) and x.dtype == np.float32 and pos.shape == (20_000,)
    assert pos.min() >= 0 and pos.max() <= 2
    resid = x - swiss_roll_curve(pos)
    assert np.allclose(resid.mean(0), 0, atol=0.005) and np.allclose(resid.std(0), 0.1, atol=0.005)
    r = np.linalg.norm(swiss_roll_curve(pos), axis=1)
    assert np.allclose(r, (2 * pos + 1) / 3, atol=1e-5)
    # the curve's start and end: r = 1/3 at pos 0 (on the +y axis), r = 5/3 at pos 2
    assert np.allclose(swiss_roll_curve([0.0, 2.0]), [[0, 1 / 3], [0, 5 / 3]], atol=1e-12)


def test_grid_gaussians_follows_its_definition():
    x, mode = grid_gaussians(50_000, seed=1)
    assert x.shape == (50_000, 2) and x.dtype == np.float32
    assert set(np.unique(mode)) == set(range(25))
    assert sorted(set(GRID_MEANS[:, 0])) == [-4, -2, 0, 2, 4]
    resid = x - GRID_MEANS[mode]
    assert np.allclose(resid.std(0), 0.05, atol=0.002)
    counts = np.bincount(mode, minlength=25)
    assert counts.min() > 0.8 * 2000 and counts.max() < 1.2 * 2000   # uniform mixture


def test_samplers_are_seeded():
    for f in (swiss_roll, grid_gaussians):
        a, b, c = f(100, seed=7)[0], f(100, seed=7)[0], f(100, seed=8)[0]
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        g = np.random.default_rng(5)
        assert np.array_equal(f(10, g)[0], f(10, np.random.default_rng(5))[0])   # a Generator works too


def test_samplers_reject_bad_sizes():
    with pytest.raises(ValueError, match="n must be"):
        swiss_roll(0)
    with pytest.raises(TypeError, match="n must be"):
        grid_gaussians(2.5)


# ---------------------------------------------------------------- metrics

def test_grid_metrics_on_the_means_themselves():
    m = grid_mode_metrics(np.repeat(GRID_MEANS, 4, axis=0))
    assert m["modes"] == 25 and m["hq_percent"] == 100.0 and m["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert m["counts"] == [4] * 25


def test_grid_metrics_all_at_one_mode():
    m = grid_mode_metrics(np.tile(GRID_MEANS[7], (500, 1)) + 0.01)
    assert m["modes"] == 1 and m["hq_percent"] == 100.0
    assert m["reverse_kl"] == pytest.approx(math.log(25))


def test_grid_metrics_quality_threshold_and_no_hq():
    # 3 std of 0.05 = 0.15: 0.14 away is high quality, 0.16 is not
    pts = np.array([[0.14, 0.0], [2.0, 0.16], [1.0, 1.0], [10.0, 10.0]])
    m = grid_mode_metrics(pts)
    assert m["modes"] == 1 and m["hq_percent"] == 25.0 and m["reverse_kl"] == pytest.approx(math.log(25))
    m = grid_mode_metrics(np.array([[1.0, 1.0], [3.0, 3.0]]))
    assert m["modes"] == 0 and m["hq_percent"] == 0.0 and math.isnan(m["reverse_kl"])


def test_grid_metrics_on_data_and_on_half_the_modes():
    x, _ = grid_gaussians(10_000, seed=0)
    m = grid_mode_metrics(x)
    assert m["modes"] == 25 and 98 < m["hq_percent"] < 99.5   # 1 - exp(-4.5) = 98.9%
    assert m["reverse_kl"] < 0.01
    # equal mass on 5 modes: KL = log(25 / 5)
    m = grid_mode_metrics(np.repeat(GRID_MEANS[:5], 10, axis=0))
    assert m["modes"] == 5 and m["reverse_kl"] == pytest.approx(math.log(5))


def test_spiral_coverage_of_data_and_of_a_collapsed_generator():
    assert spiral_arc_length() == pytest.approx(4 * np.pi, rel=0.01)
    x, _ = swiss_roll(2000, seed=0)
    m = spiral_coverage(x)
    assert m["coverage"] >= 99 and m["on_arc_percent"] > 99 and m["bins"] == 100
    # the noiseless curve, uniform in arc length: every bin, every point on the arc
    s = np.linspace(0, 2, 20_001)
    m = spiral_coverage(swiss_roll_curve(s))
    assert m["coverage"] == 100 and m["on_arc_percent"] == 100.0
    # a generator collapsed onto one point of the arc covers one bin
    m = spiral_coverage(np.tile(swiss_roll_curve([1.0]), (500, 1)))
    assert m["coverage"] == 1
    # only the inner half of the positions: the inner part of the arc (r grows, so less than half its length)
    x, pos = swiss_roll(4000, seed=1)
    m = spiral_coverage(x[pos < 1.0])
    assert 20 <= m["coverage"] <= 40
    # points far off the curve do not count
    m = spiral_coverage(np.array([[3.0, 3.0], [-3.0, 0.0]]))
    assert m["coverage"] == 0 and m["on_arc_percent"] == 0.0


def test_metrics_reject_bad_samples():
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        grid_mode_metrics(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        spiral_coverage(np.array([[np.nan, 0.0]]))


# ---------------------------------------------------------------- networks and training

def test_networks_shapes():
    G, D = Generator(2, 2, (500, 500)), Discriminator(2, (400, 400, 400))
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules()) == 2
    assert G(torch.randn(100, 2)).shape == (100, 2)
    p = D.prob(torch.randn(7, 2))
    assert p.shape == (7,) and ((p > 0) & (p < 1)).all()


def test_train_gan_smoke_is_finite_and_deterministic():
    x, _ = grid_gaussians(2000, seed=0)
    a = train_gan(x, beta=1.0, steps=30, record_at=[0, 10, 30], n_record=200, seed=3, **TINY)
    b = train_gan(x, beta=1.0, steps=30, record_at=[0, 10, 30], n_record=200, seed=3, **TINY)
    c = train_gan(x, beta=1.0, steps=30, record_at=[30], n_record=200, seed=4, **TINY)
    assert sorted(a.samples) == [0, 10, 30] and a.samples[30].shape == (200, 2)
    assert list(a.history.columns) == HISTORY_COLUMNS and len(a.history) == 30
    assert np.isfinite(a.history.to_numpy()).all()
    assert np.array_equal(a.samples[30], b.samples[30]) and a.history.equals(b.history)
    assert not np.array_equal(a.samples[30], c.samples[30])
    # clipping: the applied MI gradient never exceeds the adversarial one
    h = a.history
    assert (h.norm_a <= h.norm_u * (1 + 1e-5)).all()
    assert np.allclose(h.norm_a, np.minimum(h.norm_u, h.norm_m), rtol=1e-5)


def test_train_gan_does_not_touch_global_rng_and_recording_does_not_perturb():
    x, _ = grid_gaussians(1000, seed=0)
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = train_gan(x, beta=0.5, steps=20, record_at=[5, 20], n_record=50, **TINY)
    assert torch.equal(torch.rand(1), before)
    b = train_gan(x, beta=0.5, steps=20, record_at=[20], n_record=50, **TINY)
    assert np.array_equal(a.samples[20], b.samples[20])


def test_train_gan_beta_zero_and_unclipped():
    x, _ = swiss_roll(1000, seed=0)
    gan = train_gan(x, beta=0.0, steps=10, record_at=[10], n_record=50, **TINY)
    assert gan.mine is None and gan.history["mi"].isna().all()
    assert (gan.history.norm_m == 0).all() and (gan.history.norm_a == 0).all() and (gan.history.norm_u > 0).all()
    raw = train_gan(x, beta=50.0, steps=10, clip=False, record_at=[10], n_record=50, **TINY)
    assert np.allclose(raw.history.norm_a, raw.history.norm_m)
    assert (raw.history.norm_a > raw.history.norm_u).any()   # unclipped, beta 50: the MI gradient dominates


def test_train_gan_accepts_a_sampler_and_generate_is_seeded():
    run = train_gan(swiss_roll, beta=1.0, steps=5, record_at=[5], n_record=20, **TINY)
    assert np.isfinite(run.samples[5]).all()
    assert np.array_equal(generate(run.generator, 30, seed=1), generate(run.generator, 30, seed=1))


def test_train_gan_validates_and_names_the_diverged_step():
    x, _ = grid_gaussians(500, seed=0)
    with pytest.raises(ValueError, match="record_at"):
        train_gan(x, steps=5, record_at=[10], **TINY)
    with pytest.raises(ValueError, match="beta"):
        train_gan(x, beta=-1.0, steps=5, **TINY)
    with pytest.raises(ValueError, match="NaN"):
        train_gan(np.full((10, 2), np.nan), steps=5, **TINY)
    # Adam moves each weight by about lr per step: lr 1e30 overflows float32 within a few iterations
    with pytest.raises(TrainingDivergedError, match=r"non-finite at step [1-3] \(seed 0\);"):
        train_gan(x, beta=1.0, steps=6, chunk=3, **{**TINY, "lr": 1e30})


def test_cosine_schedule_and_batch_norm_switches():
    x, _ = grid_gaussians(500, seed=0)
    with pytest.raises(ValueError, match="lr_schedule"):
        train_gan(x, steps=2, lr_schedule="linear", **TINY)
    with pytest.raises(TypeError, match="g_batch_norm"):
        train_gan(x, steps=2, g_batch_norm="no", **TINY)
    plain = train_gan(x, steps=4, record_at=[4], **TINY)
    cosine = train_gan(x, steps=4, record_at=[4], lr_schedule="cosine", **TINY)
    # the first step is at the full step size either way; later ones are smaller under the cosine
    assert not np.array_equal(plain.samples[4], cosine.samples[4])
    assert plain.history.iloc[0].equals(cosine.history.iloc[0])
    no_bn = train_gan(x, steps=2, g_batch_norm=False, **TINY)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in no_bn.generator.modules())


def test_train_gan_stops_a_run_whose_losses_explode_while_still_finite():
    # At lr 1e3 the losses reach 1e13 without overflowing: finite, but no healthy run comes near.
    x, _ = grid_gaussians(500, seed=0)
    with pytest.raises(TrainingDivergedError,
                       match=r"(loss|mi|norm_\w) reached .* \(\|value\| > 1e\+0[68]\) at step \d+ \(seed 2\);"):
        train_gan(x, beta=1.0, steps=300, seed=2, **{**TINY, "lr": 1e3})


def test_config_and_keywords_are_one_thing():
    x, _ = grid_gaussians(500, seed=0)
    kw = dict(beta=1.0, steps=6, record_at=[6], n_record=20, g_hidden=(16, 16), d_hidden=(16, 16), t_hidden=(16, 16),
              batch_size=32, lr=1e-3)
    run = dict(device="cpu", progress=False, seed=1)
    by_keywords = train_gan(x, **kw, **run)
    cfg = GANConfig(**kw)
    by_config = train_gan(x, cfg, **run)
    overridden = train_gan(x, GANConfig(**{**kw, "lr": 5e-4, "record_at": [3]}), lr=1e-3, record_at=[6], **run)
    for other in (by_config, overridden):
        pd.testing.assert_frame_equal(other.history, by_keywords.history)
        assert np.array_equal(other.samples[6], by_keywords.samples[6]) and other.settings == by_keywords.settings
    # every setting of the config is in the record, with the run's own facts
    assert {f.name for f in dataclasses.fields(GANConfig)} <= set(by_config.settings)
    assert {"x_dim", "device", "seed", "stacked_with"} <= set(by_config.settings)
    assert by_config.settings["adam_betas"] == [0.5, 0.999] and by_config.settings["record_at"] == [6]
    assert train_gan(x, beta=0.0, steps=2, **{**TINY, "seed": 0}).settings["clip"] is None   # unused: None
    with pytest.raises(TypeError, match="unknown setting.*bta"):
        train_gan(x, bta=1.0, **TINY)
    with pytest.raises(TypeError, match="config must be a GANConfig"):
        train_gan(x, {"beta": 1.0}, **TINY)


@pytest.mark.parametrize("bad,error,name", [
    (dict(lr=-1), ValueError, "lr"), (dict(steps="many"), TypeError, "steps"), (dict(adam_betas=(0.5,)), ValueError,
     "adam_betas"), (dict(adam_betas=(0.5, 1.0)), ValueError, "adam_betas"), (dict(clip="no"), TypeError, "clip"),
    (dict(beta=float("nan")), ValueError, "beta"), (dict(batch_size=1), ValueError, "batch_size"),
    (dict(g_hidden=(16, 0)), ValueError, "g_hidden"), (dict(t_hidden="400"), TypeError, "t_hidden"),
    (dict(ema_rate=0.0), ValueError, "ema_rate"), (dict(chunk=0), ValueError, "chunk"),
    (dict(record_at=[-1]), ValueError, "record_at"), (dict(steps=5, record_at=[6]), ValueError, "record_at")])
def test_config_rejects_bad_settings_by_name(bad, error, name):
    with pytest.raises(error, match=name):
        GANConfig(**bad)
    with pytest.raises(error, match=name):
        dataclasses.replace(GANConfig(), **bad)


# ---------------------------------------------------------------- K seeds at once

@pytest.mark.parametrize("beta,clip", [(1.0, True), (1.0, False), (0.0, True)])
def test_train_gan_stacked_seeds_match_one_by_one(float64, beta, clip):
    data = [grid_gaussians(500, seed=s)[0] for s in range(3)]
    kw = dict(beta=beta, clip=clip, steps=12, record_at=[0, 12], n_record=40, chunk=5, **TINY)
    stacked = train_gan(data, seed=[4, 5, 6], **kw)
    assert len(stacked) == 3 and [r.settings["seed"] for r in stacked] == [4, 5, 6]
    for d, s, run in zip(data, (4, 5, 6), stacked):
        alone = train_gan(d, seed=s, **kw)
        cols = ["d_loss", "g_loss", "mi", "norm_u", "norm_m", "norm_a"]
        np.testing.assert_allclose(run.history[cols].to_numpy(), alone.history[cols].to_numpy(), rtol=1e-9, atol=1e-12)
        # Samples are float32 copies of float64 outputs that agree to ~1e-11 after 12 Adam steps: two such
        # values can round to neighbouring float32 values, one float32 ulp (at most eps32 * |v|) apart.
        eps32 = float(np.finfo(np.float32).eps)
        for step in (0, 12):
            np.testing.assert_allclose(run.samples[step], alone.samples[step], rtol=eps32, atol=1e-12)
        np.testing.assert_allclose(generate(run.generator, 30, seed=1), generate(alone.generator, 30, seed=1),
                                   rtol=eps32, atol=1e-12)
        if beta:
            torch.testing.assert_close(run.mine.log_ema, alone.mine.log_ema, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="one per seed"):
        train_gan(data[:2], seed=[1, 2, 3], **kw)


def test_train_gan_stacked_samplers_match_one_by_one(float64):
    # Learning x_dim must not draw from a member's data stream: member 1 would then differ from its run alone.
    kw = dict(beta=1.0, steps=6, record_at=[6], n_record=20, chunk=3, **TINY)
    stacked = train_gan([swiss_roll, grid_gaussians], seed=[4, 5], **kw)
    for sampler, s, run in zip((swiss_roll, grid_gaussians), (4, 5), stacked):
        alone = train_gan(sampler, seed=s, **kw)
        np.testing.assert_allclose(run.history.to_numpy(), alone.history.to_numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(run.samples[6], alone.samples[6], rtol=1e-9, atol=1e-12)


def test_train_gan_stacked_accepts_data_sets_of_different_sizes_and_rejects_bad_seeds():
    data = [grid_gaussians(n, seed=s)[0] for s, n in enumerate((300, 500))]
    runs = train_gan(data, seed=[0, 1], steps=3, **TINY)
    assert [r.settings["seed"] for r in runs] == [0, 1] and all(r.settings["stacked_with"] == 2 for r in runs)
    with pytest.raises(ValueError, match="non-empty"):
        train_gan(data[0], seed=[], steps=3, **TINY)
    with pytest.raises((TypeError, ValueError), match="seed"):
        train_gan(data[0], seed=[0, "1"], steps=3, **TINY)


def test_train_gan_takes_any_int_seed():
    """2**70 is a seed; 2**32 is not 0 in disguise."""
    x, _ = grid_gaussians(500, seed=0)
    run = lambda s: train_gan(x, beta=1.0, steps=4, record_at=[4], n_record=20, seed=s, **TINY)
    big, zero, wrapped = run(2**70), run(0), run(2**32)
    assert big.settings["seed"] == 2**70 and np.isfinite(big.samples[4]).all()
    assert not np.array_equal(zero.samples[4], wrapped.samples[4]) and not zero.history.equals(wrapped.history)
    assert not np.array_equal(big.samples[4], zero.samples[4])
    # generate draws the recorded samples' noise (stream "sample"); 2**70 works there too
    np.testing.assert_allclose(generate(big.generator, 20, seed=2**70), big.samples[4], rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="seed"):
        train_gan(x, steps=2, seed=1.0, **TINY)
    with pytest.raises(ValueError, match="seed"):
        generate(big.generator, 5, seed=-1)


def test_train_gan_int_seed_with_k_data_sets_means_its_replicates(float64):
    data = [grid_gaussians(300, seed=s)[0] for s in range(2)]
    kw = dict(beta=1.0, steps=6, record_at=[6], n_record=20, chunk=3, **TINY)
    by_int, by_list = train_gan(data, seed=9, **kw), train_gan(data, seed=seeding.replicate_seeds(9, 2), **kw)
    assert [r.settings["seed"] for r in by_int] == seeding.replicate_seeds(9, 2)
    for a, b in zip(by_int, by_list):
        assert a.history.equals(b.history) and np.array_equal(a.samples[6], b.samples[6])
    alone = train_gan(data[1], seed=seeding.replicate_seeds(9, 2)[1], **kw)     # a member is its seed alone
    np.testing.assert_allclose(by_int[1].history.to_numpy(), alone.history.to_numpy(), rtol=1e-9, atol=1e-12)
