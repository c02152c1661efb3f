"""Fig 3: GAN (beta 0) vs MINEGAN (beta 1) on the swiss roll, samples at three iterations.

PAPER_SPEC section 4. Each seed trains both models on its own 100k-point data set; samples from a
fixed noise batch are kept at the three snapshot iterations of the figure and on a regular grid of
iterations for the coverage curve. Coverage is the number of occupied arc-length bins out of 100
(:func:`minelib.metrics.spiral_coverage`, our definition: the paper gives no number).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..gan import train_gan
from ..metrics import spiral_coverage
from ..toy2d import swiss_roll
from . import common

NAME = "fig3_swiss_roll_gan"
TITLE = "Fig 3: GAN vs MINEGAN on the swiss roll"
PAPER_CLAIM = ("The GAN's generator suffers from mode collapse and covers the swiss roll poorly; MINEGAN, which "
               "also maximises I(G(Z); Z), converges faster and covers more of the ground-truth distribution.")
DATA_SOURCE = ("synthetic spiral (ALI's swiss roll): pos ~ U(0, 2), r = (2 pos + 1) / 3, "
               "x = (r sin 2 pi pos, r cos 2 pi pos) + 0.1 N(0, I) (numpy default_rng, seeded)")
MODELS = ("GAN", "MINEGAN")

PROFILES = {
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(seeds=1, steps=30, snapshots=[10, 20, 30], curve_every=10, beta=1.0, clip=True, lr=1e-3,
                  batch_size=100, g_hidden=[32, 32], d_hidden=[32, 32, 32], t_hidden=[32, 32, 32],
                  n_data=2_000, n_samples=500, bins=100),
    # Minutes on 2 CPU cores: narrower networks (128 wide), a 10x larger step size and 3000 iterations
    # [DEF], snapshots at the same fractions (1/5, 3/5, 1) of training as the paper's 1000/3000/5000.
    "quick": dict(seeds=3, steps=3_000, snapshots=[600, 1_800, 3_000], curve_every=200, beta=1.0, clip=True,
                  lr=1e-3, batch_size=100, g_hidden=[128, 128], d_hidden=[128, 128, 128],
                  t_hidden=[128, 128, 128], n_data=100_000, n_samples=2_000, bins=100),
    # PAPER_SPEC 4: G 2 x 500 (BatchNorm, LeakyReLU 0.2), D and T 3 x 400, Adam 1e-4 (0.5, 0.999), batch
    # 100, 5000 iterations, 2000 samples at 1000/3000/5000, 100k data points, 5 seeds.
    "paper": dict(seeds=5, steps=5_000, snapshots=[1_000, 3_000, 5_000], curve_every=250, beta=1.0, clip=True,
                  lr=1e-4, batch_size=100, g_hidden=[500, 500], d_hidden=[400, 400, 400],
                  t_hidden=[400, 400, 400], n_data=100_000, n_samples=2_000, bins=100),
}
PAPER = {"gan_coverage_last": "poor: collapsed (figure only)",
         "minegan_coverage_last": "more than the GAN's (figure only)",
         "minegan_coverage_first": "more than the GAN's: converges faster (figure only)"}


def settings(profile: str, **overrides) -> dict:
    """This figure's settings for ``profile`` with overrides applied (None means keep)."""
    cfg = common.settings(PROFILES, profile, **overrides)
    if overrides.get("steps") is not None and overrides.get("snapshots") is None:
        # a steps override without snapshots: keep the paper's fractions of training (1000/3000/5000 of 5000)
        cfg["snapshots"] = sorted({max(1, round(cfg["steps"] * f)) for f in (0.2, 0.6, 1.0)})
    if max(cfg["snapshots"]) > cfg["steps"]:
        raise ValueError(f"snapshots {cfg['snapshots']} go past steps={cfg['steps']}")
    return cfg


def _record_points(cfg: dict) -> list[int]:
    return sorted(set(cfg["snapshots"]) | set(range(0, cfg["steps"] + 1, cfg["curve_every"])) | {cfg["steps"]})


def train_one(cfg: dict, data, beta: float, seed, device: str = "auto", progress: bool = True, record_at=None):
    """One GAN/MINEGAN run with this experiment's networks and optimiser (a list of runs for lists of
    data sets and seeds, trained as one stacked model)."""
    return train_gan(data, beta=beta, steps=cfg["steps"], clip=cfg["clip"], batch_size=cfg["batch_size"],
                     lr=cfg["lr"], record_at=_record_points(cfg) if record_at is None else record_at,
                     n_record=cfg["n_samples"], g_hidden=cfg["g_hidden"], d_hidden=cfg["d_hidden"],
                     t_hidden=cfg["t_hidden"], device=device, seed=seed, progress=progress)


def run(cfg: dict, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """Train the GAN and MINEGAN for every seed.

    Returns ``{"samples": {(model, seed, iteration): (n_samples, 2) array}, "coverage": DataFrame(model,
    seed, step, coverage, on_arc_percent), "history": DataFrame(model, seed, <train_gan history>),
    "data": (n_samples, 2) data points, "data_coverage": {...}, "snapshots": [...], "clip": bool,
    "settings": {...}}``.
    """
    samples, cover, hist, train_settings = {}, [], [], {}
    seeds = range(cfg["seeds"])
    data = [swiss_roll(cfg["n_data"], seed=(seed, s))[0] for s in seeds]
    for model, beta in zip(MODELS, (0.0, cfg["beta"])):
        # All seeds of one model train at once, as one stacked model (minelib.ensemble).
        for s, r in zip(seeds, train_one(cfg, data, beta, [seed * 1000 + s for s in seeds], device, progress)):
            train_settings[f"{model}_seed{s}"] = {**r.settings, "seconds": round(r.seconds, 2)}
            for step, x in r.samples.items():
                samples[(model, s, step)] = x
                m = spiral_coverage(x, bins=cfg["bins"])
                cover.append((model, s, step, m["coverage"], m["on_arc_percent"]))
            hist.append(r.history.assign(model=model, seed=s))
    ref, _ = swiss_roll(cfg["n_samples"], seed=(seed, 999_999))
    ref_m = spiral_coverage(ref, bins=cfg["bins"])
    history = pd.concat(hist, ignore_index=True)
    return {"samples": samples,
            "coverage": pd.DataFrame(cover, columns=["model", "seed", "step", "coverage", "on_arc_percent"]),
            "history": history[["model", "seed", *history.columns[:-2]]],
            "data": ref, "data_coverage": {k: ref_m[k] for k in ("coverage", "on_arc_percent")},
            "snapshots": list(cfg["snapshots"]), "clip": bool(cfg["clip"]), "settings": train_settings}


def summary(result: dict) -> pd.DataFrame:
    """Coverage (bins out of 100) and share of samples on the arc at the snapshot iterations: mean, std over seeds."""
    c = result["coverage"]
    snaps = sorted(_snapshots(result))
    return (c[c.step.isin(snaps)].groupby(["step", "model"])
            .agg(coverage_mean=("coverage", "mean"), coverage_std=("coverage", "std"),
                 on_arc_percent_mean=("on_arc_percent", "mean"), on_arc_percent_std=("on_arc_percent", "std"),
                 seeds=("seed", "nunique")).reset_index())


def _snapshots(result: dict) -> list[int]:
    """The three iterations of the figure."""
    return sorted(result["snapshots"])


def metrics(result: dict) -> dict:
    s = summary(result)
    first, last = s["step"].min(), s["step"].max()
    out = {"data_coverage": result["data_coverage"]["coverage"],
           "data_on_arc_percent": result["data_coverage"]["on_arc_percent"],
           "first_snapshot": int(first), "last_snapshot": int(last)}
    for model in MODELS:
        key = model.lower()
        for tag, step in (("first", first), ("last", last)):
            row = s[(s.step == step) & (s.model == model)].iloc[0]
            out[f"{key}_coverage_{tag}"] = float(row.coverage_mean)
            out[f"{key}_coverage_{tag}_std"] = float(row.coverage_std) if np.isfinite(row.coverage_std) else None
            out[f"{key}_on_arc_percent_{tag}"] = float(row.on_arc_percent_mean)
    return out


def invariants(result: dict) -> list[str]:
    """What must hold at any size; raises AssertionError otherwise. Returns a fixed description."""
    c, h = result["coverage"], result["history"]
    seeds = c["seed"].nunique()
    for model in MODELS:
        for s in range(seeds):
            for step in _snapshots(result):
                x = result["samples"][(model, s, step)]
                assert x.ndim == 2 and x.shape[1] == 2 and np.isfinite(x).all(), "finite 2-D samples at every snapshot"
    assert c["coverage"].between(0, 100).all() and c["on_arc_percent"].between(0, 100).all(), "coverage in range"
    cols = ["d_loss", "g_loss", "norm_u", "norm_m", "norm_a"]
    assert np.isfinite(h[cols].to_numpy()).all(), "every loss and gradient norm finite"
    mg = h[h.model == "MINEGAN"]
    assert np.isfinite(mg["mi"]).all(), "MINEGAN's MI estimate finite"
    if result["clip"]:
        assert (mg["norm_a"] <= mg["norm_u"] * (1 + 1e-5) + 1e-12).all(), "clipped MI gradient <= adversarial"
    return ["GAN and MINEGAN samples finite, of shape (n, 2), at the three snapshot iterations for every seed",
            "coverage between 0 and 100 bins; every loss, gradient norm and MI estimate finite",
            "with adaptive clipping on, |g_a| <= |g_u| at every MINEGAN iteration"]


def claims(result: dict, profile: str) -> list[dict]:
    from ..results import claim

    m = metrics(result)
    j = lambda held: common.judged(profile, held)
    seeds = result["coverage"]["seed"].nunique()
    sd = lambda key: f" +- {m[key]:.1f}" if m.get(key) is not None else ""
    detail = lambda tag: (
        f"mean over {seeds} seed(s) at iteration {m[f'{tag}_snapshot']}: MINEGAN {m[f'minegan_coverage_{tag}']:.1f}"
        f"{sd(f'minegan_coverage_{tag}_std')} vs GAN {m[f'gan_coverage_{tag}']:.1f}{sd(f'gan_coverage_{tag}_std')} "
        f"of 100 arc-length bins (data: {m['data_coverage']}); samples on the arc: MINEGAN "
        f"{m[f'minegan_on_arc_percent_{tag}']:.1f}%, GAN {m[f'gan_on_arc_percent_{tag}']:.1f}% "
        f"(data {m['data_on_arc_percent']:.1f}%)")
    return [
        claim("MINEGAN covers more of the swiss roll than the GAN at the last iteration",
              j(m["minegan_coverage_last"] > m["gan_coverage_last"]), detail("last")),
        claim("MINEGAN converges faster: more coverage at the first snapshot",
              j(m["minegan_coverage_first"] > m["gan_coverage_first"]), detail("first")),
    ]


def plot(result: dict, seed: int = 0):
    """The paper's Fig 3: samples (colour) over the data (grey), GAN top row, MINEGAN bottom, three iterations."""
    import matplotlib.pyplot as plt

    snaps = _snapshots(result)
    cov = result["coverage"].set_index(["model", "seed", "step"])
    fig, axes = plt.subplots(2, len(snaps), figsize=(4 * len(snaps), 8), sharex=True, sharey=True, squeeze=False)
    data = result["data"]
    for row, model in enumerate(MODELS):
        for col, step in enumerate(snaps):
            ax = axes[row, col]
            x = result["samples"][(model, seed, step)]
            ax.scatter(data[:, 0], data[:, 1], s=2, color="0.75", label="data", rasterized=True)
            ax.scatter(x[:, 0], x[:, 1], s=2, color=f"C{row}", alpha=0.7, label=model, rasterized=True)
            ax.set(title=f"{model}, {step} iterations\ncoverage {cov.loc[(model, seed, step), 'coverage']}/100",
                   xlim=(-2.3, 2.3), ylim=(-2.3, 2.3), aspect="equal")
    axes[0, 0].legend(loc="lower left", markerscale=4)
    fig.tight_layout()
    return fig


def plot_step(result: dict, step: int, seed: int = 0):
    """GAN and MINEGAN samples side by side at any recorded iteration (the notebook's browsing widget)."""
    import matplotlib.pyplot as plt

    recorded = sorted({k[2] for k in result["samples"]})
    step = min(recorded, key=lambda s: abs(s - step))
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
    for i, (ax, model) in enumerate(zip(axes, MODELS)):
        x = result["samples"][(model, seed, step)]
        m = spiral_coverage(x)
        ax.scatter(result["data"][:, 0], result["data"][:, 1], s=2, color="0.75", rasterized=True)
        ax.scatter(x[:, 0], x[:, 1], s=2, color=f"C{i}", alpha=0.7, rasterized=True)
        ax.set(title=f"{model}, {step} iterations: coverage {m['coverage']}/100", xlim=(-2.3, 2.3), ylim=(-2.3, 2.3),
               aspect="equal")
    fig.tight_layout()
    return fig


def plot_coverage(result: dict):
    """Coverage and share of samples on the arc against iteration (mean and sd over seeds), data as a line."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    c = result["coverage"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, col, label, ref in ((axes[0], "coverage", "occupied arc-length bins (of 100)", "coverage"),
                                (axes[1], "on_arc_percent", "% of samples within 0.3 of the arc", "on_arc_percent")):
        sns.lineplot(data=c, x="step", y=col, hue="model", hue_order=list(MODELS), errorbar="sd", marker="o", ax=ax)
        ax.axhline(result["data_coverage"][ref], color="black", ls="--", lw=1, label="data")
        ax.set(xlabel="iteration", ylabel=label)
        ax.legend()
    fig.tight_layout()
    return fig


def explore(beta: float = 1.0, iterations: int = 1000, profile: str = "quick", seed: int = 0):
    """Train one model for the notebook's widget and show its samples over the data."""
    import matplotlib.pyplot as plt

    cfg = settings(profile, steps=int(iterations), snapshots=[int(iterations)])
    data, _ = swiss_roll(cfg["n_data"], seed=seed)
    r = train_one(cfg, data, float(beta), seed, record_at=[int(iterations)], progress=True)
    x = r.samples[int(iterations)]
    m = spiral_coverage(x)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(data[:2000, 0], data[:2000, 1], s=2, color="0.75")
    ax.scatter(x[:, 0], x[:, 1], s=2, color="C1" if beta > 0 else "C0")
    ax.set(title=f"beta = {beta:g}, {iterations} iterations: coverage {m['coverage']}/100, "
                 f"{m['on_arc_percent']:.0f}% on the arc", xlim=(-2.3, 2.3), ylim=(-2.3, 2.3), aspect="equal")
    ax.title.set_fontsize(9)
    return fig
