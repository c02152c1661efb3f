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

    ema_rate: float = setting(0.01, "DEV quick (0.1; the paper profile keeps ICML §3.2's 0.01): docs/diagnostics.md, Fig 2",
                              "rate of the moving average in DV's bias-corrected gradient", low=0.0, high=1.0,
                              open_low=True)
    dims: tuple[int, ...] = setting((2, 50), "PAPER Fig 2", "dimension of x and of z (one panel each)", low=1)
    rho: float = setting(0.5, "DEF", "correlation of each coordinate pair (not stated in the paper)", low=-1.0,
                         high=1.0)
    steps: int = setting(20_000, "DEF", "training steps of each critic", low=1)
    batch_size: int = setting(512, "DEF", "minibatch size below d = 20 (joint pairs; as many shuffled ones)", low=2)
    high_dim_batch_size: int = setting(512, "DEF", "minibatch size at d >= 20, where a batch's log-mean-exp of "
                                       "marginal scores is heavy-tailed (docs/diagnostics.md, Fig 2)", low=2)
    eval_every: int = setting(500, "DEF", "steps between held-out checkpoints", low=1)
    smooth: int = setting(100, "DEF", "window of the running mean drawn over the training estimates", low=1)


#: From this dimension on, a unit trains with ``high_dim_batch_size``.
HIGH_DIM = 20

PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(seeds=1, n=2_000, steps=60, batch_size=128, high_dim_batch_size=128, hidden=(32, 32), lr=1e-3,
                  test_fraction=0.25, eval_every=20, smooth=10, n_ksg=500),
    # About 10 minutes on 2 CPU cores. At d = 50 the moving average of 0.01 with lr 1e-3 and batch 512 let single
    # batches collapse the held-out DV below 0 (docs/diagnostics.md, Fig 2): rate 0.1, lr 5e-4 and batch 2048.
    "quick": dict(seeds=2, n=300_000, steps=7_000, hidden=(100, 100), lr=5e-4, ema_rate=0.1,
                  high_dim_batch_size=2048, test_fraction=1 / 6, eval_every=300),
})
PAPER = {"truth_d2": 0.2877, "truth_d50": 7.1921, "final_dv_d2": "~truth (figure only)",
         "final_dv_d50": "~truth (figure only)"}


def units(cfg: Settings) -> list[Unit]:
    """One unit per dimension and method: DV and NWJ critics (seeds stacked), and KSG."""
    return [Unit(f"d{dim}-{method}", {"dim": dim, "method": method})
            for dim in cfg.dims for method in ("dv", "nwj", "ksg")]


def batch_size(cfg: Settings, dim: int) -> int:
    """The minibatch of a critic at dimension ``dim``: ``high_dim_batch_size`` from :data:`HIGH_DIM` on."""
    return cfg.high_dim_batch_size if dim >= HIGH_DIM else cfg.batch_size


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
    est = estimate_mi(x, z, bound=method, steps=cfg.steps, batch_size=batch_size(cfg, dim), lr=cfg.lr,
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


def held_out_dv(result: dict) -> pd.DataFrame:
    """Per dimension and seed, the DV critic's held-out bound: its minimum past the first 10 % of training (the
    collapse of docs/diagnostics.md, Fig 2, read there) and its final value."""
    c = result["curves"]
    t = c[(c.split == "test") & (c.method == METHODS["dv"])]
    t = t[t.step > 0.1 * t.step.max()]
    return (t.sort_values("step").groupby(["dim", "seed"])["mi"]
            .agg(min_after_10pct="min", final="last").reset_index())


def same_critic(result: dict) -> pd.DataFrame:
    """Both bounds of each trained critic on its held-out split (mean over seeds): for one critic DV >= NWJ."""
    k = result["critics"]
    return k.groupby(["dim", "trained"])[["dv", "nwj"]].mean().reset_index()


def _checkpoint_gap(result: dict, dim: int) -> pd.Series:
    """Held-out DV minus NWJ (means over seeds) at each evaluation step past the first 10%: two critics."""
    c = result["curves"]
    t = c[(c.dim == dim) & (c.split == "test")].groupby(["method", "step"])["mi"].mean().unstack(0)
    t = t[t.index > 0.1 * t.index.max()]
    return t[METHODS["dv"]] - t[METHODS["nwj"]]


def metrics(result: dict) -> dict:
    s = summary(result).set_index(["dim", "method"])
    dv = held_out_dv(result).set_index(["dim", "seed"])
    out = {}
    for dim in sorted(result["final"]["dim"].unique()):
        for key, label in METHODS.items():
            out[f"final_{key}_d{dim}"] = float(s.loc[(dim, label), "mean"])
        out[f"truth_d{dim}"] = float(s.loc[(dim, METHODS["dv"]), "truth"])
        out[f"min_heldout_dv_after_10pct_d{dim}"] = [round(float(v), 4) for v in dv.loc[dim, "min_after_10pct"]]
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
            "DV >= NWJ of one and the same critic on the held-out split, for every trained critic (paper "
            "footnote 3); the claims below compare two critics, one trained on each bound, where it need not hold"]


def claims(result: dict, profile: str) -> list[dict]:
    """The paper's claims per dimension, judged by :mod:`minelib.verdicts` against the seeds' spread and a no-skill
    reference (a critic that cannot tell joint from shuffled pairs scores 0 nats); not judged under ``smoke``."""
    from ..results import claim
    from ..verdicts import beats, explain

    m, f, dvh = metrics(result), result["final"], held_out_dv(result)
    v = lambda *cs: common.judge(profile, *cs)
    out = []
    for dim in sorted(f["dim"].unique()):
        get = lambda key: f[(f.dim == dim) & (f.method == METHODS[key])]["estimate"].to_numpy()
        truth, dv, nwj, ksg = m[f"truth_d{dim}"], get("dv"), get("nwj"), get("ksg")
        skill = beats(dv, 0.0, label="DV vs no-skill critic (0 nats)")
        close = beats(-np.abs(dv - truth), -0.1 * truth, label="|DV - truth| vs 10% of the truth")
        gap = _checkpoint_gap(result, dim)
        above = beats(dv, nwj, label="DV critic vs NWJ critic, final held-out")
        lows = dvh[dvh.dim == dim]["min_after_10pct"]
        out += [
            claim(f"d={dim}: MINE (DV) approaches the truth", v(skill, close),
                  f"final held-out DV {dv.mean():.3f} (seeds {', '.join(f'{e:.3f}' for e in dv)}) vs truth {truth:.3f} "
                  f"nats; " + explain(skill, close)),
            claim(f"d={dim}: held-out DV stays above 0 after the first 10% of training",
                  common.judged(profile, bool((lows >= 0).all())),
                  f"lowest held-out DV checkpoint per seed {', '.join(f'{e:.3f}' for e in lows)} nats"),
            claim(f"d={dim}: DV lies above NWJ at every iteration (two critics, one trained on each bound)",
                  v(above) if (gap >= 0).all() else common.judged(profile, False),
                  f"held-out DV >= NWJ at {int((gap >= 0).sum())}/{len(gap)} checkpoints past the first 10%; "
                  + explain(above)),
        ]
        if dim >= HIGH_DIM:
            closer = beats(-np.abs(dv - truth), -np.abs(ksg - truth), label="|DV - truth| vs |KSG - truth|")
            below = beats(-ksg, -truth, label="KSG below the truth")
            out.append(claim(f"d={dim}: KSG is biased low, MINE closer to the truth", v(below, closer),
                             f"KSG {ksg.mean():.3f}, DV {dv.mean():.3f}, truth {truth:.3f} nats; "
                             + explain(below, closer)))
    return out


def plot(result: dict):
    """The paper's Fig 2: per-seed smoothed training estimates and held-out checkpoints against iteration (log
    scale: the first steps hold the d = 2 transient), truth dashed, KSG a star, and each critic's other bound."""
    import matplotlib.pyplot as plt

    c, f = result["curves"], result["final"]
    dims, same = sorted(c["dim"].unique()), same_critic(result)
    fig, axes = plt.subplots(1, len(dims), figsize=(6.2 * len(dims), 4.6), squeeze=False)
    for ax, dim in zip(axes[0], dims):
        _panel(ax, c[c.dim == dim], f[f.dim == dim], same[same.dim == dim].set_index("trained"), dim)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8, frameon=False)
    fig.text(0.5, 1.0, "DV and NWJ of two critics (one trained on each bound) may cross: NWJ can lie above DV. "
             "For one critic DV >= NWJ always (x and +: each critic's other bound, final held-out).",
             ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    return fig


def _panel(ax, g: pd.DataFrame, f: pd.DataFrame, same: pd.DataFrame, dim: int) -> None:
    """One dimension: thin per-seed lines (smoothed minibatch bound), held-out dots, truth, KSG, same-critic marks."""
    colours = {METHODS["dv"]: "C0", METHODS["nwj"]: "C1"}
    last, truth = g["step"].max(), f["truth"].iloc[0]
    for (method, seed), t in g[g.split == "train"].groupby(["method", "seed"]):
        ax.plot(t.step, t.mi, color=colours[method], lw=0.9, alpha=0.8,
                label=f"{method}: minibatch bound, smoothed (a line per seed)" if seed == 0 else None)
    for method, t in g[g.split == "test"].groupby("method"):
        dv = method == METHODS["dv"]
        ax.scatter(t.step * (1.0 if dv else 1.06), t.mi, s=22 if dv else 14, marker="o" if dv else "s",
                   facecolor="none" if dv else colours[method], edgecolor=colours[method], zorder=4,
                   label=f"{method}: held-out bound at a checkpoint (a dot per seed)")
    ax.axhline(truth, color="black", ls="--", lw=1.2, label="truth")
    k = f[f.method == METHODS["ksg"]]["estimate"].mean()
    ax.scatter([last], [k], marker="*", s=160, color="C2", zorder=5, label="KSG (mean over seeds)")
    # Limits from the curves, so that a same-critic value far off (a DV critic's free offset can put its NWJ at -100
    # nats) is drawn at the edge with its value rather than squashing the panel.
    lo, hi = (truth - 0.15, truth + 0.06) if dim < HIGH_DIM else (min(-0.5, g["mi"].min() - 0.3), truth + 0.8)
    ax.set_ylim(lo, hi)
    for trained, other, marker in (("dv", "nwj", "x"), ("nwj", "dv", "+")):
        if trained in same.index:
            value = same.loc[trained, other]
            y = min(max(value, lo), hi)
            ax.scatter([last * 1.12], [y], marker=marker, s=60, color=colours[METHODS[other]], zorder=5,
                       clip_on=False, label=f"{METHODS[other]} of the {METHODS[trained]} critic (same critic, final)")
            if y != value:
                ax.annotate(f"{value:.1f} (off scale)", (last * 1.12, y), xytext=(-4, 6), textcoords="offset points",
                            ha="right", fontsize=7, color=colours[METHODS[other]])
    ax.set_xscale("log")
    ax.set(title=f"Gaussians of dimension {dim}", xlabel="iteration (log scale)", ylabel="MI (nats)")
