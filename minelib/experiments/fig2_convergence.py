"""Fig 2: MINE and MINE-f estimates against training iteration, Gaussians of dimension 2 and 50.

Settings in ``docs/settings.md``: rho = 0.5 (not stated in the paper: our default), truth as a line, KSG as a
point. The seeds of one bound are the members of one stacked model.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .. import estimate_mi, gaussian_mi, ksg_mi
from ..data import correlated_gaussian
from . import common
from .protocol import Unit, replicate_seeds
from .fig1_gaussian_mi import DATA_SOURCE, METHODS, CriticSettings
from .settings import check_profiles, setting

NAME = "fig2_convergence"
TITLE = "Fig 2: estimate against training iteration, d = 2 and d = 50"
PAPER_CLAIM = ("MINE (DV) approaches the true MI as training proceeds and lies above MINE-f (NWJ) at every "
               "iteration, at d = 2 and d = 50; KSG is biased low at d = 50 (ICML version).")

@dataclasses.dataclass(frozen=True)
class Settings(CriticSettings):
    """Fig 2's settings (the critic's are Fig 1's, with longer training); the defaults are the paper profile."""

    dims: tuple[int, ...] = setting((2, 50), "PAPER Fig 2", "dimension of x and of z (one panel each)", low=1)
    rho: float = setting(0.5, "DEF", "correlation of each coordinate pair (not stated in the paper)", low=-1.0,
                         high=1.0)
    steps: int = setting(20_000, "DEF", "training steps of each critic", low=1)
    batch_size: int = setting(512, "DEF", "minibatch size (joint pairs; as many shuffled ones)", low=2)
    eval_every: int = setting(500, "DEF", "steps between held-out checkpoints", low=1)
    smooth: int = setting(100, "DEF", "window of the running mean drawn over the training estimates", low=1)


PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(seeds=1, n=2_000, steps=60, batch_size=128, hidden=(32, 32), lr=1e-3, test_fraction=0.25,
                  eval_every=20, smooth=10, n_ksg=500),
    # Minutes on 2 CPU cores.
    "quick": dict(seeds=2, n=60_000, steps=3_000, hidden=(100, 100), lr=1e-3, test_fraction=1 / 6, eval_every=150),
})
PAPER = {"truth_d2": 0.2877, "truth_d50": 7.1921, "final_dv_d2": "~truth (figure only)",
         "final_dv_d50": "~truth (figure only)"}


def units(cfg: Settings) -> list[Unit]:
    """One unit per dimension and method: DV and NWJ critics (seeds stacked), and KSG."""
    return [Unit(f"d{dim}-{method}", {"dim": dim, "method": method})
            for dim in cfg.dims for method in ("dv", "nwj", "ksg")]


def _data(cfg: Settings, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    data = [correlated_gaussian(cfg.n, cfg.rho, dim, seed=(seed, s, dim)) for s in range(cfg.seeds)]
    return np.stack([d[0] for d in data]), np.stack([d[1] for d in data])


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """A critic per seed for one (dimension, bound), stacked; or KSG on each seed's first ``n_ksg`` rows."""
    dim, method = unit.params["dim"], unit.params["method"]
    x, z = _data(cfg, dim, seed)
    truth, S = gaussian_mi(cfg.rho, dim), cfg.seeds
    if method == "ksg":
        m = cfg.n_ksg
        return {"final": [(dim, METHODS["ksg"], s, ksg_mi(x[s, :m], z[s, :m], k=cfg.k), truth) for s in range(S)]}
    est = estimate_mi(x, z, bound=method, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                      hidden=list(cfg.hidden), activation=cfg.activation, ema_rate=cfg.ema_rate,
                      test_fraction=cfg.test_fraction, eval_every=cfg.eval_every, device=device,
                      seed=replicate_seeds(seed, S), progress=progress)
    h = est.history.rename(columns={"member": "seed"})
    train = h[h.split == "train"].copy()
    train["mi"] = train.groupby("seed")["mi"].transform(lambda v: v.rolling(cfg.smooth, min_periods=1).mean())
    return {"curves": pd.concat([train, h[h.split == "test"]]).assign(dim=dim, method=METHODS[method]),
            "final": [(dim, METHODS[method], s, est.mi[s], truth) for s in range(S)],
            "critics": [(dim, s, method, est.test_bounds["dv"][s], est.test_bounds["nwj"][s]) for s in range(S)],
            "settings": {**est.settings, "seconds": est.seconds}}


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """Returns ``{"curves": DataFrame(dim, method, seed, step, split, mi), "final": DataFrame(dim, method,
    seed, estimate, truth), "critics": DataFrame(dim, seed, trained, dv, nwj), "settings": {...}}``."""
    ordered = [parts[u.key] for u in units(cfg)]
    return {"curves": pd.concat([p["curves"] for p in ordered if "curves" in p], ignore_index=True),
            "final": pd.DataFrame([r for p in ordered for r in p["final"]],
                                  columns=["dim", "method", "seed", "estimate", "truth"]),
            "critics": pd.DataFrame([r for p in ordered for r in p.get("critics", [])],
                                    columns=["dim", "seed", "trained", "dv", "nwj"]),
            "settings": {u.key.replace("-", "_"): parts[u.key]["settings"] for u in units(cfg)
                         if "settings" in parts[u.key]}}


def summary(result: dict) -> pd.DataFrame:
    """Final held-out estimates (and KSG) per dimension and method: mean, std over seeds, truth."""
    return (result["final"].groupby(["dim", "method"])
            .agg(mean=("estimate", "mean"), std=("estimate", "std"), truth=("truth", "first")).reset_index())


def _checkpoint_gap(result: dict, dim: int) -> pd.Series:
    """Held-out DV minus NWJ (means over seeds) at each evaluation step past the first 10%."""
    c = result["curves"]
    t = c[(c.dim == dim) & (c.split == "test")].groupby(["method", "step"])["mi"].mean().unstack(0)
    t = t[t.index > 0.1 * t.index.max()]
    return t[METHODS["dv"]] - t[METHODS["nwj"]]


def metrics(result: dict) -> dict:
    s = summary(result).set_index(["dim", "method"])
    out = {}
    for dim in sorted(result["final"]["dim"].unique()):
        for key, label in METHODS.items():
            out[f"final_{key}_d{dim}"] = float(s.loc[(dim, label), "mean"])
        out[f"truth_d{dim}"] = float(s.loc[(dim, METHODS["dv"]), "truth"])
        gap = _checkpoint_gap(result, dim)
        out[f"dv_above_nwj_checkpoints_d{dim}"] = f"{int((gap >= 0).sum())}/{len(gap)}"
    return out


def invariants(result: dict) -> list[str]:
    """What must hold at any size; raises AssertionError otherwise. Returns a fixed description."""
    c, f, k = result["curves"], result["final"], result["critics"]
    assert np.isfinite(c["mi"]).all() and np.isfinite(f["estimate"]).all(), "every estimate is finite"
    assert set(c["split"]) == {"train", "test"}, "training curves and held-out checkpoints recorded"
    assert set(f["method"]) == set(METHODS.values()), "DV, NWJ and KSG estimates present"
    assert (k["dv"] >= k["nwj"] - 1e-5).all(), "DV >= NWJ for every trained critic"
    return ["every curve point and final estimate finite",
            "training curves, held-out checkpoints and KSG points recorded for each dimension",
            "DV >= NWJ on the held-out split for every trained critic (paper footnote 3)"]


def claims(result: dict, profile: str) -> list[dict]:
    from ..results import claim

    m = metrics(result)
    j = lambda held: common.judged(profile, held)
    out = []
    for dim in sorted(result["final"]["dim"].unique()):
        truth, dv, nwj, ksg = (m[f"truth_d{dim}"], m[f"final_dv_d{dim}"], m[f"final_nwj_d{dim}"], m[f"final_ksg_d{dim}"])
        gap = _checkpoint_gap(result, dim)
        out += [
            claim(f"d={dim}: MINE (DV) approaches the truth", j(abs(dv - truth) <= 0.1 * truth),
                  f"final held-out DV {dv:.3f} vs truth {truth:.3f} nats (tolerance 10%)"),
            claim(f"d={dim}: DV lies above NWJ at every iteration", j(bool((gap >= 0).all())),
                  f"held-out DV >= NWJ at {int((gap >= 0).sum())}/{len(gap)} checkpoints past the first 10%"),
        ]
        if dim >= 20:
            out.append(claim(f"d={dim}: KSG is biased low, MINE closer to the truth",
                             j(ksg < truth and abs(dv - truth) < abs(ksg - truth)),
                             f"KSG {ksg:.3f}, DV {dv:.3f}, truth {truth:.3f} nats"))
    return out


def plot(result: dict):
    """The paper's Fig 2: smoothed training estimates against iteration, truth dashed, KSG a point."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    c, f = result["curves"], result["final"]
    dims = sorted(c["dim"].unique())
    fig, axes = plt.subplots(1, len(dims), figsize=(6 * len(dims), 4.2), squeeze=False)
    order = [METHODS["dv"], METHODS["nwj"]]
    for ax, dim in zip(axes[0], dims):
        g = c[c.dim == dim]
        sns.lineplot(data=g[g.split == "train"], x="step", y="mi", hue="method", hue_order=order, errorbar="sd", ax=ax)
        sns.scatterplot(data=g[g.split == "test"], x="step", y="mi", hue="method", hue_order=order, marker="o",
                        s=18, legend=False, ax=ax)
        ax.axhline(f[f.dim == dim]["truth"].iloc[0], color="black", ls="--", lw=1.2, label="truth")
        k = f[(f.dim == dim) & (f.method == METHODS["ksg"])]["estimate"].mean()
        ax.scatter([g["step"].max()], [k], marker="*", s=160, color="C2", zorder=5, label="KSG")
        ax.set(title=f"Gaussians of dimension {dim}", xlabel="iteration", ylabel="MI (nats)")
        ax.legend()
    fig.tight_layout()
    return fig
