"""Fig 1: MI between two correlated Gaussians against rho; MINE vs MINE-f vs KSG vs the truth.

Settings in ``docs/settings.md`` (PAPER §4.1 states the correlations and "bivariate", d = 2; the
critic and its training are ours). Every (rho, seed) pair of one dimension and bound is one member of
a stacked model, so a whole panel's bound trains as one network: one unit of work per (dimension,
bound), and one per dimension for KSG.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from .. import estimate_mi, gaussian_mi, ksg_mi, seeding
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
    "smoke": dict(dims=(2,), seeds=1, n=2_000, steps=60, batch_size=128, hidden=(32, 32), lr=1e-3,
                  test_fraction=0.25, n_ksg=500),
    # Minutes on 2 CPU cores.
    "quick": dict(dims=(2,), seeds=1, n=60_000, steps=4_000, hidden=(100, 100), lr=1e-3, test_fraction=1 / 6),
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


def _data(cfg: Settings, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every member's samples of one panel, stacked: arrays (members, n, dim)."""
    data = [correlated_gaussian(cfg.n, rho, dim, seed=(seed, s, i, dim)) for i, (rho, s) in enumerate(members(cfg))]
    return np.stack([d[0] for d in data]), np.stack([d[1] for d in data])


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """One panel's critic of one bound (every (rho, seed) stacked), or KSG on each member's first ``n_ksg`` rows:
    ``{"estimates": [(dim, rho, seed, method, estimate, truth)], "critics": [...], "settings": {...}}``."""
    dim, method = unit.params["dim"], unit.params["method"]
    x, z = _data(cfg, dim, seed)
    grid = members(cfg)
    if method == "ksg":
        m = cfg.n_ksg
        return {"estimates": [(dim, rho, s, METHODS["ksg"], ksg_mi(x[i, :m], z[i, :m], k=cfg.k),
                               gaussian_mi(rho, dim)) for i, (rho, s) in enumerate(grid)]}
    # The figure uses final estimates only: no held-out checkpoints on the way (they draw nothing
    # random, so training is the same; at quick they cost about a third of the run).
    est = estimate_mi(x, z, bound=method, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
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
    """Mean and std over seeds per (dim, rho, method), with the truth: the figure's numbers."""
    e = result["estimates"]
    return (e.groupby(["dim", "rho", "method"]).agg(mean=("estimate", "mean"), std=("estimate", "std"),
                                                     truth=("truth", "first")).reset_index())


def metrics(result: dict) -> dict:
    """Mean absolute error per method and dimension, DV's asymmetry in rho, and the DV - NWJ gap."""
    s = summary(result)
    out = {}
    for dim, g in s.groupby("dim"):
        for key, label in METHODS.items():
            m = g[g.method == label]
            out[f"d{dim}_mean_abs_err_{key}"] = float((m["mean"] - m["truth"]).abs().mean())
        dv = g[g.method == METHODS["dv"]].set_index("rho")["mean"]
        nwj = g[g.method == METHODS["nwj"]].set_index("rho")["mean"]
        out[f"d{dim}_dv_asymmetry"] = float(np.mean([abs(dv[r] - dv[-r]) for r in RHOS if r > 0]))
        out[f"d{dim}_dv_minus_nwj_large_rho"] = float((dv - nwj)[dv.index.map(abs) >= 0.7].mean())
        out[f"d{dim}_nwj_below_dv_count"] = int((nwj <= dv).sum())
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
    """The paper's claims, judged under ``quick`` and ``paper`` (not under ``smoke``)."""
    from ..results import claim

    m = metrics(result)
    j = lambda held: common.judged(profile, held)
    out = []
    for dim in sorted(result["estimates"]["dim"].unique()):
        tol = 0.05 * dim / 2  # 0.05 nats at d = 2, scaled with the number of component pairs
        dv, ksg = m[f"d{dim}_mean_abs_err_dv"], m[f"d{dim}_mean_abs_err_ksg"]
        out += [
            claim(f"d={dim}: MINE (DV) matches the truth over the 13 correlations",
                  j(dv <= tol), f"mean |DV - truth| = {dv:.3f} nats (tolerance {tol:.3f})"),
            claim(f"d={dim}: KSG matches the truth", j(ksg <= tol),
                  f"mean |KSG - truth| = {ksg:.3f} nats (tolerance {tol:.3f})"),
            claim(f"d={dim}: MINE-f (NWJ) is lower than MINE (DV) at |rho| >= 0.7",
                  j(m[f"d{dim}_dv_minus_nwj_large_rho"] > 0),
                  f"mean DV - NWJ there = {m[f'd{dim}_dv_minus_nwj_large_rho']:.3f} nats; "
                  f"NWJ <= DV at {m[f'd{dim}_nwj_below_dv_count']}/13 correlations"),
            claim(f"d={dim}: the DV estimate is symmetric in rho", j(m[f"d{dim}_dv_asymmetry"] <= tol),
                  f"mean |DV(rho) - DV(-rho)| = {m[f'd{dim}_dv_asymmetry']:.3f} nats (tolerance {tol:.3f})"),
        ]
    return out


def plot(result: dict):
    """The paper's Fig 1: estimate against rho per method, truth as a line; one panel per dimension."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    e = result["estimates"]
    dims = sorted(e["dim"].unique())
    fig, axes = plt.subplots(1, len(dims), figsize=(6 * len(dims), 4.2), squeeze=False)
    for ax, dim in zip(axes[0], dims):
        g = e[e.dim == dim]
        rho = np.linspace(-0.99, 0.99, 199)
        ax.plot(rho, [gaussian_mi(r, dim) for r in rho], color="black", lw=1.5, label="truth")
        sns.lineplot(data=g, x="rho", y="estimate", hue="method", style="method", markers=True, dashes=False,
                     errorbar="sd", ax=ax, hue_order=list(METHODS.values()))
        ax.set(title=f"Gaussians of dimension {dim}", xlabel=r"correlation $\rho$", ylabel="MI (nats)")
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
