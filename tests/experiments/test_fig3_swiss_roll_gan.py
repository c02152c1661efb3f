"""Fig 3's experiment module: settings and snapshots, units, a smoke run, the plots and the widget."""

import matplotlib
import numpy as np
import pytest

from minelib.experiments import fig3_swiss_roll_gan as exp
from minelib.experiments import run, settings
from minelib.experiments.protocol import Unit

matplotlib.use("Agg")


def test_fig3_snapshots_are_fractions_of_steps():
    assert settings(exp, "paper").snapshots == [1_000, 3_000, 5_000]
    assert settings(exp, "quick").snapshots == [600, 1_800, 3_000]
    assert settings(exp, "smoke").snapshots == [10, 20, 30]
    # a steps override moves them along (smoke: thirds of training)
    assert settings(exp, "smoke", steps=12).snapshots == [4, 8, 12]
    assert settings(exp, "quick", steps=10).snapshots == [2, 6, 10]
    assert settings(exp, "smoke", steps=2, snapshot_fractions=[0.1, 0.5, 1.0]).snapshots == [1, 2]


@pytest.mark.parametrize("override,match", [
    (dict(steps="many"), "'steps' must be an integer"),
    (dict(lr=-1), "'lr' must be in"),
    (dict(stepz=3), "unknown setting 'stepz'"),
    (dict(snapshots=[5, 50]), "unknown setting 'snapshots'"),
    (dict(snapshot_fractions=[0.5, 1.5]), r"'snapshot_fractions\[1\]' must be at most 1"),
    (dict(snapshot_fractions=[0.0, 1.0]), r"'snapshot_fractions\[0\]' must be in \(0"),
    (dict(clip="yes"), "'clip' must be True or False"),
    (dict(batch_size=1), "'batch_size' must be in"),
])
def test_fig3_bad_overrides_fail_at_once_naming_the_key(override, match):
    with pytest.raises((TypeError, ValueError), match=match):
        settings(exp, "smoke", **override)


def test_fig3_one_unit_per_model():
    assert exp.units(settings(exp, "smoke", beta=2)) == [Unit("GAN", {"beta": 0.0}), Unit("MINEGAN", {"beta": 2.0})]


def test_fig3_experiment_smoke_run():
    cfg = settings(exp, "smoke", steps=10, curve_every=5)
    result = run(exp, cfg, device="cpu", progress=False)
    assert [u["unit"] for u in result["units"]] == ["GAN", "MINEGAN"]
    assert len(exp.invariants(result)) == 3
    s = exp.summary(result)
    assert set(s["model"]) == {"GAN", "MINEGAN"} and sorted(set(s["step"])) == [3, 7, 10]
    assert sorted(set(result["coverage"]["step"])) == [0, 3, 5, 7, 10]
    assert list(result["settings"]) == ["GAN_seed0", "MINEGAN_seed0"]
    claims = exp.claims(result, "smoke")
    assert claims and all(c["held"] is None for c in claims)
    assert all(isinstance(c["held"], bool) for c in exp.claims(result, "quick"))
    for fig in (exp.plot(result), exp.plot_coverage(result), exp.plot_step(result, 6)):
        assert fig.axes
    assert len(exp.plot_coverage(result).axes) == 2


def test_fig3_explore_trains_one_model_for_the_widget():
    fig = exp.explore(beta=1.0, iterations=3, profile="smoke")
    assert "3 iterations" in fig.axes[0].get_title()
    assert np.isfinite(fig.axes[0].collections[1].get_offsets()).all()
