"""Fig 5: ALI, ALICE (L2), ALICE (adversarial) and ALI+MINE on the 25-Gaussian grid.

PAPER_SPEC section 6. Every model trains with the one loop :func:`minelib.bidirectional.train_bidirectional`
on the same data and seed: F, G and the discriminators 2 x 256 ReLU MLPs, T 3 x 400 ELU, Adam 1e-3 with
beta1 0.5, batch 128, encoder ``F(x) + eps`` with ``eps ~ N(0, I_2)``. Scores on held-out data: the
reconstruction MSE ``mean |x - G(F(x) + eps)|^2`` and the modes covered by 2,500 samples ``G(z)``
(:func:`minelib.metrics.grid_mode_metrics`: a mode is covered by a sample within 3 std of its mean).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..bidirectional import VARIANT_NAMES, VARIANTS, encode, reconstruct, sample, toy_networks, train_bidirectional
from ..metrics import grid_mode_metrics
from ..toy2d import grid_gaussians
from . import common

NAME = "fig5_ali_reconstructions"
TITLE = "Fig 5: reconstructions, samples and embeddings of ALI, ALICE (L2), ALICE (A) and ALI+MINE on 25 Gaussians"
PAPER_CLAIM = ("On the 25-Gaussian grid ALICE reconstructs best but drops modes in its samples, ALI reconstructs "
               "poorly, and ALI+MINE (eq. 23) gives good reconstructions and the best mode coverage (Fig 5, "
               "figure only, no numbers).")
DATA_SOURCE = ("synthetic 25-Gaussian grid: uniform mixture, means on {-4,-2,0,2,4}^2, std 0.05 "
               "(numpy default_rng, seeded)")
MODELS = tuple(VARIANT_NAMES[v] for v in VARIANTS)
KEYS = {VARIANT_NAMES[v]: v for v in VARIANTS}

_COMMON = dict(variants=list(VARIANTS), batch_size=128, lr=1e-3, adam_betas=[0.5, 0.999], enc_noise=1.0, lam=1.0,
               adv_weight=0.1, beta=1.0, clip=True, n_test=2_500, n_samples=2_500)
PROFILES = {
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(_COMMON, seeds=1, steps=30, hidden=[32, 32], t_hidden=[32, 32, 32], n_data=2_000),
    # Minutes on one CPU thread: 128-wide networks and 1,500 iterations, 2 seeds [DEF].
    "quick": dict(_COMMON, seeds=2, steps=1_500, hidden=[128, 128], t_hidden=[128, 128, 128], n_data=100_000),
    # PAPER_SPEC 6: 2 x 256 networks, T 3 x 400, 10,000 iterations [DEF], 5 seeds.
    "paper": dict(_COMMON, seeds=5, steps=10_000, hidden=[256, 256], t_hidden=[400, 400, 400], n_data=100_000),
}
PAPER = {"ali": "poor reconstructions (figure only)", "alice": "best reconstructions, drops modes (figure only)",
         "ali_mine": "good reconstructions, best mode coverage (figure only)"}


def settings(profile: str, **overrides) -> dict:
    """This figure's settings for ``profile`` with overrides applied (None means keep)."""
    return common.check_members(common.settings(PROFILES, profile, **overrides), "variants", VARIANTS)


def train_seeds(cfg: dict, data: list[np.ndarray], variant: str, seeds: list[int], device: str = "auto",
                progress: bool = True):
    """One model of this figure per seed (and its data set), trained at once as one stacked model."""
    models = [toy_networks(variant, hidden=cfg["hidden"], t_hidden=cfg["t_hidden"], seed=s) for s in seeds]
    return train_bidirectional(data, models, variant, cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                               adam_betas=tuple(cfg["adam_betas"]), enc_noise=cfg["enc_noise"], lam=cfg["lam"],
                               adv_weight=cfg["adv_weight"], beta=cfg["beta"], clip=cfg["clip"], device=device,
                               seed=seeds, progress=progress)


def run(cfg: dict, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """Train every variant, all seeds at once; score reconstructions and samples on held-out data.

    Returns ``{"scores": DataFrame(model, seed, recon_mse, modes, hq_percent, reverse_kl, rec_modes, seconds),
    "panels": {(model, seed): {"rec", "samples", "emb"}}, "test": (x, mode) of the first seed, "history":
    DataFrame(model, seed, <train_bidirectional history>), "settings": {...}}``. ``seconds`` is a seed's share
    of its stacked training's wall time, so the column sums to the time spent training.
    """
    rows, panels, hist, train_settings = [], {}, [], {}
    run_seeds = [seed * 1000 + s for s in range(cfg["seeds"])]
    data = [grid_gaussians(cfg["n_data"], seed=(seed, s))[0] for s in range(cfg["seeds"])]
    tests = [grid_gaussians(cfg["n_test"], seed=(seed, s, 1)) for s in range(cfg["seeds"])]
    for v in cfg["variants"]:
        name = VARIANT_NAMES[v]
        for s, (run_seed, (x_test, _), r) in enumerate(zip(run_seeds, tests,
                                                           train_seeds(cfg, data, v, run_seeds, device, progress))):
            rec = reconstruct(r.model, x_test, noise=cfg["enc_noise"], seed=run_seed)
            smp = sample(r.model, cfg["n_samples"], seed=run_seed + 1)
            emb = encode(r.model, x_test, noise=0.0)
            m, mr = grid_mode_metrics(smp), grid_mode_metrics(rec)
            rows.append({"model": name, "seed": s, "recon_mse": float(((rec - x_test) ** 2).sum(1).mean()),
                         "modes": m["modes"], "hq_percent": m["hq_percent"], "reverse_kl": m["reverse_kl"],
                         "rec_modes": mr["modes"], "seconds": r.seconds / cfg["seeds"]})
            panels[(name, s)] = {"rec": rec, "samples": smp, "emb": emb}
            hist.append(r.history.assign(model=name, seed=s))
            train_settings[f"{v}_seed{s}"] = {**r.settings, "seconds": round(r.seconds, 2)}
    history = pd.concat(hist, ignore_index=True)
    return {"scores": pd.DataFrame(rows), "panels": panels, "test": tests[0],
            "history": history[["model", "seed", *history.columns[:-2]]], "settings": train_settings}


def summary(result: dict) -> pd.DataFrame:
    """Per model: reconstruction MSE, modes covered by samples (of 25) and by reconstructions, % high-quality
    samples, reverse KL; mean and std over seeds."""
    cols = ("recon_mse", "modes", "rec_modes", "hq_percent", "reverse_kl")
    g = result["scores"].groupby("model", sort=False)
    t = g.agg(**{f"{k}_{f}": (k, f) for k in cols for f in ("mean", "std")}, seeds=("seed", "nunique"))
    return t.reindex([m for m in MODELS if m in t.index]).reset_index()


def metrics(result: dict) -> dict:
    out = {}
    for _, r in summary(result).iterrows():
        k = KEYS[r["model"]]
        for c in ("recon_mse", "modes", "rec_modes", "hq_percent"):
            out[f"{c}_{k}"] = float(r[f"{c}_mean"])
        out[f"recon_mse_std_{k}"] = float(r["recon_mse_std"])
        out[f"modes_std_{k}"] = float(r["modes_std"])
    out["seconds_total"] = float(result["scores"]["seconds"].sum())
    return out


def invariants(result: dict) -> list[str]:
    """What must hold at any size; raises AssertionError otherwise. Returns a fixed description."""
    sc, h = result["scores"], result["history"]
    assert (sc.groupby(["model", "seed"]).size() == 1).all(), "one score row per (model, seed)"
    assert np.isfinite(sc["recon_mse"]).all() and (sc["recon_mse"] >= 0).all(), "reconstruction MSE finite, >= 0"
    assert sc["modes"].between(0, 25).all() and sc["rec_modes"].between(0, 25).all(), "modes counted of 25"
    assert np.isfinite(h[["d_loss", "g_loss"]].to_numpy()).all(), "training losses finite"
    mine = h[h.model == "ALI+MINE"]
    assert np.isfinite(mine["mi"]).all(), "ALI+MINE's I(X; Z) estimate finite"
    assert (mine["norm_a"] <= mine["norm_u"] * (1 + 1e-5) + 1e-7).all(), "clipped MI gradient never exceeds |g_u|"
    for p in result["panels"].values():
        assert np.isfinite(p["rec"]).all() and np.isfinite(p["samples"]).all() and np.isfinite(p["emb"]).all()
    return ["one finite, non-negative reconstruction MSE and a mode count in [0, 25] per model and seed",
            "training losses finite; ALI+MINE's I(X; Z) estimate finite",
            "adaptive clipping: the applied MI gradient's norm never exceeds the adversarial gradient's",
            "reconstructions, samples and embeddings are finite"]


def claims(result: dict, profile: str) -> list[dict]:
    """MINE covers at least as many modes as both ALICE variants; MINE reconstructs better than ALI."""
    from ..results import claim

    s = summary(result).set_index("model")
    if set(s.index) != set(MODELS):
        return [claim("ALI+MINE covers at least as many modes as both ALICE variants", None,
                      "not judged: needs all four models")]
    modes, mse = s["modes_mean"], s["recon_mse_mean"]
    n = int(s["seeds"].min())
    ctx = f"means over {n} seed(s), {result['settings'][next(iter(result['settings']))]['steps']} iterations."
    j = lambda held: common.judged(profile, held)
    fmt = lambda col, f: ", ".join(f"{m} {col[m]:{f}}" for m in MODELS)
    return [
        claim("ALI+MINE's samples cover at least as many of the 25 modes as both ALICE variants",
              j(modes["ALI+MINE"] >= max(modes["ALICE (L2)"], modes["ALICE (A)"])),
              f"modes covered by {len(result['panels'][next(iter(result['panels']))]['samples'])} samples: "
              f"{fmt(modes, '.1f')}; {ctx}"),
        claim("ALI+MINE reconstructs better than ALI (lower reconstruction MSE)",
              j(mse["ALI+MINE"] < mse["ALI"]), f"reconstruction MSE: {fmt(mse, '.3f')}; {ctx}"),
        claim("ALICE (L2) reconstructs best of the four", j(mse["ALICE (L2)"] <= mse.min()),
              f"reconstruction MSE: {fmt(mse, '.3f')}; {ctx}"),
    ]


def plot(result: dict, seed: int = 0):
    """The paper's Fig 5 layout: rows reconstructions G(F(x)+eps) / samples G(z) / embeddings F(x) coloured by
    mode; columns the four models (first seed)."""
    import matplotlib.pyplot as plt

    x_test, mode = result["test"]
    models = [m for m in MODELS if (m, seed) in result["panels"]]
    fig, axes = plt.subplots(3, len(models), figsize=(4 * len(models), 12), squeeze=False)
    sc = result["scores"].set_index(["model", "seed"])
    for j, m in enumerate(models):
        p = result["panels"][(m, seed)]
        r = sc.loc[(m, seed)]
        ax = axes[0, j]
        ax.scatter(x_test[:, 0], x_test[:, 1], s=2, c="lightgray", label="data")
        ax.scatter(p["rec"][:, 0], p["rec"][:, 1], s=2, c=mode, cmap="tab20", alpha=0.6)
        ax.set(title=f"{m}\nreconstructions (MSE {r['recon_mse']:.2f})", xlim=(-6, 6), ylim=(-6, 6))
        ax = axes[1, j]
        ax.scatter(x_test[:, 0], x_test[:, 1], s=2, c="lightgray")
        ax.scatter(p["samples"][:, 0], p["samples"][:, 1], s=2, c="C3", alpha=0.5)
        ax.set(title=f"samples ({int(r['modes'])} of 25 modes)", xlim=(-6, 6), ylim=(-6, 6))
        ax = axes[2, j]
        ax.scatter(p["emb"][:, 0], p["emb"][:, 1], s=2, c=mode, cmap="tab20")
        ax.set(title="embeddings F(x), coloured by mode")
        for a in axes[:, j]:
            a.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig


def explore(variant: str = "ali_mine", steps: int = 500, beta: float = 1.0, enc_noise: float = 1.0,
            clip: bool = True, seed: int = 0, device: str = "auto"):
    """One small model for the notebook's widget: reconstructions, samples and embeddings."""
    cfg = settings("quick", steps=steps, beta=beta, enc_noise=enc_noise, clip=clip, variants=[variant], seeds=1,
                   n_data=20_000, n_test=1_000, n_samples=1_000)
    return plot(run(cfg, device=device, seed=seed, progress=False))
