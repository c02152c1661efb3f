"""Fig 1's experiment module: settings, the float32 data, the stacked members and their seeds, units, the claims'
verdicts, the figure, a smoke run, the widget."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from minelib.data import correlated_gaussian, gaussian_mi

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
    assert (quick.dims, quick.seeds, quick.n, quick.steps, quick.batch_size, quick.hidden, quick.test_fraction,
            quick.n_ksg) == ((2, 20), 3, 30_000, 2_500, 256, (100, 100), 1 / 6, 3_000)


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
    assert list(e["method"].unique()) == list(exp.METHODS.values()) and len(e) == 78  # 13 rho x 2 seeds x 3
    assert list(result["settings"]) == ["d2_dv", "d2_nwj"] and len(result["critics"]) == 52
    assert all(c["held"] is None for c in exp.claims(result, "smoke"))
    again = run(exp, cfg, device="cpu", progress=False, out_dir=tmp_path)
    assert [u["status"] for u in again["units"]] == ["reused"] * 3
    assert again["estimates"].equals(e)


def test_fig1_explore_draws_the_widget_figure():
    # Fig 2's widget calls it with these keywords
    fig = exp.explore(rho=0.5, dim=2, bound="nwj", steps=20, n=400)
    assert fig.axes and "truth" in fig.axes[0].get_title()


def test_fig1_data_are_float32_draws_with_the_task_correlation_and_mi():
    cfg = settings(exp, "smoke", n=4_000)
    x, z = exp._data(cfg, 2, seed=3)
    assert x.dtype == z.dtype == np.float32 and x.shape == z.shape == (26, 4_000, 2)
    assert np.array_equal(x, exp._data(cfg, 2, seed=3)[0])  # deterministic
    # the library's float64 draws, rounded: member 14 is (rho = -0.9, seed 1)
    xa, xb = correlated_gaussian(4_000, -0.9, 2, seed=(3, 1, 14, 2))
    assert np.array_equal(x[14], xa.astype(np.float32)) and np.array_equal(z[14], xb.astype(np.float32))
    head = exp._data(cfg, 2, seed=3, rows=100)
    assert np.array_equal(head[1], z[:, :100])
    pairs = 4_000 * 2  # both components share rho
    for i, (rho, _) in enumerate(exp.members(cfg)):
        r = np.corrcoef(x[i].ravel(), z[i].ravel())[0, 1]
        # sd of a sample correlation ~ (1 - rho^2) / sqrt(N); of the plug-in MI -(d/2) log(1 - r^2), by the
        # delta method, ~ d |rho| / sqrt(N) (plus a 1/N term at rho = 0); 5 sd, float32's rounding is far below
        assert abs(r - rho) <= 5 * (1 - rho ** 2) / np.sqrt(pairs) + 1e-6
        mi = -0.5 * 2 * np.log1p(-r ** 2)
        assert abs(mi - gaussian_mi(rho, 2)) <= 5 * (2 * abs(rho) + 1 / np.sqrt(pairs)) / np.sqrt(pairs)


def _synthetic(gaps: list[float], err: float = 0.01, dim: int = 2) -> dict:
    """A result whose DV sits ``err`` below the truth and whose NWJ sits ``gaps[seed]`` below DV at every rho."""
    rows = []
    for s, gap in enumerate(gaps):
        for rho in exp.RHOS:
            truth = gaussian_mi(rho, dim)
            for label, est in (("MINE (DV)", truth - err), ("MINE-f (NWJ)", truth - err - gap), ("KSG", truth)):
                rows.append((dim, rho, s, label, est + 1e-3 * s, truth))
    return {"estimates": pd.DataFrame(rows, columns=["dim", "rho", "seed", "method", "estimate", "truth"]),
            "critics": pd.DataFrame(columns=["dim", "rho", "seed", "trained", "dv", "nwj"])}


def _verdict(result: dict, text: str) -> str:
    return next(c["verdict"] for c in exp.claims(result, "quick") if text in c["claim"])


def test_fig1_a_dv_nwj_gap_inside_the_seed_spread_is_within_noise_not_held():
    assert _verdict(_synthetic([0.004, -0.003, 0.001]), "lower than MINE (DV)") == "within noise"
    assert _verdict(_synthetic([0.10, 0.11, 0.09]), "lower than MINE (DV)") == "held"
    assert _verdict(_synthetic([-0.10, -0.11, -0.09]), "lower than MINE (DV)") == "not held"
    # one seed has no spread: a positive gap is never "held"
    assert _verdict(_synthetic([0.10]), "lower than MINE (DV)") == "within noise"
    gaps = exp.gaps(_synthetic([0.004, -0.003, 0.001]))
    assert len(gaps) == 13 and set(gaps["outcome"]) == {"within noise"}
    assert gaps["gap_mean"].to_numpy() == pytest.approx(0.002 / 3)


def test_fig1_truth_claims_need_the_tolerance_and_skill_beyond_the_zero_estimate():
    good = _synthetic([0.0, 0.0, 0.0], err=0.01)
    assert _verdict(good, "MINE (DV) matches") == "held" and _verdict(good, "symmetric") == "held"
    assert _verdict(_synthetic([0.0, 0.0, 0.0], err=0.2), "MINE (DV) matches") == "not held"
    m = exp.metrics(good)
    assert m["d2_mean_abs_err_dv"] == pytest.approx(0.009) and m["d2_nwj_below_dv_count"] == 13
    assert all(c["held"] is None for c in exp.claims(good, "smoke"))


def test_fig1_figure_has_markers_not_chords_and_an_error_panel_per_dimension():
    result = _synthetic([0.01, 0.02, 0.0])
    twenty = _synthetic([0.01, 0.02, 0.0], err=5.0, dim=20)["estimates"]
    result["estimates"] = pd.concat([result["estimates"], twenty], ignore_index=True)
    fig = exp.plot(result)
    assert len(fig.axes) == 4 and fig.axes[3].get_ylabel() == "estimate - truth (nats)"
    assert fig.axes[3].get_yscale() == "symlog" and fig.axes[2].get_yscale() == "linear"
    for ax in fig.axes:  # the only drawn line is the truth (or the zero line): the estimates are markers
        joined = [ln for ln in ax.get_lines() if ln.get_linestyle() not in ("None", "none") and len(ln.get_xdata()) > 2]
        assert [ln.get_color() for ln in joined] in (["black"], [])
