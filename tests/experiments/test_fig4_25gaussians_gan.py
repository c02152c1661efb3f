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
        (5, 5_000, 2_500, (1.0, 10.0), 3)
    assert (paper.g_hidden, paper.d_hidden, paper.lr, paper.batch_size, paper.n_data) == \
        ((500, 500), (400, 400, 400), 1e-4, 100, 100_000)
    assert settings(exp, "quick").curve_every == 500 and settings(exp, "smoke").curve_every == 10


def test_fig4_a_shared_run_is_one_unit():
    # paper: the ablation's clipped beta-1 runs (seeds 0-2) are the main MINEGAN's (seeds 0-4)
    keys = [u.key for u in exp.units(settings(exp, "paper"))]
    assert keys == ["beta0.0-clip-seeds0_1_2_3_4", "beta1.0-clip-seeds0_1_2_3_4", "beta1.0-noclip-seeds0_1_2",
                    "beta10.0-clip-seeds0_1_2", "beta10.0-noclip-seeds0_1_2"]
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
    assert list(t["model"]) == ["GAN", "MINEGAN", "data"] and t.loc[2, "modes_mean"] == 25
    a = exp.ablation_summary(result)
    assert len(a) == 4 and set(a["beta"]) == {1.0, 10.0} and set(a["clip"]) == {True, False}
    assert (a[a["clip"]]["max_norm_a_over_u"] <= 1 + 1e-5).all()
    assert np.array_equal(result["ablation_samples"][(1.0, True, 0)], result["samples"][("MINEGAN", 0)])
    assert list(result["settings"]) == ["GAN_seed0", "MINEGAN_seed0", "ablation_beta1_noclip_seed0",
                                        "ablation_beta10_clip_seed0", "ablation_beta10_noclip_seed0"]
    assert sorted(set(result["curves"]["step"])) == [0, 5, 10]
    assert all(c["held"] is None for c in exp.claims(result, "smoke"))
    assert len(exp.claims(result, "quick")) == 5
    assert len(exp.plot_curves(result).axes) == 3 and exp.plot_clipping(result).axes


def test_fig4_explore_trains_one_model_for_the_widget():
    fig = exp.explore(beta=1.0, iterations=3, clip=False, profile="smoke")
    assert "3 it." in fig.axes[0].get_title()
