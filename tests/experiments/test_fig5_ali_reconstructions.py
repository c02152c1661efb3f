"""Fig 5's experiment module: settings, units (one per model, seeds stacked), a smoke run that resumes, the widget
(training itself: tests/test_bidirectional.py)."""

import warnings

import matplotlib
import numpy as np
import pytest

from minelib.experiments import fig5_ali_reconstructions as exp
from minelib.experiments import run, settings
from minelib.experiments.protocol import Unit

matplotlib.use("Agg")


@pytest.mark.parametrize("override,match", [
    (dict(steps="many"), "'steps' must be an integer"),
    (dict(lr=-1), "'lr' must be in"),
    (dict(stepz=3), "unknown setting 'stepz'"),
    (dict(variants=["ali", "vae"]), r"'variants\[1\]' must be one of"),
    (dict(variants=["ali", "ali"]), "'variants' names a model twice"),
    (dict(adam_betas=[0.5]), "'adam_betas' needs at least 2"),
    (dict(adam_betas=[0.5, 1.0]), "'adam_betas' needs 2 entries"),
    (dict(hidden=[]), "'hidden' needs at least 1"),
    (dict(enc_noise=-0.5), "'enc_noise' must be in"),
])
def test_fig5_bad_overrides_fail_at_once_naming_the_key(override, match):
    with pytest.raises((TypeError, ValueError), match=match):
        settings(exp, "smoke", **override)


def test_fig5_settings_of_the_profiles():
    paper = settings(exp, "paper")
    assert (paper.seeds, paper.steps, paper.batch_size, paper.lr, paper.adam_betas) == (5, 10_000, 128, 1e-3, (0.5, 0.999))
    assert (paper.hidden, paper.t_hidden, paper.n_data, paper.n_test, paper.n_samples) == \
        ((256, 256), (400, 400, 400), 100_000, 2_500, 2_500)
    assert (paper.enc_noise, paper.lam, paper.adv_weight, paper.beta, paper.clip) == (1.0, 1.0, 0.1, 1.0, True)
    quick, smoke = settings(exp, "quick"), settings(exp, "smoke")
    assert (quick.seeds, quick.steps, quick.hidden, quick.n_data) == (3, 5_000, (128, 128), 100_000)
    assert paper.contrast_noises == quick.contrast_noises == (0.1,) and paper.noises() == (1.0, 0.1)
    assert (smoke.seeds, smoke.steps, smoke.t_hidden, smoke.n_data) == (1, 30, (32, 32, 32), 2_000)


def test_fig5_one_unit_per_model_and_encoder_noise_in_the_order_asked():
    assert exp.units(settings(exp, "smoke", variants=["ali_mine", "ali"], contrast_noises=[0.3])) == [
        Unit("ali_mine", {"variant": "ali_mine"}), Unit("ali", {"variant": "ali"}),
        Unit("ali_mine_sigma0.3", {"variant": "ali_mine", "enc_noise": 0.3}),
        Unit("ali_sigma0.3", {"variant": "ali", "enc_noise": 0.3})]
    assert [u.key for u in exp.units(settings(exp, "paper", contrast_noises=[]))] == [
        "ali", "alice_l2", "alice_adv", "ali_mine"]
    # a contrast equal to the paper's noise is not trained twice
    assert len(exp.units(settings(exp, "paper", contrast_noises=[1.0]))) == 4


def test_fig5_experiment_smoke_run_resumes_from_its_cache(tmp_path):
    cfg = settings(exp, "smoke", steps=10, n_data=500, n_test=200, n_samples=200)
    result = run(exp, cfg, device="cpu", progress=False, out_dir=tmp_path)
    assert [u["status"] for u in result["units"]] == ["computed"] * 8
    by_noise = exp.results_by_noise(result)
    assert list(by_noise) == [1.0, 0.1] and all((r["scores"].enc_noise == s).all() for s, r in by_noise.items())
    contrast = result["contrasts"][0.1]
    # same data and initial weights at both noises: only the encoder noise differs
    assert np.array_equal(contrast["test"][0], result["test"][0])
    assert not np.array_equal(contrast["panels"][("ALI", 0)]["emb"], result["panels"][("ALI", 0)]["emb"])
    s = exp.summary(result)
    assert list(s.model) == [*exp.MODELS, "uniform noise"]
    # chance: a point against another point's reconstruction; the grid's spread makes it large (about 32)
    assert (result["scores"].chance_mse > 5).all()
    assert len(exp.invariants(result)) == 4
    claims = exp.claims(result, "smoke")
    assert len(claims) == 8 and all(c["held"] is None for c in claims)
    assert [c["claim"].startswith("At sigma = 0.1: ") for c in claims] == [False] * 4 + [True] * 4
    assert {c["held"] for c in exp.claims(result, "quick")} <= {True, False}
    m = exp.metrics(result)
    assert {"recon_mse_ali", "modes_ali_mine", "hq_percent_std_ali", "hq_percent_ali_sigma0.1",
            "recon_mse_ali_mine_sigma0.1"} <= set(m)
    assert list(result["settings"]) == ["ali_seed0", "alice_l2_seed0", "alice_adv_seed0", "ali_mine_seed0"]
    assert result["test"][0].shape == (200, 2) and list(result["history"].columns[:3]) == ["model", "seed", "step"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fixed limits with equal aspect used to warn 16 times
        assert len(exp.plot(result).axes) == 12
        assert "sigma = 0.1" in exp.plot(contrast)._suptitle.get_text()
    assert len({tuple(c) for c in exp.mode_colours()}) == 25
    again = run(exp, cfg, device="cpu", progress=False, out_dir=tmp_path)
    assert [u["status"] for u in again["units"]] == ["reused"] * 8
    assert again["scores"].equals(result["scores"])
    assert np.array_equal(again["panels"][("ALI+MINE", 0)]["emb"], result["panels"][("ALI+MINE", 0)]["emb"])


def test_fig5_claims_judge_against_chance_and_seed_noise():
    import pandas as pd

    def fake(mine_mse, mine_chance):
        rows = [{"model": m, "seed": s, "recon_mse": mse[s], "chance_mse": ch[s], "modes": md[s],
                 "hq_percent": (5.0, 6.0, 4.0)[s] if m == "ALI" else 1.0}
                for m, mse, ch, md in (("ALI", (30, 31, 29), (32, 33, 31), (6, 7, 6)),
                                       ("ALICE (L2)", (3, 3.2, 2.9), (32, 32, 32), (8, 7, 8)),
                                       ("ALICE (A)", (4, 4.1, 3.8), (32, 32, 32), (7, 8, 7)),
                                       ("ALI+MINE", mine_mse, mine_chance, (12, 13, 12))) for s in range(3)]
        ref = pd.DataFrame({"modes": [9, 10, 11, 10], "hq_percent": 1.2, "reverse_kl": 0.3})
        return {"scores": pd.DataFrame(rows), "reference": ref}

    assert exp.claims(fake((20, 21, 19), (32, 31, 33)), "quick")[2]["verdict"] == "held"
    # better than ALI but no better than reconstructing someone else's point
    assert exp.claims(fake((28, 26, 27), (27, 28, 26)), "quick")[2]["verdict"] == "within noise"
    assert exp.claims(fake((20, 21, 19), (32, 31, 33)), "quick")[1]["verdict"] == "held"
    # the precondition: ALI's 4-6 % of samples on the modes against uniform noise's 1.2 %
    assert exp.claims(fake((20, 21, 19), (32, 31, 33)), "quick")[0]["verdict"] == "held"
    at_noise = fake((20, 21, 19), (32, 31, 33))
    at_noise["scores"]["hq_percent"] = 1.2
    assert exp.claims(at_noise, "quick")[0]["verdict"] != "held"


def test_fig5_claims_need_all_four_models():
    result = run(exp, settings(exp, "smoke", steps=3, n_data=300, n_test=100, n_samples=100,
                               variants=["ali", "ali_mine"]), device="cpu", progress=False)
    assert [c["held"] for c in exp.claims(result, "quick")] == [None, None]  # one per encoder noise


def test_fig5_explore_trains_one_model_for_the_widget():
    fig = exp.explore(variant="ali", steps=3, device="cpu")
    assert len(fig.axes) == 3 and fig.axes[0].get_title().startswith("ALI\n")
