"""Fig 1: MI between two correlated Gaussians against rho; MINE vs MINE-f vs KSG vs the truth.

Settings in ``docs/settings.md`` (PAPER §4.1 states the correlations and "bivariate", d = 2; the
critic and its training are ours). Every (rho, seed) pair of one dimension and bound is one member of
a stacked model, so a whole panel's bound trains as one network: one unit of work per (dimension,
bound), and one per dimension for KSG. A panel's data are drawn straight into float32 arrays (the critic
computes in float32), a KSG unit keeps only the rows KSG reads.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from .. import estimate_mi, gaussian_mi, ksg_mi, seeding
from ..verdicts import beats, explain
from ..data import correlated_gaussian
from . import common
from .protocol import Unit
from .settings import ExperimentSettings, check_profiles, setting

NAME = "fig1_gaussian_mi"
TITLE = "Fig 1: mutual information of correlated Gaussians against the correlation"
PAPER_CLAIM = ("MINE (DV) and KSG are virtually indistinguishable from the ground truth; MINE-f (NWJ) "
               "gives a looser, lower estimate, most visibly at large |rho|.")
# PAPER §4.1, Fig 1: the 13 correlations.
RHOS = (-0.99, -0.9, -0.7, -0.5, -0.3, -0.1, 0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)
DATA_SOURCE = "synthetic: Xb = rho Xa + sqrt(1 - rho^2) eta, Xa, eta ~ N(0, I_d) (numpy default_rng, seeded)"
METHODS = {"dv": "MINE (DV)", "nwj": "MINE-f (NWJ)", "ksg": "KSG"}
BOUNDS = ("dv", "nwj")


@dataclasses.dataclass(frozen=True)
class CriticSettings(ExperimentSettings):
    """The settings every Gaussian-task experiment shares (Figs 1 and 2): data size, the statistics
    network and its training, and KSG's; the defaults are Fig 1's paper profile."""

    seeds: int = setting(5, "DEF", "independent repetitions, the members of each stacked model", low=1)
    n: int = setting(300_000, "DEF", "samples per data set (one per seed, and per rho in Fig 1), a share held out", low=10)
    steps: int = setting(10_000, "DEF", "training steps of each critic", low=1)
    batch_size: int = setting(256, "DEF", "minibatch size (joint pairs; as many shuffled ones)", low=2)
    hidden: tuple[int, ...] = setting((400, 400, 400), "DEF", "hidden widths of the statistics network", low=1)
    lr: float = setting(1e-4, "DEF", "Adam learning rate (cosine decay)", low=0.0, open_low=True)
    activation: str = setting("elu", "DEF", "activation of the statistics network",
                              choices=("relu", "elu", "leaky_relu", "tanh", "softplus"))
    ema_rate: float = setting(0.01, "ICML §3.2", "rate of the moving average in DV's bias-corrected gradient",
                              low=0.0, high=1.0, open_low=True)
    test_fraction: float = setting(1 / 3, "DEF", "share of the samples held out for the reported estimate",
                                   low=0.0, high=0.9, open_low=True)
    n_ksg: int = setting(10_000, "KSG", "rows of each data set given to the KSG estimator (its cost grows fast with n)", low=10)
    k: int = setting(3, "KSG", "neighbours of the KSG estimator", low=1)

    def check(self) -> None:
        """KSG reads the first ``n_ksg`` rows of each data set: there must be as many."""
        if self.n_ksg > self.n:
            raise ValueError(f"setting 'n_ksg' ({self.n_ksg}) must not exceed 'n' ({self.n})")


@dataclasses.dataclass(frozen=True)
class Settings(CriticSettings):
    """Fig 1's settings; the defaults are the paper profile."""

    dims: tuple[int, ...] = setting((2, 20), "PAPER §4.1, Fig 1 (bivariate: d = 2); d = 20 is the ICML version's",
                                    "dimension of x and of z (one panel each)", low=1)


PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(dims=(2,), seeds=2, n=2_000, steps=60, batch_size=128, hidden=(32, 32), lr=1e-3,
                  test_fraction=0.25, n_ksg=500),
    # About 10 minutes on one CPU core: both panels and 3 seeds (the bands, and a spread to judge the claims
    # against), every (rho, seed) of a panel stacked. KSG on 3,000 rows: at d = 20 its brute-force cost
    # (quadratic in the rows) would otherwise rival the training. lr 5e-4: at 1e-3 NWJ's stacked d = 20 model
    # diverges (its minibatch bound reaches -9.4e4 nats at step 419, from the |rho| >= 0.9 members).
    "quick": dict(seeds=3, n=30_000, steps=2_500, hidden=(100, 100), lr=5e-4, test_fraction=1 / 6, n_ksg=3_000),
})
PAPER = {"d2_mean_abs_err_dv": "~0 (\"virtually indistinguishable\", figure only)",
         "d2_mean_abs_err_ksg": "~0 (figure only)",
         "d2_dv_minus_nwj_large_rho": "> 0 (figure only)"}


def members(cfg: Settings) -> list[tuple[float, int]]:
    """The (rho, seed) members of one panel's stacked model, in order: all of RHOS for seed 0, then seed 1..."""
    return [(rho, s) for s in range(cfg.seeds) for rho in RHOS]


def member_seed(seed: int, replicate: int, index: int) -> int:
    """The training seed of member ``index`` (of replicate ``replicate``) of a panel under base ``seed``: the
    member's ``replicate`` stream (:func:`minelib.seeding.replicate_seeds`), distinct for every member and base
    seed. ``replicate`` is implied by ``index`` (``index = replicate * 13 + position of rho``); it is kept in
    the signature to say which data set the member trains on."""
    return seeding.torch_seed(seed, "replicate", index)


def units(cfg: Settings) -> list[Unit]:
    """One unit per dimension and method: a DV and an NWJ critic (every member stacked), and KSG."""
    return [Unit(f"d{dim}-{method}", {"dim": dim, "method": method})
            for dim in cfg.dims for method in (*BOUNDS, "ksg")]


def _data(cfg: Settings, dim: int, seed: int, rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every member's samples of one panel, stacked: float32 arrays (members, rows, dim), ``rows`` = ``cfg.n``
    unless given (the first ``rows`` of each member's ``n``).

    Each member is drawn by :func:`minelib.data.correlated_gaussian` (float64, one member at a time) and
    rounded into a preallocated float32 stack: the numbers are the float64 draws to float32 precision, and the
    host holds one float32 stack plus one member, not a float64 list and its float64 stack (measured at the
    paper profile's d = 20: a peak of 3.1 GiB against 11.6 GiB).
    """
    grid = members(cfg)
    rows = cfg.n if rows is None else rows
    x = np.empty((len(grid), rows, dim), dtype=np.float32)
    z = np.empty_like(x)
    for i, (rho, s) in enumerate(grid):
        xa, xb = correlated_gaussian(cfg.n, rho, dim, seed=(seed, s, i, dim))
        x[i], z[i] = xa[:rows], xb[:rows]
    return x, z


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """One panel's critic of one bound (every (rho, seed) stacked), or KSG on each member's first ``n_ksg`` rows:
    ``{"estimates": [(dim, rho, seed, method, estimate, truth)], "critics": [...], "settings": {...}}``."""
    dim, method = unit.params["dim"], unit.params["method"]
    grid = members(cfg)
    if method == "ksg":
        x, z = _data(cfg, dim, seed, rows=cfg.n_ksg)
        return {"estimates": [(dim, rho, s, METHODS["ksg"], ksg_mi(x[i], z[i], k=cfg.k), gaussian_mi(rho, dim))
                              for i, (rho, s) in enumerate(grid)]}
    # The figure uses final estimates only: no held-out checkpoints on the way (they draw nothing
    # random, so training is the same; at quick they cost about a third of the run). estimate_mi keeps the
    # float32 stacks and widens one member at a time (docs/diagnostics.md, Fig 1).
    est = estimate_mi(*_data(cfg, dim, seed), bound=method, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                      hidden=list(cfg.hidden), activation=cfg.activation, ema_rate=cfg.ema_rate,
                      test_fraction=cfg.test_fraction, eval_every=cfg.steps, device=device,
                      seed=[member_seed(seed, s, i) for i, (_, s) in enumerate(grid)], progress=progress)
    return {"estimates": [(dim, rho, s, METHODS[method], est.mi[i], gaussian_mi(rho, dim))
                          for i, (rho, s) in enumerate(grid)],
            "critics": [(dim, rho, s, method, est.test_bounds["dv"][i], est.test_bounds["nwj"][i])
                        for i, (rho, s) in enumerate(grid)],
            "settings": {**est.settings, "seeds": "per (rho, seed)", "seconds": est.seconds}}


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """Returns ``{"estimates": DataFrame(dim, rho, seed, method, estimate, truth), "critics": DataFrame(dim,
    rho, seed, trained, dv, nwj), "settings": {...}}``; ``critics`` holds both bounds of each trained critic
    on the held-out split."""
    ordered = [parts[u.key] for u in units(cfg)]
    return {"estimates": pd.DataFrame([r for p in ordered for r in p["estimates"]],
                                      columns=["dim", "rho", "seed", "method", "estimate", "truth"]),
            "critics": pd.DataFrame([r for p in ordered for r in p.get("critics", [])],
                                    columns=["dim", "rho", "seed", "trained", "dv", "nwj"]),
            "settings": {u.key.replace("-", "_"): parts[u.key]["settings"] for u in units(cfg)
                         if "settings" in parts[u.key]}}


def summary(result: dict) -> pd.DataFrame:
    """Mean and std over seeds per (dim, rho, method), with the truth and the mean's error: the figure's
    numbers."""
    e = result["estimates"]
    s = (e.groupby(["dim", "rho", "method"]).agg(mean=("estimate", "mean"), std=("estimate", "std"),
                                                  seeds=("seed", "nunique"), truth=("truth", "first")).reset_index())
    s["error"] = s["mean"] - s["truth"]
    return s


def _wide(result: dict) -> pd.DataFrame:
    """The estimates as one row per (dim, seed, rho), a column per method label, and the truth."""
    e = result["estimates"]
    w = e.pivot_table(index=["dim", "seed", "rho"], columns="method", values="estimate").reset_index()
    w.columns.name = None
    return w.merge(e[["dim", "rho", "truth"]].drop_duplicates(), on=["dim", "rho"])


def per_seed(result: dict) -> pd.DataFrame:
    """One row per (dim, seed): each method's mean |estimate - truth| over the 13 correlations (``err_dv``,
    ``err_nwj``, ``err_ksg``), DV's mean |DV(rho) - DV(-rho)| (``asym_dv``) and the mean DV - NWJ at
    |rho| >= 0.7 (``gap``): the values the claims weigh against their spread over seeds."""
    rows = []
    for (dim, seed), g in _wide(result).groupby(["dim", "seed"]):
        g = g.set_index("rho")
        row = {"dim": dim, "seed": seed}
        row.update({f"err_{key}": float((g[label] - g["truth"]).abs().mean()) for key, label in METHODS.items()})
        dv, nwj = g[METHODS["dv"]], g[METHODS["nwj"]]
        row["asym_dv"] = float(np.mean([abs(dv[r] - dv[-r]) for r in RHOS if r > 0]))
        row["gap"] = float((dv - nwj)[np.abs(g.index) >= 0.7].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def gaps(result: dict) -> pd.DataFrame:
    """DV - NWJ (each its own trained critic's held-out estimate) per (dim, rho): mean and std over seeds, the
    95 % margin of the mean and the outcome of :func:`minelib.verdicts.beats` against 0 ("better": DV above
    NWJ beyond the seed spread)."""
    w = _wide(result)
    w["gap"] = w[METHODS["dv"]] - w[METHODS["nwj"]]
    rows = []
    for (dim, rho), g in w.groupby(["dim", "rho"]):
        c = beats(g["gap"].to_numpy(), 0.0)
        rows.append({"dim": dim, "rho": rho, "truth": g["truth"].iloc[0], "gap_mean": c.diff,
                     "gap_std": float(g["gap"].std()) if len(g) > 1 else np.nan, "margin": c.margin,
                     "outcome": c.outcome})
    return pd.DataFrame(rows)


def metrics(result: dict) -> dict:
    """Per dimension: each method's mean absolute error, DV's asymmetry in rho and the DV - NWJ gap at
    |rho| >= 0.7 (means over seeds of :func:`per_seed`, ``_sd`` their std; NaN with one seed), and at how many
    correlations NWJ's seed mean is <= DV's."""
    s, ps = summary(result), per_seed(result)
    out = {}
    for dim, g in ps.groupby("dim"):
        for col, name in [(f"err_{k}", f"mean_abs_err_{k}") for k in METHODS] + [("asym_dv", "dv_asymmetry"),
                                                                               ("gap", "dv_minus_nwj_large_rho")]:
            out[f"d{dim}_{name}"] = float(g[col].mean())
            out[f"d{dim}_{name}_sd"] = float(g[col].std()) if len(g) > 1 else float("nan")
        means = s[s.dim == dim].pivot(index="rho", columns="method", values="mean")
        out[f"d{dim}_nwj_below_dv_count"] = int((means[METHODS["nwj"]] <= means[METHODS["dv"]]).sum())
    return out


def invariants(result: dict) -> list[str]:
    """What must hold at any size; raises AssertionError otherwise. Returns a fixed description."""
    e, c = result["estimates"], result["critics"]
    cells = e.groupby(["dim", "rho", "seed", "method"]).size()
    assert (cells == 1).all() and len(cells) == len(e), "one estimate per (dim, rho, seed, method)"
    assert np.isfinite(e["estimate"]).all(), "every estimate is finite"
    assert set(e["rho"]) == set(RHOS), "all 13 correlations were run"
    # Paper footnote 3: for one critic, DV >= NWJ. Float32 scores: allow rounding only.
    assert (c["dv"] >= c["nwj"] - 1e-5).all(), "DV >= NWJ for every trained critic"
    return ["every estimate finite, one per (dimension, rho, seed, method)",
            "all 13 correlations of the paper present",
            "DV >= NWJ on the held-out split for every trained critic (paper footnote 3)"]


def claims(result: dict, profile: str) -> list[dict]:
    """The paper's claims per dimension, judged under ``quick`` and ``paper`` (not under ``smoke``) by
    :func:`minelib.verdicts.verdict`: each must beat the spread over seeds (one seed can never be "held"), and
    an error must also beat the zero estimate (no skill: its error is the mean truth)."""
    from ..results import claim

    judge = lambda *cs: common.judge(profile, *cs)
    m = metrics(result)
    out = []
    for dim, g in per_seed(result).groupby("dim"):
        tol = 0.05 * dim / 2  # 0.05 nats at d = 2, scaled with the number of component pairs
        zero = float(np.mean([gaussian_mi(r, dim) for r in RHOS]))
        where = f"d={dim}" + ("" if dim == 2 else " (the ICML version's setting; the arXiv paper shows d = 2)")
        seeds = f"{len(g)} seed(s); "
        skill = {}
        for key in ("dv", "ksg"):
            err = g[f"err_{key}"].to_numpy()
            skill[key] = beats(err, zero, higher_is_better=False, label=f"vs the zero estimate's {zero:.3g} (no skill)")
            cs = (beats(err, tol, higher_is_better=False, label=f"mean |{METHODS[key]} - truth| vs tolerance {tol:.3g} nats"),
                  skill[key])
            out.append(claim(f"{where}: {METHODS[key]} matches the truth over the 13 correlations", judge(*cs),
                             seeds + explain(*cs)))
        gap = beats(g["gap"].to_numpy(), 0.0, label="mean DV - NWJ at |rho| >= 0.7 vs 0 nats")
        below = m[f"d{dim}_nwj_below_dv_count"]
        out.append(claim(f"{where}: MINE-f (NWJ) is lower than MINE (DV) at |rho| >= 0.7", judge(gap),
                         seeds + f"{gap}; NWJ's seed mean <= DV's at {below}/13 correlations"))
        sym = beats(g["asym_dv"].to_numpy(), tol, higher_is_better=False,
                    label=f"mean |DV(rho) - DV(-rho)| vs tolerance {tol:.3g} nats")
        # A constant estimate is symmetric too: symmetry counts only from an estimate with skill.
        out.append(claim(f"{where}: the DV estimate is symmetric in rho", judge(sym, skill["dv"]),
                         seeds + explain(sym, skill["dv"])))
    return out


# Markers only (a line between grid points is a chord that runs above the curved truth near |rho| = 0.99), each
# method nudged sideways so that none hides another; KSG drawn first and hollow.
_STYLE = {"KSG": dict(marker="^", mfc="white", dx=0.016), "MINE-f (NWJ)": dict(marker="s", mfc=None, dx=0.0),
          "MINE (DV)": dict(marker="o", mfc=None, dx=-0.016)}


def _draw(top, bottom, s: pd.DataFrame, label: str, color) -> None:
    """One method's seed means (error bars: one std over seeds) on the estimate panel, and its error with a
    band of one std on the estimate-minus-truth panel."""
    st = _STYLE[label]
    x, sd = s["rho"].to_numpy() + st["dx"], s["std"].fillna(0.0).to_numpy()
    kw = dict(ls="none", marker=st["marker"], ms=5, color=color, mfc=st["mfc"] or color, capsize=2, label=label)
    top.errorbar(x, s["mean"], yerr=sd, **kw)
    bottom.errorbar(x, s["error"], yerr=sd, **kw)
    if s["seeds"].max() > 1:
        err = s["error"].to_numpy()
        bottom.fill_between(x, err - sd, err + sd, color=color, alpha=0.12, lw=0)


def plot(result: dict):
    """The paper's Fig 1, one column per dimension: the estimates against rho with the truth curve, and
    below them each estimate minus the truth (symmetric-log scale where errors pass 1 nat)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    s = summary(result)
    dims = sorted(s["dim"].unique())
    fig, axes = plt.subplots(2, len(dims), figsize=(6 * len(dims), 7), squeeze=False, sharex=True,
                             gridspec_kw=dict(height_ratios=(3, 2)))
    colors = dict(zip(METHODS.values(), sns.color_palette("colorblind", len(METHODS))))
    rho = np.linspace(-0.99, 0.99, 397)
    for col, dim in enumerate(dims):
        top, bottom = axes[0, col], axes[1, col]
        top.plot(rho, [gaussian_mi(r, dim) for r in rho], color="black", lw=1.2, label="truth", zorder=1)
        bottom.axhline(0.0, color="black", lw=1.2, zorder=1)
        for label in _STYLE:
            _draw(top, bottom, s[(s.dim == dim) & (s.method == label)], label, colors[label])
        if s.loc[s.dim == dim, "error"].abs().max() > 1.0:
            bottom.set_yscale("symlog", linthresh=0.1)
        seeds = int(s["seeds"].max())
        top.set(title=f"x, z of dimension {dim} ({seeds} seed{'s' * (seeds > 1)}; bars: 1 sd)", ylabel="MI (nats)")
        bottom.set(xlabel=r"correlation $\rho$", ylabel="estimate - truth (nats)")
    handles = dict(zip(*reversed(axes[0, 0].get_legend_handles_labels())))
    order = ["truth", *METHODS.values()]
    axes[0, 0].legend([handles[k] for k in order], order, loc="upper center", fontsize=9)
    fig.tight_layout()
    return fig


def explore(rho: float = 0.9, dim: int = 2, bound: str = "dv", steps: int = 500, n: int = 5_000, seed: int = 0,
            profile: str = "quick"):
    """One small estimate for the notebooks' widgets (Fig 1 and Fig 2): the training curve against the truth,
    with the critic and optimiser of ``profile``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    # KSG here reads all n rows of the one data set: n_ksg = n
    cfg = common.settings(sys.modules[__name__], profile, dims=(dim,), steps=int(steps), n=int(n), n_ksg=int(n))
    x, z = correlated_gaussian(cfg.n, rho, dim, seed=seed)
    est = estimate_mi(x, z, bound=bound, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                      hidden=list(cfg.hidden), activation=cfg.activation, ema_rate=cfg.ema_rate,
                      test_fraction=cfg.test_fraction, seed=seed, progress=False)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.lineplot(data=est.history, x="step", y="mi", hue="split", ax=ax)
    ax.axhline(gaussian_mi(rho, dim), color="black", ls="--", label="truth")
    ax.set(title=f"{METHODS[bound]}: {est.mi:.3f} nats held out, truth {gaussian_mi(rho, dim):.3f}, "
                 f"KSG {ksg_mi(x, z, k=cfg.k):.3f}", ylabel="MI (nats)")
    ax.legend()
    return fig
