"""Fig 1's experiment module: settings, the stacked members and their seeds, units, a smoke run, the widget."""

import matplotlib
import pytest

from minelib.experiments import fig1_gaussian_mi as exp
from minelib.experiments import run, settings
from minelib.experiments.protocol import Unit

matplotlib.use("Agg")


def test_fig1_settings_are_the_profiles_with_overrides():
    cfg = settings(exp, "smoke", steps=7, n=None)
    assert cfg.steps == 7 and cfg.n == exp.PROFILES["smoke"]["n"] and cfg.dims == (2,)
    paper = settings(exp, "paper")
    assert (paper.dims, paper.seeds, paper.n, paper.steps, paper.batch_size, paper.hidden, paper.lr) == \
        ((2, 20), 5, 300_000, 10_000, 256, (400, 400, 400), 1e-4)
    assert (paper.n_ksg, paper.k, paper.ema_rate, paper.activation) == (10_000, 3, 0.01, "elu")
    quick = settings(exp, "quick")
    assert (quick.n, quick.steps, quick.batch_size, quick.hidden, quick.test_fraction) == \
        (60_000, 4_000, 256, (100, 100), 1 / 6)


@pytest.mark.parametrize("override,match", [
    (dict(steps="many"), "'steps' must be an integer"),
    (dict(lr=-1), "'lr' must be in"),
    (dict(stepz=3), "unknown setting 'stepz'"),
    (dict(activation="gelu"), "'activation' must be one of"),
    (dict(dims=[2, 0]), r"'dims\[1\]' must be in"),
    (dict(n=100, n_ksg=500), "'n_ksg' .* must not exceed 'n'"),
])
def test_fig1_bad_overrides_fail_at_once_naming_the_key(override, match):
    with pytest.raises((TypeError, ValueError), match=match):
        settings(exp, "smoke", **override)
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        settings(exp, "fast")


def test_fig1_members_and_their_seeds():
    cfg = settings(exp, "smoke", seeds=2)
    grid = exp.members(cfg)
    assert len(grid) == 26 and grid[0] == (-0.99, 0) and grid[13] == (-0.99, 1)
    seeds = [exp.member_seed(7, s, i) for i, (_, s) in enumerate(grid)]
    others = [exp.member_seed(8, s, i) for i, (_, s) in enumerate(grid)]
    assert len(set(seeds)) == 26 and not set(seeds) & set(others)   # distinct within and across base seeds


def test_fig1_one_unit_per_stacked_model_and_ksg_per_dimension():
    cfg = settings(exp, "smoke", dims=[2, 3])
    assert exp.units(cfg) == [Unit(f"d{d}-{m}", {"dim": d, "method": m}) for d in (2, 3) for m in ("dv", "nwj", "ksg")]


def test_fig1_smoke_run_holds_its_invariants_and_is_not_judged(tmp_path):
    cfg = settings(exp, "smoke", steps=20, n=600, n_ksg=200)
    result = run(exp, cfg, device="cpu", progress=False, out_dir=tmp_path)
    assert len(exp.invariants(result)) == 3
    e = result["estimates"]
    assert list(e["method"].unique()) == list(exp.METHODS.values()) and len(e) == 39
    assert list(result["settings"]) == ["d2_dv", "d2_nwj"] and len(result["critics"]) == 26
    assert all(c["held"] is None for c in exp.claims(result, "smoke"))
    again = run(exp, cfg, device="cpu", progress=False, out_dir=tmp_path)
    assert [u["status"] for u in again["units"]] == ["reused"] * 3
    assert again["estimates"].equals(e)


def test_fig1_explore_draws_the_widget_figure():
    # Fig 2's widget calls it with these keywords
    fig = exp.explore(rho=0.5, dim=2, bound="nwj", steps=20, n=400)
    assert fig.axes and "truth" in fig.axes[0].get_title()
