"""Fig 4: GAN vs MINEGAN on the 25-Gaussian grid, with the mode table the paper lacks and the
adaptive-clipping ablation of appendix 6.3.

Settings in ``docs/settings.md`` (the networks and optimiser of Fig 3). Each seed trains the GAN
(beta 0) and MINEGAN (beta 1, clipped) on its own 100k-point data set; the final samples are scored
with the mode metrics of :func:`minelib.metrics.grid_mode_metrics` (modes covered of 25, % high
quality, reverse KL). The ablation trains MINEGAN with beta in ``ablation_betas``, with and without
clipping, and keeps both gradient norms at every iteration.

A unit of work is one stacked training: a (beta, clip) setting on a list of seeds. A (beta, clip,
seed) run is trained once: the ablation's clipped beta-1 runs are the main grid's MINEGAN runs, the
same unit read by both the mode table and the ablation.
"""
from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np
import pandas as pd

from .. import seeding
from ..metrics import grid_mode_metrics
from ..toy2d import GRID_MEANS, grid_gaussians
from . import common, toy_gan
from .protocol import Unit, replicate_seeds
from .settings import check_profiles, setting
from .toy_gan import MODELS

NAME = "fig4_25gaussians_gan"
TITLE = "Fig 4: GAN vs MINEGAN on 25 Gaussians, with mode metrics and the clipping ablation"
PAPER_CLAIM = ("On the 25-Gaussian grid the GAN drops modes while MINEGAN captures all of them (Fig 4, shown as "
               "KDE plots; no numbers). Appendix 6.3: without adaptive clipping the unbounded MI gradient can "
               "overwhelm the adversarial one and the generator ignores the discriminator.")
DATA_SOURCE = ("synthetic 25-Gaussian grid: uniform mixture, means on {-4,-2,0,2,4}^2, std 0.05 "
               "(numpy default_rng, seeded)")
METRICS = ("modes", "hq_percent", "reverse_kl")


@dataclasses.dataclass(frozen=True)
class Settings(toy_gan.ToyGANSettings):
    """Fig 4's settings; the defaults are the paper profile."""

    steps: int = setting(5_000, "DEF, as Fig 3 (the paper gives none for Fig 4)",
                         "training iterations (one D, one T and one G step each)", low=1)
    n_data: int = setting(100_000, "PAC", "data points per seed (minibatches drawn with replacement)", low=1)
    n_samples: int = setting(2_500, "DEF", "generator samples kept at each recorded iteration (KDE and metrics)",
                             low=2)
    curve_every: int = setting(500, "DEF", "iterations between the samples of the metric curves", low=1)
    ablation: bool = setting(True, "PAPER app. 6.3", "also run the clipping ablation (MINEGAN with and without "
                                                     "clipping for each of ablation_betas)")
    ablation_betas: tuple[float, ...] = setting((1.0, 10.0), "DEF (app. 6.3 gives no values)",
                                                "MI weights of the ablation", low=0.0)
    ablation_seeds: int = setting(3, "DEF", "seeds of each ablation setting (shared with the main grid where the "
                                            "run is the same)", low=1)


PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(seeds=1, steps=30, lr=1e-3, g_hidden=(32, 32), d_hidden=(32, 32, 32), t_hidden=(32, 32, 32),
                  n_data=2_000, n_samples=500, ablation_seeds=1, curve_every=10),
    # Minutes on 2 CPU cores: narrower networks (128 wide), a 10x larger step size, 3000 iterations
    # (our choice); 3 seeds for the table, one for the ablation.
    "quick": dict(seeds=3, steps=3_000, lr=1e-3, g_hidden=(128, 128), d_hidden=(128, 128, 128),
                  t_hidden=(128, 128, 128), ablation_seeds=1),
})
PAPER = {"gan_modes": "fewer than 25 (figure only)", "minegan_modes": "25 (\"captures all the modes\", figure only)",
         "ablation_beta10_noclip_hq_percent": "lower than with clipping: G chases MI, ignores D (appendix 6.3, "
                                              "no numbers)"}


def trainings(cfg: Settings) -> list[tuple[str, float, bool, tuple[int, ...]]]:
    """Every stacked training, in order, as ``(role, beta, clip, seeds)``: the main grid's GAN (beta 0) and
    MINEGAN on seeds ``0 .. seeds - 1``, then each ablation (beta, clip) on those of its seeds ``0 ..
    ablation_seeds - 1`` that no earlier training ran (role ``"main"`` or ``"ablation"``)."""
    wanted = [("main", 0.0, cfg.clip, range(cfg.seeds)), ("main", cfg.beta, cfg.clip, range(cfg.seeds))]
    if cfg.ablation:
        wanted += [("ablation", beta, clip, range(cfg.ablation_seeds))
                   for beta in cfg.ablation_betas for clip in (True, False)]
    out, done = [], set()
    for role, beta, clip, seeds in wanted:
        missing = tuple(s for s in seeds if (beta, clip, s) not in done)
        if missing:
            out.append((role, beta, clip, missing))
            done.update((beta, clip, s) for s in missing)
    return out


def units(cfg: Settings) -> list[Unit]:
    """One unit per stacked training of :func:`trainings`, keyed by its (beta, clip, seeds)."""
    return [Unit(f"beta{beta!r}-{'clip' if clip else 'noclip'}-seeds{'_'.join(map(str, seeds))}",
                 {"role": role, "beta": beta, "clip": clip, "seeds": list(seeds)})
            for role, beta, clip, seeds in trainings(cfg)]


def _score(x: np.ndarray) -> dict:
    """The mode metrics of a batch of samples (:func:`minelib.metrics.grid_mode_metrics`)."""
    m = grid_mode_metrics(x)
    return {k: m[k] for k in METRICS}


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> list[dict]:
    """Train one (beta, clip) setting for the unit's seeds at once, each on its own data set; one kept
    record per seed (:func:`minelib.experiments.toy_gan.keep`: samples and mode metrics every
    ``curve_every`` iterations, history, settings)."""
    seeds = unit.params["seeds"]
    data = [grid_gaussians(cfg.n_data, seed=(seed, s))[0] for s in seeds]
    run_seeds = replicate_seeds(seed, max(seeds) + 1)
    runs = toy_gan.train(cfg, data, unit.params["beta"], unit.params["clip"], [run_seeds[s] for s in seeds],
                         toy_gan.record_points(cfg.steps, cfg.curve_every), device, progress)
    return [toy_gan.keep(r, _score) for r in runs]


def _ablation(cfg: Settings, runs: dict) -> tuple[list[dict], pd.DataFrame, dict]:
    """The ablation's rows (final metrics and how the two gradients compared), gradient norms and final
    samples per (beta, clip, seed), from the kept runs."""
    rows, norms, samples = [], [], {}
    cols = ["beta", "clip", "seed", "step", "norm_u", "norm_m", "norm_a"]
    for beta in cfg.ablation_betas if cfg.ablation else ():
        for clip in (True, False):
            for s in range(cfg.ablation_seeds):
                r = runs[(beta, clip, s)]
                h = r["history"]
                samples[(beta, clip, s)] = r["samples"][cfg.steps]
                rows.append({"beta": beta, "clip": clip, "seed": s, **r["scores"][cfg.steps],
                             "max_ratio": float((h.norm_a / h.norm_u).max()),
                             "median_mi_to_adv": float((h.norm_m / h.norm_u).median()),
                             "steps_capped": int((h.norm_m > h.norm_u).sum())})
                norms.append(h[["step", "norm_u", "norm_m", "norm_a"]].assign(beta=beta, clip=clip, seed=s))
    norms = pd.concat(norms, ignore_index=True)[cols] if norms else pd.DataFrame(columns=cols)
    return rows, norms, samples


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """Returns ``{"samples": {(model, seed): final (n_samples, 2) array}, "modes": DataFrame(model, seed,
    modes, hq_percent, reverse_kl), "curves": DataFrame(model, seed, step, <metrics>), "history":
    DataFrame(model, seed, <train_gan history>), "ablation": DataFrame(beta, clip, seed, <metrics>,
    max_ratio, steps_capped), "norms": DataFrame(beta, clip, seed, step, norm_u, norm_m, norm_a),
    "ablation_samples": {(beta, clip, seed): array}, "data": (n_samples, 2), "data_modes": {...},
    "settings": {...}}``."""
    runs = {(u.params["beta"], u.params["clip"], s): r for u in units(cfg) for s, r in zip(u.params["seeds"],
                                                                                          parts[u.key])}
    main = [(model, s, runs[(beta, cfg.clip, s)]) for model, beta in zip(MODELS, (0.0, cfg.beta))
            for s in range(cfg.seeds)]
    settings = {f"{model}_seed{s}": r["settings"] for model, s, r in main}
    for u in units(cfg):
        if u.params["role"] == "ablation":
            tag = f"ablation_beta{u.params['beta']:g}_{'clip' if u.params['clip'] else 'noclip'}"
            settings.update({f"{tag}_seed{s}": r["settings"] for s, r in zip(u.params["seeds"], parts[u.key])})
    ab_rows, norms, ab_samples = _ablation(cfg, runs)
    ref = grid_gaussians(cfg.n_samples, seed=seeding.sequence(seed, "sample"))[0]
    return {"samples": {(model, s): r["samples"][cfg.steps] for model, s, r in main},
            "modes": pd.DataFrame([{"model": model, "seed": s, **r["scores"][cfg.steps]} for model, s, r in main]),
            "curves": pd.DataFrame([{"model": model, "seed": s, "step": step, **score}
                                    for model, s, r in main for step, score in r["scores"].items()]),
            "history": toy_gan.histories(main),
            "ablation": pd.DataFrame(ab_rows), "norms": norms, "ablation_samples": ab_samples,
            "data": ref, "data_modes": _score(ref), "clip": bool(cfg.clip), "steps": cfg.steps,
            "settings": settings}


def summary(result: dict) -> pd.DataFrame:
    """The mode table: modes covered (of 25), % high-quality samples and reverse KL, mean and std over
    seeds, per model, with the data's own values as a reference row."""
    g = result["modes"].groupby("model", sort=False)
    t = g.agg(**{f"{k}_{f}": (k, f) for k in METRICS for f in ("mean", "std")}, seeds=("seed", "nunique"))
    t = t.reindex(list(MODELS))
    t.loc["data"] = {**{f"{k}_mean": v for k, v in result["data_modes"].items()}, "seeds": 1}
    return t.reset_index()


def ablation_summary(result: dict) -> pd.DataFrame:
    """Clipping ablation: metrics per (beta, clip), means over seeds, and how the two gradients compared."""
    a = result["ablation"]
    if a.empty:
        return a
    return (a.groupby(["beta", "clip"], sort=False)
            .agg(modes=("modes", "mean"), hq_percent=("hq_percent", "mean"), reverse_kl=("reverse_kl", "mean"),
                 max_norm_a_over_u=("max_ratio", "max"), median_norm_m_over_u=("median_mi_to_adv", "median"),
                 iterations_with_norm_m_above_u=("steps_capped", "mean"), seeds=("seed", "nunique"))
            .reset_index())


def metrics(result: dict) -> dict:
    """The mode table's means and stds per model, the data's values, and the ablation's per (beta, clip)."""
    t = summary(result).set_index("model")
    out = {}
    for model in (*MODELS, "data"):
        for k in METRICS:
            out[f"{model.lower()}_{k}"] = _num(t.loc[model, f"{k}_mean"])
            if model != "data":
                out[f"{model.lower()}_{k}_std"] = _num(t.loc[model, f"{k}_std"])
    m = result["modes"]
    out["minegan_all_25_seeds"] = f"{int((m[m.model == 'MINEGAN'].modes == 25).sum())}/{m.seed.nunique()}"
    out["kl_undefined_seeds"] = int(m.reverse_kl.isna().sum())
    a = ablation_summary(result)
    for row in a.itertuples(index=False):   # namedtuples: row.clip is the column, not DataFrame.clip
        tag = f"ablation_beta{row.beta:g}_{'clip' if row.clip else 'noclip'}"
        out[f"{tag}_hq_percent"] = float(row.hq_percent)
        out[f"{tag}_modes"] = float(row.modes)
        out[f"{tag}_max_norm_a_over_u"] = float(row.max_norm_a_over_u)
    return out


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def invariants(result: dict) -> list[str]:
    """What must hold at any size; raises AssertionError otherwise. Returns a fixed description."""
    m, h, n = result["modes"], result["history"], result["norms"]
    for x in list(result["samples"].values()) + list(result["ablation_samples"].values()):
        assert x.ndim == 2 and x.shape[1] == 2 and np.isfinite(x).all(), "finite 2-D samples"
    assert m["modes"].between(0, 25).all() and m["hq_percent"].between(0, 100).all(), "metrics in range"
    kl = m["reverse_kl"].dropna()
    assert ((kl >= 0) & (kl <= math.log(25) + 1e-9)).all(), "reverse KL in [0, log 25]"
    assert (m["reverse_kl"].isna() == (m["modes"] == 0)).all(), "KL undefined exactly when no sample is HQ"
    d = result["data_modes"]
    assert d["modes"] == 25 and d["hq_percent"] > 95 and d["reverse_kl"] < 0.1, "the data itself scores as data"
    cols = ["d_loss", "g_loss", "norm_u", "norm_m", "norm_a"]
    assert np.isfinite(h[cols].to_numpy()).all() and np.isfinite(h[h.model == "MINEGAN"]["mi"]).all(), "finite"
    clipped = [h[h.model == "MINEGAN"]] if result["clip"] else []
    if not n.empty:
        clipped.append(n[n["clip"]])
        raw = n[~n["clip"]]
        assert np.allclose(raw.norm_a, raw.norm_m), "without clipping the MI gradient is applied unchanged"
    for c in clipped:
        assert (c.norm_a <= c.norm_u * (1 + 1e-5) + 1e-12).all(), "with clipping |g_a| <= |g_u| at every step"
    return ["GAN and MINEGAN samples finite, of shape (n, 2), for every seed and ablation run",
            "modes in [0, 25], high-quality share in [0, 100]%, reverse KL in [0, log 25] wherever defined",
            "the data's own samples cover all 25 modes with more than 95% high quality",
            "every loss, gradient norm and MI estimate finite",
            "with adaptive clipping |g_a| <= |g_u| at every iteration; without it g_m is applied unchanged"]


def claims(result: dict, profile: str) -> list[dict]:
    """The paper's claims (Fig 4, appendix 6.3), judged under ``quick`` and ``paper`` (not under ``smoke``)."""
    from ..results import claim

    m = metrics(result)
    j = lambda held: common.judged(profile, held)
    seeds = result["modes"]["seed"].nunique()
    fmt = lambda k: "undefined" if m[k] is None else f"{m[k]:.2f}"
    pm = lambda k: "" if m.get(f"{k}_std") is None else f" +- {m[f'{k}_std']:.2f}"
    table = (f"mean over {seeds} seed(s): modes MINEGAN {fmt('minegan_modes')}{pm('minegan_modes')} vs GAN "
             f"{fmt('gan_modes')}{pm('gan_modes')}; reverse KL MINEGAN {fmt('minegan_reverse_kl')}"
             f"{pm('minegan_reverse_kl')} vs GAN {fmt('gan_reverse_kl')}{pm('gan_reverse_kl')} nats; high quality "
             f"MINEGAN {fmt('minegan_hq_percent')}% vs GAN {fmt('gan_hq_percent')}% (data "
             f"{m['data_hq_percent']:.1f}%)")
    kl_ok = m["minegan_reverse_kl"] is not None and m["gan_reverse_kl"] is not None and m["kl_undefined_seeds"] == 0
    out = [
        claim("MINEGAN covers at least as many modes as the GAN", j(m["minegan_modes"] >= m["gan_modes"]), table),
        claim("MINEGAN's mode histogram is closer to uniform: lower reverse KL than the GAN",
              j(kl_ok and m["minegan_reverse_kl"] < m["gan_reverse_kl"]),
              table + ("" if kl_ok else f"; KL undefined (no HQ sample) in {m['kl_undefined_seeds']} run(s)")),
        claim("MINEGAN captures all 25 modes (every seed)", j(m["minegan_all_25_seeds"] == f"{seeds}/{seeds}"),
              f"MINEGAN covers all 25 modes in {m['minegan_all_25_seeds']} seeds"),
        claim("The GAN drops modes (fewer than 25 on average)", j(m["gan_modes"] < 25),
              f"GAN covers {fmt('gan_modes')} of 25 modes on average"),
    ]
    a = ablation_summary(result)
    if not a.empty:
        big = max(a.beta)
        row = lambda clip: a[(a.beta == big) & (a["clip"] == clip)].iloc[0]
        on, off = row(True), row(False)
        out.append(claim(
            f"Without clipping, beta = {big:g} costs sample quality: fewer high-quality samples than with clipping",
            j(off.hq_percent < on.hq_percent),
            f"beta {big:g}: {off.hq_percent:.1f}% HQ, {off.modes:.1f} modes without clipping vs {on.hq_percent:.1f}% "
            f"HQ, {on.modes:.1f} modes with it; unclipped |g_m|/|g_u| median {off.median_norm_m_over_u:.1f}"))
    return out


def _kde(ax, x, title, color="C0"):
    import seaborn as sns

    sns.kdeplot(x=x[:, 0], y=x[:, 1], fill=True, thresh=0.02, levels=12, gridsize=120, bw_adjust=0.5,
                cmap="Blues" if color == "C0" else ("Greens" if color == "C2" else "Oranges"), ax=ax)
    ax.scatter(GRID_MEANS[:, 0], GRID_MEANS[:, 1], marker="+", s=30, color="black", lw=0.8)
    ax.set(title=title, xlim=(-6, 6), ylim=(-6, 6), aspect="equal")


def plot(result: dict, seed: int = 0):
    """The paper's Fig 4: KDE of data, GAN and MINEGAN samples; true means marked +."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8))
    d = result["data_modes"]
    _kde(axes[0], result["data"], f"data: {d['modes']} modes, {d['hq_percent']:.0f}% HQ", "C2")
    modes = result["modes"].set_index(["model", "seed"])
    for ax, model, color in zip(axes[1:], MODELS, ("C0", "C1")):
        r = modes.loc[(model, seed)]
        kl = "n/a" if not np.isfinite(r.reverse_kl) else f"{r.reverse_kl:.2f}"
        _kde(ax, result["samples"][(model, seed)],
             f"{model}: {int(r.modes)} modes, {r.hq_percent:.0f}% HQ, KL {kl}", color)
    fig.suptitle(f"{result['steps']} iterations, seed {seed}")
    fig.tight_layout()
    return fig


def plot_curves(result: dict):
    """Mode metrics against iteration, mean and sd over seeds."""
    panels = list(zip(METRICS, ("modes covered (of 25)", "% high-quality samples", "reverse KL (nats)")))
    return toy_gan.plot_against_iteration(result["curves"], panels, result["data_modes"], figsize=(14, 3.6))


def plot_clipping(result: dict, seed: int = 0, smooth: int = 50):
    """The ablation: gradient norms against iteration (top) and final samples (bottom) per (beta, clip)."""
    import matplotlib.pyplot as plt

    n, a = result["norms"], result["ablation"]
    configs = [(b, c) for b in sorted(n.beta.unique()) for c in (True, False)]
    fig, axes = plt.subplots(2, len(configs), figsize=(4 * len(configs), 7.5), squeeze=False)
    for col, (beta, clip) in enumerate(configs):
        g = n[(n.beta == beta) & (n["clip"] == clip) & (n.seed == seed)].sort_values("step")
        ax = axes[0, col]
        for key, label, style, color, lw in (("norm_u", "|g_u| adversarial", "-", "C0", 3.0),
                                             ("norm_m", "|g_m| MI term", "--", "C3", 1.5),
                                             ("norm_a", "|g_a| MI, applied", ":", "black", 1.8)):
            ax.plot(g.step, g[key].rolling(smooth, min_periods=1).mean(), style, color=color, label=label, lw=lw)
        ax.set(yscale="log", xlabel="iteration", title=f"beta = {beta:g}, {'clipped' if clip else 'not clipped'}")
        if col == 0:
            ax.set_ylabel(f"gradient norm over G's parameters\n(mean of {smooth} iterations)")
            ax.legend(fontsize=8)
        x = result["ablation_samples"][(beta, clip, seed)]
        r = a[(a.beta == beta) & (a["clip"] == clip) & (a.seed == seed)].iloc[0]
        ax = axes[1, col]
        ax.scatter(result["data"][:, 0], result["data"][:, 1], s=2, color="0.7", rasterized=True)
        ax.scatter(x[:, 0], x[:, 1], s=2, color="C1", alpha=0.6, rasterized=True)
        ax.set(title=f"{int(r.modes)} modes, {r.hq_percent:.1f}% HQ", xlim=(-6, 6), ylim=(-6, 6), aspect="equal")
    fig.tight_layout()
    return fig


def explore(beta: float = 1.0, iterations: int = 1000, clip: bool = True, profile: str = "quick", seed: int = 0):
    """Train one model for the notebook's widget (the networks of ``profile``) and show the KDE of its samples
    with the mode metrics."""
    import matplotlib.pyplot as plt

    cfg = common.settings(sys.modules[__name__], profile, steps=int(iterations))
    data = grid_gaussians(cfg.n_data, seed=seed)[0]
    r = toy_gan.train(cfg, data, float(beta), bool(clip), seed, record_at=[cfg.steps], progress=True)
    x = r.samples[cfg.steps]
    s = _score(x)
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    _kde(ax, x, f"beta = {beta:g}{', clipped' if clip and beta > 0 else ''}, {iterations} it.: "
                f"{s['modes']} modes, {s['hq_percent']:.0f}% HQ", "C1" if beta > 0 else "C0")
    ax.title.set_fontsize(9)
    return fig
