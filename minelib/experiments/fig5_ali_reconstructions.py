"""Fig 5: ALI, ALICE (L2), ALICE (adversarial) and ALI+MINE on the 25-Gaussian grid (paper §4.3, Fig 5).

Every model trains with the one loop :func:`minelib.bidirectional.train_bidirectional` on the same data and seed:
F, G and the discriminators 2 x 256 ReLU MLPs, T 3 x 400 ELU, Adam 1e-3 with beta1 0.5, batch 128 (ALICE's toy
settings), encoder ``F(x) + eps`` with ``eps ~ N(0, I_2)`` (eq. 23). Every setting and its source is in
``docs/settings.md``. Scores on held-out data: the reconstruction MSE ``mean |x - G(F(x) + eps)|^2`` and the modes
covered by 2,500 samples ``G(z)`` (:func:`minelib.metrics.grid_mode_metrics`: a mode is covered by a sample within
3 std of its mean). One unit of work per model, its seeds trained at once as one stacked model.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from ..bidirectional import VARIANT_NAMES, encode, toy_networks
from ..metrics import grid_mode_metrics
from ..toy2d import grid_gaussians
from . import _bidirectional as bi
from . import common
from .protocol import Unit, replicate_seeds
from .settings import check_profiles, make, setting

NAME = "fig5_ali_reconstructions"
TITLE = "Fig 5: reconstructions, samples and embeddings of ALI, ALICE (L2), ALICE (A) and ALI+MINE on 25 Gaussians"
PAPER_CLAIM = ("On the 25-Gaussian grid ALICE reconstructs best but drops modes in its samples, ALI reconstructs "
               "poorly, and ALI+MINE (eq. 23) gives good reconstructions and the best mode coverage (Fig 5, "
               "figure only, no numbers).")
DATA_SOURCE = ("synthetic 25-Gaussian grid: uniform mixture, means on {-4,-2,0,2,4}^2, std 0.05 "
               "(numpy default_rng, seeded)")
MODELS, KEYS = bi.MODELS, bi.KEYS


@dataclasses.dataclass(frozen=True)
class Settings(bi.BidirectionalSettings):
    """Fig 5's settings; the defaults are the paper profile."""

    seeds: int = setting(5, "DEF", "independent repetitions, trained as the members of one stacked model", low=1)
    steps: int = setting(10_000, "DEF", "training iterations of every model", low=1)
    batch_size: int = setting(128, "ALI", "minibatch size (ALICE's toy experiments)", low=2)
    lr: float = setting(1e-3, "ALI", "Adam learning rate of every network (ALICE's toy experiments)", low=0.0,
                        open_low=True)
    hidden: tuple[int, ...] = setting((256, 256), "ALI", "hidden widths of F, G and every discriminator (ReLU)", low=1)
    t_hidden: tuple[int, ...] = setting((400, 400, 400), "DEF", "hidden widths of the statistics network T on "
                                        "[x, z] (ELU)", low=1)
    n_data: int = setting(100_000, "DEF", "training points of each seed's data set", low=1)
    n_test: int = setting(2_500, "DEF", "held-out points reconstructed and embedded", low=1)
    n_samples: int = setting(2_500, "DEF", "samples G(z) whose modes are counted", low=1)


PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(seeds=1, steps=30, hidden=(32, 32), t_hidden=(32, 32, 32), n_data=2_000),
    # Minutes on one CPU thread: 128-wide networks and 1,500 iterations, 2 seeds.
    "quick": dict(seeds=2, steps=1_500, hidden=(128, 128), t_hidden=(128, 128, 128)),
})
PAPER = {"ali": "poor reconstructions (figure only)", "alice": "best reconstructions, drops modes (figure only)",
         "ali_mine": "good reconstructions, best mode coverage (figure only)"}


def units(cfg: Settings) -> list[Unit]:
    """One unit per model of ``cfg.variants``, in that order (its seeds trained at once, as one stacked model)."""
    return [Unit(v, {"variant": v}) for v in cfg.variants]


def _test(cfg: Settings, seed: int, replicate: int) -> tuple[np.ndarray, np.ndarray]:
    """Replicate ``replicate``'s held-out points and their modes."""
    return grid_gaussians(cfg.n_test, seed=(seed, replicate, 1))


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """Train one model's seeds as one stacked model, each on its own data set; score each on held-out data.
    ``seconds`` is a seed's share of the stacked training's wall time, so the column sums to the time spent."""
    v = unit.params["variant"]
    name, run_seeds = VARIANT_NAMES[v], replicate_seeds(seed, cfg.seeds)
    data = [grid_gaussians(cfg.n_data, seed=(seed, s))[0] for s in range(cfg.seeds)]
    models = [toy_networks(v, hidden=list(cfg.hidden), t_hidden=list(cfg.t_hidden), seed=rs) for rs in run_seeds]
    runs = bi.train(cfg, data, models, v, run_seeds, device=device, progress=progress)
    rows, panels, hist, train_settings = [], {}, [], {}
    for s, (run_seed, r) in enumerate(zip(run_seeds, runs)):
        x_test = _test(cfg, seed, s)[0]
        rec, smp = bi.outputs(cfg, r.model, x_test, run_seed)
        emb = encode(r.model, x_test, noise=0.0)
        m, mr = grid_mode_metrics(smp), grid_mode_metrics(rec)
        rows.append({"model": name, "seed": s, "recon_mse": float(((rec - x_test) ** 2).sum(1).mean()),
                     "modes": m["modes"], "hq_percent": m["hq_percent"], "reverse_kl": m["reverse_kl"],
                     "rec_modes": mr["modes"], "seconds": r.seconds / cfg.seeds})
        panels[(name, s)] = {"rec": rec, "samples": smp, "emb": emb}
        h, st = bi.run_record(v, s, r)
        hist.append(h)
        train_settings.update(st)
    return {"rows": rows, "panels": panels, "history": hist, "settings": train_settings}


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """Returns ``{"scores": DataFrame(model, seed, recon_mse, modes, hq_percent, reverse_kl, rec_modes, seconds),
    "panels": {(model, seed): {"rec", "samples", "emb"}}, "test": (x, mode) of the first seed, "history":
    DataFrame(model, seed, <train_bidirectional history>), "settings": {...}}``, models in ``cfg.variants`` order."""
    ordered = [parts[u.key] for u in units(cfg)]
    return {"scores": pd.DataFrame([r for p in ordered for r in p["rows"]]),
            "panels": {k: v for p in ordered for k, v in p["panels"].items()}, "test": _test(cfg, seed, 0),
            "history": bi.history_frame([h for p in ordered for h in p["history"]]),
            "settings": {k: v for p in ordered for k, v in p["settings"].items()}}


def summary(result: dict) -> pd.DataFrame:
    """Per model: reconstruction MSE, modes covered by samples (of 25) and by reconstructions, % high-quality
    samples, reverse KL; mean and std over seeds."""
    cols = ("recon_mse", "modes", "rec_modes", "hq_percent", "reverse_kl")
    g = result["scores"].groupby("model", sort=False)
    t = g.agg(**{f"{k}_{f}": (k, f) for k in cols for f in ("mean", "std")}, seeds=("seed", "nunique"))
    return t.reindex([m for m in MODELS if m in t.index]).reset_index()


def metrics(result: dict) -> dict:
    """The record's metrics: per model the means of the summary's scores and the std of MSE and modes."""
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
    sc = result["scores"]
    assert (sc.groupby(["model", "seed"]).size() == 1).all(), "one score row per (model, seed)"
    assert np.isfinite(sc["recon_mse"]).all() and (sc["recon_mse"] >= 0).all(), "reconstruction MSE finite, >= 0"
    assert sc["modes"].between(0, 25).all() and sc["rec_modes"].between(0, 25).all(), "modes counted of 25"
    trained = bi.training_invariants(result["history"])
    for p in result["panels"].values():
        assert np.isfinite(p["rec"]).all() and np.isfinite(p["samples"]).all() and np.isfinite(p["emb"]).all()
    return ["one finite, non-negative reconstruction MSE and a mode count in [0, 25] per model and seed", *trained,
            "reconstructions, samples and embeddings are finite"]


def claims(result: dict, profile: str) -> list[dict]:
    """MINE covers at least as many modes as both ALICE variants; MINE reconstructs better than ALI."""
    from ..results import claim

    s = summary(result).set_index("model")
    if set(s.index) != set(MODELS):
        return bi.not_judged(["ALI+MINE covers at least as many modes as both ALICE variants"],
                             "not judged: needs all four models")
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
    """One small model for the notebook's widget: reconstructions, samples and embeddings (Fig 5's layout)."""
    cfg = make(Settings, PROFILES, "quick", steps=steps, beta=beta, enc_noise=enc_noise, clip=clip,
               variants=[variant], seeds=1, n_data=20_000, n_test=1_000, n_samples=1_000)
    from .protocol import run  # not a name of this module: exp.run would read as the old API

    return plot(run(sys.modules[__name__], cfg, device=device, seed=seed, progress=False))
