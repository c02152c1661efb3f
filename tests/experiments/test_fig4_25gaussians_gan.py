"""Fig 4's experiment module: settings, the shared trainings (units), a smoke run with the ablation, the widget."""

import matplotlib
import numpy as np
import pytest

from minelib.experiments import fig4_25gaussians_gan as exp
from minelib.experiments import run, settings

matplotlib.use("Agg")


@pytest.mark.parametrize("override,match", [
    (dict(steps="many"), "'steps' must be an integer"),
    (dict(lr=-1), "'lr' must be in"),
    (dict(stepz=3), "unknown setting 'stepz'"),
    (dict(ablation_betas=[1.0, -2.0]), r"'ablation_betas\[1\]' must be in"),
    (dict(ablation_seeds=0), "'ablation_seeds' must be in"),
    (dict(g_hidden=[]), "'g_hidden' needs at least 1"),
])
def test_fig4_bad_overrides_fail_at_once_naming_the_key(override, match):
    with pytest.raises((TypeError, ValueError), match=match):
        settings(exp, "smoke", **override)


def test_fig4_settings_of_the_profiles():
    paper = settings(exp, "paper")
    assert (paper.seeds, paper.steps, paper.n_samples, paper.ablation_betas, paper.ablation_seeds) == \
        (5, 12_000, 2_500, (1.0, 10.0), 2)
    # the deviations of docs/diagnostics.md: no BatchNorm in G, Adam 1e-3 decaying to 0 (cosine)
    assert paper.lr_schedule == "cosine" and settings(exp, "quick").lr_schedule == "cosine"
    assert (paper.g_hidden, paper.d_hidden, paper.lr, paper.batch_size, paper.n_data, paper.g_batch_norm) == \
        ((500, 500), (400, 400, 400), 1e-3, 100, 100_000, False)
    assert settings(exp, "quick").curve_every == 1_000 and settings(exp, "smoke").curve_every == 10


def test_fig4_a_shared_run_is_one_unit():
    # paper: the ablation's clipped beta-1 runs (seeds 0-1) are the main MINEGAN's (seeds 0-4)
    keys = [u.key for u in exp.units(settings(exp, "paper"))]
    assert keys == ["beta0.0-clip-seeds0_1_2_3_4", "beta1.0-clip-seeds0_1_2_3_4", "beta1.0-noclip-seeds0_1",
                    "beta10.0-clip-seeds0_1", "beta10.0-noclip-seeds0_1"]
    # more ablation seeds than main ones: only the missing seeds train, as their own unit
    more = exp.trainings(settings(exp, "smoke", seeds=2, ablation_seeds=3, ablation_betas=[1.0]))
    assert more == [("main", 0.0, True, (0, 1)), ("main", 1.0, True, (0, 1)), ("ablation", 1.0, True, (2,)),
                    ("ablation", 1.0, False, (0, 1, 2))]
    # beta 0 for MINEGAN is the GAN's run; no ablation: the main grid only
    assert [t[1:] for t in exp.trainings(settings(exp, "smoke", beta=0, ablation=False))] == [(0.0, True, (0,))]


def test_fig4_experiment_smoke_run_with_ablation():
    cfg = settings(exp, "smoke", steps=10, curve_every=5)
    result = run(exp, cfg, device="cpu", progress=False)
    assert len(result["units"]) == 5  # 6 trainings: the clipped beta-1 ablation run is the main MINEGAN run
    assert len(exp.invariants(result)) == 5
    t = exp.summary(result)
    assert list(t["model"]) == ["GAN", "MINEGAN", "uniform noise", "data"] and t.loc[3, "modes_mean"] == 25
    assert t.loc[2, "seeds"] == cfg.reference_draws and 0 < t.loc[2, "hq_percent_mean"] < 5  # no skill: ~1 %
    a = exp.ablation_summary(result)
    assert len(a) == 4 and set(a["beta"]) == {1.0, 10.0} and set(a["clip"]) == {True, False}
    assert (a[a["clip"]]["max_norm_a_over_u"] <= 1 + 1e-5).all()
    assert np.array_equal(result["ablation_samples"][(1.0, True, 0)], result["samples"][("MINEGAN", 0)])
    assert list(result["settings"]) == ["GAN_seed0", "MINEGAN_seed0", "ablation_beta1_noclip_seed0",
                                        "ablation_beta10_clip_seed0", "ablation_beta10_noclip_seed0"]
    assert sorted(set(result["curves"]["step"])) == [0, 5, 10]
    assert all(c["held"] is None for c in exp.claims(result, "smoke"))
    assert len(exp.claims(result, "quick")) == 6
    assert len(exp.plot_curves(result).axes) == 3 and exp.plot_clipping(result).axes
    assert len([a for a in exp.plot(result).axes if a.get_visible()]) == 5  # data, noise, 2 models, colour bar


def test_fig4_without_the_ablation_runs_and_plots():
    # a documented notebook parameter: ablation=False used to crash in plotting after training
    result = run(exp, settings(exp, "smoke", steps=4, curve_every=2, ablation=False), device="cpu", progress=False)
    assert result["ablation"].empty and exp.plot_clipping(result) is None and exp.plot(result).axes
    assert len(exp.claims(result, "quick")) == 5


def _fake(modes_gan, modes_mg, hq=(60.0, 62.0, 58.0)):
    """A result with given per-seed mode counts (3 seeds), for the verdict logic alone."""
    import pandas as pd

    rows = [{"model": m, "seed": s, "modes": v, "hq_percent": h, "reverse_kl": 0.5}
            for m, vals in (("GAN", modes_gan), ("MINEGAN", modes_mg)) for s, (v, h) in enumerate(zip(vals, hq))]
    ref = pd.DataFrame([{"draw": r, "modes": 20 + r % 3, "hq_percent": 1.2, "reverse_kl": 0.3} for r in range(10)])
    return {"modes": pd.DataFrame(rows), "reference": ref, "ablation": pd.DataFrame()}


def test_fig4_claims_need_the_gap_to_beat_seed_noise_and_uniform_noise():
    more_modes = lambda r: exp.claims(r, "quick")[0]["verdict"]
    assert more_modes(_fake([15, 16, 17], [24, 24, 25])) == "held"
    # more modes than the GAN, but no more than a structureless cloud covers: not held
    assert more_modes(_fake([12, 13, 12], [17, 18, 17])) == "not held"
    # a gap inside the seeds' spread
    assert more_modes(_fake([15, 22, 17], [24, 17, 23])) == "within noise"
    quality = exp.claims(_fake([15, 16, 17], [24, 24, 25], hq=(40.0, 45.0, 42.0)), "quick")[4]
    assert quality["verdict"] == "not held" and quality["held"] is False


def test_fig4_explore_trains_one_model_for_the_widget():
    fig = exp.explore(beta=1.0, iterations=3, clip=False, profile="smoke")
    assert "3 it." in fig.axes[0].get_title()
