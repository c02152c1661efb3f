"""Information bottleneck (eq. 24): the three encoders, VIB's KL, the one training loop and its settings."""
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from minelib import TrainingDivergedError, seeding
from minelib.bottleneck import (MODELS, BottleneckArchitecture, BottleneckConfig, BottleneckModel, StochasticEncoder,
                                gaussian_kl, make_model, train_bottleneck)

# Small sizes keep every test well under a second of training.
SMALL = dict(x_dim=20, hidden=(32, 32), z_dim=8, critic_hidden=(16, 16))


def _blobs(n, seed=0, classes=4):
    """Images in [0, 1]: class k lights up its own block of pixels, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = 0.2 * rng.random((n, 20))
    for k in range(classes):
        x[y == k, 5 * k:5 * k + 5] += 0.7
    return x.clip(0, 1).astype(np.float32), y


def _train(model, epochs=2, n=400, **kw):
    x, y = _blobs(n)
    xt, yt = _blobs(200, seed=1)
    kw = dict(dict(batch_size=50, lr=2e-3, critic_lr=1e-3, progress=False, test_samples=4), **kw)
    return train_bottleneck(model, x, y, xt, yt, epochs=epochs, **kw)


# --- architecture -----------------------------------------------------------------------------------

def test_table3_architecture():
    """Table 3 (after VIB and the ICML version): 784-1024-1024 ReLU trunk, z of 256, linear softmax decoder,
    the noisy 2 x 512 critic."""
    m = make_model("MINE (Propagated)")
    enc = m.encoder
    assert [tuple(layer.weight.shape) for layer in enc.layers] == [(1024, 784 + 100), (1024, 1024)]
    assert tuple(enc.head.weight.shape) == (256, 1024) and enc.noise_dim == 100
    assert tuple(m.classifier.decoder.weight.shape) == (10, 256)
    net = m.mine.network
    assert [tuple(w.shape[1:]) for w in net.weights] == [(784 + 256, 512), (512, 512), (512, 1)]
    assert (net.input_noise, net.hidden_noise, net.activation) == (0.3, 0.5, "elu")
    assert m.mine.bound == "dv" and m.mine.ema_rate == 0.01 and m.beta == 1e-3
    gauss = make_model("VIB")
    assert tuple(gauss.encoder.head.weight.shape) == (512, 1024) and gauss.mine is None
    assert make_model("MINE (Additive)").encoder.input_sigma == 0.3
    assert set(MODELS) == {"VIB", "MINE (Gaussian)", "MINE (Propagated)", "MINE (Additive)"}


@pytest.mark.parametrize("kind", ["gaussian", "additive", "propagated"])
def test_encoders_are_stochastic_with_the_right_shapes(kind):
    torch.manual_seed(0)
    enc = StochasticEncoder(kind, x_dim=20, hidden=(32, 32), z_dim=8)
    x = torch.rand(30, 20) * 2 - 1
    code = enc(x)
    assert code.z.shape == (30, 8)
    assert (code.mu is not None) == (kind == "gaussian")
    assert not torch.equal(enc(x).z, enc(x).z)  # noise is drawn in every call
    assert enc.sample(x, 5).shape == (5, 30, 8)
    enc.eval()
    assert not torch.equal(enc(x).z, enc(x).z)  # the encoder is a distribution in eval mode too


def test_gaussian_encoder_scale_is_softplus_shifted_by_five():
    torch.manual_seed(0)
    enc = StochasticEncoder("gaussian", x_dim=20, hidden=(32,), z_dim=8)
    x = torch.rand(10, 20)
    code = enc(x)
    mu, s = enc.head(F.relu(enc.layers[0](x))).chunk(2, dim=-1)
    torch.testing.assert_close(code.mu, mu)
    torch.testing.assert_close(code.sigma, F.softplus(s - 5.0))
    draws = enc.sample(x, 4000)
    torch.testing.assert_close(draws.mean(0), mu, atol=4 * code.sigma.max().item() / math.sqrt(4000) + 1e-6, rtol=0)


def test_additive_and_propagated_noise_enter_where_the_paper_says():
    x = torch.rand(10, 20) * 2 - 1
    add = StochasticEncoder("additive", x_dim=20, hidden=(32,), z_dim=8, input_sigma=0.3)
    torch.manual_seed(1)
    z = add(x).z
    torch.manual_seed(1)
    noisy = x + 0.3 * torch.randn_like(x)
    torch.testing.assert_close(z, add.head(F.relu(add.layers[0](noisy))))
    add.input_sigma = 0.0
    assert torch.equal(add(x).z, add(x).z)  # no noise, no randomness

    prop = StochasticEncoder("propagated", x_dim=20, hidden=(32,), z_dim=8, noise_dim=6)
    torch.manual_seed(2)
    z = prop(x).z
    torch.manual_seed(2)
    eps = torch.randn(10, 6)
    torch.testing.assert_close(z, prop.head(F.relu(prop.layers[0](torch.cat([x, eps], 1)))))


def test_gaussian_kl_matches_torch_distributions():
    mu, sigma = torch.randn(5, 8), torch.rand(5, 8) + 0.05
    want = torch.distributions.kl_divergence(torch.distributions.Normal(mu, sigma),
                                             torch.distributions.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, sigma), want)
    assert torch.isfinite(gaussian_kl(mu, torch.zeros(5, 8))).all()  # sigma underflow stays finite


def test_predict_proba_averages_softmax_over_samples():
    torch.manual_seed(0)
    clf = BottleneckModel("gaussian", "vib", **{k: v for k, v in SMALL.items() if k != "critic_hidden"}).classifier
    with torch.no_grad():
        clf.encoder.head.bias[8:] += 6.0  # a wide posterior, so draws differ
    x = torch.rand(50, 20)
    p = clf.predict_proba(x, samples=12, rows=16)
    assert p.shape == (50, 10)
    torch.testing.assert_close(p.sum(-1), torch.ones(50))
    torch.manual_seed(3)
    p = clf.predict_proba(x, samples=12)
    torch.manual_seed(3)
    want = F.softmax(clf.decoder(clf.encoder.sample(x, 12)), -1).mean(0)
    torch.testing.assert_close(p, want)
    err = clf.error_rate(x, torch.zeros(50, dtype=torch.long))
    assert 0 <= err <= 100 and (err * 50 / 100) == round(err * 50 / 100)


def test_model_arguments_are_checked():
    with pytest.raises(ValueError, match="VIB regulariser needs the Gaussian encoder"):
        BottleneckModel("additive", "vib")
    with pytest.raises(ValueError, match="unknown encoder 'dropout'; accepted: additive, gaussian, propagated"):
        BottleneckModel("dropout", "mine")
    with pytest.raises(ValueError, match="unknown regularizer 'kl'"):
        BottleneckModel("gaussian", "kl")
    with pytest.raises(ValueError, match="beta must lie in"):
        BottleneckModel("gaussian", "mine", beta=-1.0)
    with pytest.raises(ValueError, match="unknown model 'MINE'; accepted: VIB, MINE"):
        make_model("MINE")


def test_initial_weights_are_seeded_without_touching_the_global_generator():
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a = BottleneckModel("propagated", "mine", seed=7, **SMALL)
    after = torch.rand(1)
    b = BottleneckModel("propagated", "mine", seed=7, **SMALL)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


# --- training -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_every_table3_model_learns_with_the_one_loop(name):
    model = make_model(name, seed=0, **SMALL)
    res = _train(model, epochs=4, eval_every=4)
    assert res.test_error < 30  # chance is 75%
    h, ev = res.history, res.evals
    assert list(h.columns) == ["step", "epoch", "lr", "loss", "ce", "train_error", "kl", "mi", "critic_loss"]
    assert h["step"].iloc[-1] == res.settings["steps"] == 4 * 8
    assert h["ce"].iloc[-1] < h["ce"].iloc[0]
    assert list(ev["step"]) == list(range(4, 33, 4)) and ev["test_error"].between(0, 100).all()
    if name == "VIB":
        assert (h["kl"] > 0).all() and h["mi"].isna().all() and ev["mi_test"].isna().all()
        np.testing.assert_allclose(h["loss"], h["ce"] + 1e-3 * h["kl"], rtol=1e-5)
    else:
        assert np.isfinite(h["mi"]).all() and np.isfinite(ev["mi_test"]).all() and h["kl"].isna().all()
        np.testing.assert_allclose(h["loss"], h["ce"] + 1e-3 * h["mi"], rtol=1e-4, atol=1e-6)


def test_learning_rates_decay_on_schedule_for_both_networks():
    res = _train(make_model("MINE (Gaussian)", seed=0, **SMALL), epochs=5, lr=1e-3, critic_lr=4e-4, lr_decay=0.5,
                 decay_every=2, log_every=8)
    assert res.history["lr"].tolist() == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    assert res.settings["critic_lr"] == 4e-4 and res.settings["lr_decay"] == 0.5


def test_critic_loss_never_reaches_the_encoder_and_vice_versa():
    """With beta 0, MINE's classifier follows plain cross-entropy exactly, and its critic follows a
    passive critic (one that only reports I(X; Z)) exactly: the two gradients stay apart."""
    kw = dict(input_sigma=0.0, **SMALL)  # a deterministic encoder: the same noise draws in both runs
    a = _train(BottleneckModel("additive", "mine", beta=0.0, seed=1, **kw), seed=3).model
    b = _train(BottleneckModel("additive", "none", beta=0.0, seed=1, monitor_mi=True, **kw), seed=3).model
    for pa, pb in zip(a.classifier.parameters(), b.classifier.parameters()):
        torch.testing.assert_close(pa, pb)
    for pa, pb in zip(a.mine.parameters(), b.mine.parameters()):
        torch.testing.assert_close(pa, pb)
    c = _train(BottleneckModel("additive", "mine", beta=1.0, seed=1, **kw), seed=3).model
    assert not torch.equal(c.encoder.head.weight, a.encoder.head.weight)  # with beta > 0 MI does reach it


def test_training_is_seeded_and_leaves_inputs_and_global_rng_alone():
    x, y = _blobs(200)
    x0 = x.copy()
    torch.manual_seed(11)
    state = torch.get_rng_state()
    runs = [train_bottleneck(make_model("MINE (Additive)", seed=0, **SMALL), x, y, x, y, epochs=1, batch_size=50,
                             seed=s, progress=False, test_samples=2) for s in (4, 4, 5)]
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(x, x0)  # 2x - 1 is applied to a copy
    pd.testing.assert_frame_equal(runs[0].history, runs[1].history)
    assert runs[0].test_error == runs[1].test_error
    assert not runs[0].history["ce"].equals(runs[2].history["ce"])


def test_polyak_averaging_is_optional_and_a_zero_decay_is_the_raw_weights():
    raw = _train(make_model("VIB", seed=0, **SMALL), seed=2)
    same = _train(make_model("VIB", seed=0, **SMALL), seed=2, polyak=0.0)
    averaged = _train(make_model("VIB", seed=0, **SMALL), seed=2, polyak=0.9)
    assert raw.settings["polyak"] is None  # off by default
    assert same.test_error == raw.test_error
    pd.testing.assert_frame_equal(same.evals, raw.evals)
    assert 0 <= averaged.test_error <= 100 and averaged.settings["polyak"] == 0.9


def test_a_non_finite_loss_stops_training_and_names_the_step():
    model = make_model("MINE (Gaussian)", seed=0, **SMALL)
    calls = {"n": 0}

    def poison(module, inputs, output):
        calls["n"] += 1
        return output * math.nan if calls["n"] == 7 else output

    model.classifier.decoder.register_forward_hook(poison)
    with pytest.raises(TrainingDivergedError, match="non-finite at step 7"):
        _train(model, log_every=5)
    vib = make_model("VIB", seed=0, **SMALL)
    with torch.no_grad():
        vib.classifier.decoder.weight.fill_(math.inf)
    with pytest.raises(TrainingDivergedError, match=r"at step 1 \(seed 0\);"):
        _train(vib)


def test_config_and_keywords_are_one_thing():
    kw = dict(epochs=2, batch_size=50, lr=2e-3, critic_lr=1e-3, test_samples=4)
    a = _train(make_model("MINE (Additive)", seed=0, **SMALL), **kw)
    x, y = _blobs(400)
    xt, yt = _blobs(200, seed=1)
    model = make_model("MINE (Additive)", seed=0, architecture=BottleneckArchitecture(**SMALL))
    b = train_bottleneck(model, x, y, xt, yt, BottleneckConfig(**{**kw, "lr": 1.0}), lr=2e-3, progress=False)
    pd.testing.assert_frame_equal(a.history, b.history)
    assert a.test_error == b.test_error and a.settings == b.settings
    assert b.model.architecture == BottleneckArchitecture(**SMALL)
    # every setting of the config, with the step counts resolved, and the run's facts
    assert {f.name for f in dataclasses.fields(BottleneckConfig)} <= set(a.settings)
    assert (a.settings["eval_every"], a.settings["log_every"], a.settings["steps_per_epoch"]) == (8, 1, 8)
    assert a.settings["adam_betas"] == [0.5, 0.999] and a.settings["critic"] is True
    with pytest.raises(TypeError, match="unknown setting.*hiden"):
        make_model("VIB", hiden=(4,))
    with pytest.raises(ValueError, match="adam_betas"):
        _train(make_model("VIB", seed=0, **SMALL), adam_betas=(0.5, 1.0))


def test_bad_data_and_settings_raise_clearly():
    model = make_model("VIB", seed=0, **SMALL)
    x, y = _blobs(100)
    with pytest.raises(ValueError, match=r"x_train must be images scaled to \[0, 1\]"):
        train_bottleneck(model, x * 2 - 1, y, x, y, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"x_test must have shape \(n, 20\)"):
        train_bottleneck(model, x, y, x[:, :10], y, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"y_train must hold labels in 0..9"):
        train_bottleneck(model, x, y + 10, x, y, epochs=1, progress=False)
    with pytest.raises(TypeError, match="y_train must hold integer class labels"):
        train_bottleneck(model, x, y.astype(float), x, y, epochs=1, progress=False)
    with pytest.raises(ValueError, match="x_train contains NaN"):
        train_bottleneck(model, np.full_like(x, np.nan), y, x, y, epochs=1, progress=False)
    with pytest.raises(ValueError, match="batch_size=200 is more than the 100 training images"):
        train_bottleneck(model, x, y, x, y, epochs=1, batch_size=200, progress=False)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        train_bottleneck(model, x, y, x, y, epochs=0, progress=False)
    with pytest.raises(TypeError, match="model must be a BottleneckModel"):
        train_bottleneck(torch.nn.Linear(2, 2), x, y, x, y, epochs=1)


@pytest.mark.parametrize("name,polyak", [(n, None) for n in MODELS] + [("MINE (Additive)", 0.9)])
def test_stacked_models_match_one_by_one(float64, name, polyak):
    """K models trained as one get what each gets alone: minibatch order, encoder noise, the critic's noise
    layers and shuffles, evaluations, the final multi-draw test error (and the Polyak average)."""
    x, y = _blobs(300)
    xt, yt = _blobs(120, seed=1)
    kw = dict(epochs=2, batch_size=50, lr=2e-3, critic_lr=1e-3, eval_every=3, log_every=2, polyak=polyak,
              progress=False, test_samples=3)
    build = lambda s: make_model(name, beta=1e-2, seed=s, monitor_mi=True, **SMALL)
    runs = train_bottleneck([build(s) for s in (3, 4, 5)], x, y, xt, yt, seed=[7, 8, 9], **kw)
    assert [r.settings["seed"] for r in runs] == [7, 8, 9] and runs[0].settings["stacked_with"] == 3
    for s, t, run in zip((3, 4, 5), (7, 8, 9), runs):
        alone = train_bottleneck(build(s), x, y, xt, yt, seed=t, **kw)
        np.testing.assert_allclose(run.history.to_numpy(), alone.history.to_numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(run.evals.to_numpy(), alone.evals.to_numpy(), rtol=1e-9, atol=1e-12)
        assert run.test_error == alone.test_error
        # Adam's normalised steps carry float64 rounding of near-zero gradients to about 1e-12 in 12 steps.
        for (key, a), b in zip(run.model.state_dict().items(), alone.model.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10, msg=key)
    with pytest.raises(ValueError, match="a list of 3 seeds, one per model; got a list of 2"):
        train_bottleneck([build(s) for s in (3, 4, 5)], x, y, xt, yt, seed=[1, 2], **kw)


def test_int_seed_with_k_models_means_its_replicates():
    x, y = _blobs(200)
    kw = dict(epochs=1, batch_size=50, progress=False, test_samples=2)
    build = lambda: [make_model("MINE (Additive)", seed=s, **SMALL) for s in (3, 4)]
    by_int = train_bottleneck(build(), x, y, x, y, seed=5, **kw)
    by_list = train_bottleneck(build(), x, y, x, y, seed=seeding.replicate_seeds(5, 2), **kw)
    assert [r.settings["seed"] for r in by_int] == seeding.replicate_seeds(5, 2)
    for a, b in zip(by_int, by_list):
        pd.testing.assert_frame_equal(a.history, b.history)
        assert a.test_error == b.test_error


def test_any_int_seed_is_its_own_seed():
    """2**70 seeds the model and the run; 2**32 is not 0 in disguise."""
    x, y = _blobs(200)
    run = lambda model_seed, seed: train_bottleneck(make_model("MINE (Additive)", seed=model_seed, **SMALL), x, y, x, y,
                                                    epochs=1, batch_size=50, seed=seed, progress=False, test_samples=2)
    big, zero, wrapped = run(2**70, 2**70), run(0, 0), run(0, 2**32)
    assert big.settings["seed"] == 2**70 and np.isfinite(big.history["loss"]).all()
    assert not zero.history["ce"].equals(wrapped.history["ce"])
    a, b = (BottleneckModel("additive", "mine", seed=s, **SMALL) for s in (0, 2**32))
    assert not torch.equal(a.encoder.head.weight, b.encoder.head.weight)
    assert not torch.equal(a.mine.network.weights[0], b.mine.network.weights[0])
    with pytest.raises(TypeError, match="seed"):
        BottleneckModel("additive", "mine", seed=2.0, **SMALL)


def test_evaluating_never_moves_the_training_draws():
    """Evaluations draw the encoder's noise from their own stream: how often a run evaluates leaves its
    training alone."""
    often, rarely = (_train(make_model("MINE (Gaussian)", seed=0, **SMALL), epochs=1, eval_every=e, seed=4)
                     for e in (1, 8))
    pd.testing.assert_frame_equal(often.history, rarely.history)
    assert len(often.evals) == 8 and len(rarely.evals) == 1
