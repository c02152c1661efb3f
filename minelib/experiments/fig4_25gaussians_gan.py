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
from ..verdicts import beats, explain
from . import common, toy_gan
from .protocol import Unit, replicate_seeds
from .settings import check_profiles, setting
from .toy_gan import LR_SCHEDULES, MODELS

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

    steps: int = setting(12_000, "DEV (the paper gives none; Fig 3's 5,000 leave the GAN unconverged)",
                         "training iterations (one D, one T and one G step each)", low=1)
    lr: float = setting(1e-3, "DEV (ICML's 1e-4 sharpens too slowly)", "Adam step size of G, D and T (Adam betas "
                        "0.5, 0.999)", low=0.0, open_low=True)
    lr_schedule: str = setting("cosine", "DEV (ICML's is constant)", "step size over training: cosine decay to 0 "
                               "(a constant 1e-3 leaves the last iterate oscillating)", choices=LR_SCHEDULES)
    g_batch_norm: bool = setting(False, "DEV (ICML's G has BatchNorm)", "BatchNorm after each of G's hidden layers "
                                 "(its batch statistics jitter every sample by more than a mode's width)")
    n_data: int = setting(100_000, "PAC", "data points per seed (minibatches drawn with replacement)", low=1)
    n_samples: int = setting(2_500, "DEF", "generator samples kept at each recorded iteration (KDE and metrics)",
                             low=2)
    curve_every: int = setting(500, "DEF", "iterations between the samples of the metric curves", low=1)
    ablation: bool = setting(True, "PAPER app. 6.3", "also run the clipping ablation (MINEGAN with and without "
                                                     "clipping for each of ablation_betas)")
    ablation_betas: tuple[float, ...] = setting((1.0, 10.0), "DEF (app. 6.3 gives no values)",
                                                "MI weights of the ablation", low=0.0)
    ablation_seeds: int = setting(2, "DEF", "seeds of each ablation setting (shared with the main grid where the "
                                            "run is the same)", low=1)



PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(seeds=1, steps=30, g_hidden=(32, 32), d_hidden=(32, 32, 32), t_hidden=(32, 32, 32),
                  n_data=2_000, n_samples=500, ablation_seeds=1, curve_every=10, reference_draws=3),
    # Minutes on 2 CPU cores: narrower networks (128 wide) and 10,000 iterations (a 128-wide GAN reaches
    # 62 % high-quality samples there; docs/diagnostics.md); 3 seeds for the table, one for the ablation.
    "quick": dict(seeds=3, steps=10_000, g_hidden=(128, 128), d_hidden=(128, 128, 128), t_hidden=(128, 128, 128),
                  ablation_seeds=1, curve_every=1_000),
})
#: Half-width of the plotted square, where the no-skill reference spreads its samples.
LIMIT = 6.0
#: The literature's plain GAN on this grid, for the "GAN of the literature's quality" check: PacGAN (Lin et al.
#: 2018, Table 1, 2-D grid, std 0.05; G 4 x 400 ReLU + BatchNorm, D 3 x 200 maxout, Adam 1e-4, batch 100),
#: recalled: 17.3 modes, 94.2 % high quality, reverse KL 0.70.
LITERATURE_GAN = {"modes": 17.3, "hq_percent": 94.2, "reverse_kl": 0.70}
#: The share of high-quality samples below which a GAN is too unconverged for the comparison to mean anything.
MIN_GAN_HQ = 50.0
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
    noise, noise_samples = toy_gan.reference(cfg, seed, _score, LIMIT)
    return {"reference": noise, "reference_samples": noise_samples,"samples": {(model, s): r["samples"][cfg.steps] for model, s, r in main},
            "modes": pd.DataFrame([{"model": model, "seed": s, **r["scores"][cfg.steps]} for model, s, r in main]),
            "curves": pd.DataFrame([{"model": model, "seed": s, "step": step, **score}
                                    for model, s, r in main for step, score in r["scores"].items()]),
            "history": toy_gan.histories(main),
            "ablation": pd.DataFrame(ab_rows), "norms": norms, "ablation_samples": ab_samples,
            "data": ref, "data_modes": _score(ref), "clip": bool(cfg.clip), "steps": cfg.steps,
            "settings": settings}


REFERENCE = "uniform noise"


def summary(result: dict) -> pd.DataFrame:
    """The mode table: modes covered (of 25), % high-quality samples and reverse KL, mean and std over
    seeds, per model, then the no-skill reference (uniform noise on the plotted square, mean and std over its
    draws) and the data's own values."""
    g = result["modes"].groupby("model", sort=False)
    t = g.agg(**{f"{k}_{f}": (k, f) for k in METRICS for f in ("mean", "std")}, seeds=("seed", "nunique"))
    t = t.reindex(list(MODELS))
    ref = result["reference"]
    t.loc[REFERENCE] = {**{f"{k}_{f}": getattr(ref[k], f)() for k in METRICS for f in ("mean", "std")},
                        "seeds": len(ref)}
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
    for model in (*MODELS, REFERENCE, "data"):
        tag = model.lower().replace(" ", "_")
        for k in METRICS:
            out[f"{tag}_{k}"] = _num(t.loc[model, f"{k}_mean"])
            if model != "data":
                out[f"{tag}_{k}_std"] = _num(t.loc[model, f"{k}_std"])
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


def _per_seed(result: dict, model: str, col: str) -> np.ndarray:
    m = result["modes"]
    return m[m.model == model][col].to_numpy(dtype=float)


def _model_claims(result: dict, profile: str) -> list[dict]:
    """The comparisons of MINEGAN with the GAN, each also against uniform noise (no skill)."""
    from ..results import claim

    gan, mg = (lambda col: _per_seed(result, "GAN", col)), (lambda col: _per_seed(result, "MINEGAN", col))
    ref = lambda col: result["reference"][col].to_numpy(dtype=float)
    seeds = result["modes"]["seed"].nunique()
    modes = (beats(mg("modes"), gan("modes"), label="MINEGAN vs GAN modes"),
             beats(mg("modes"), ref("modes"), label="MINEGAN vs uniform noise modes"))
    kl_ok = not (np.isnan(gan("reverse_kl")).any() or np.isnan(mg("reverse_kl")).any())
    kl = (beats(mg("reverse_kl"), gan("reverse_kl"), higher_is_better=False, label="MINEGAN vs GAN reverse KL"),
          beats(mg("reverse_kl"), ref("reverse_kl"), higher_is_better=False,
                label="MINEGAN vs uniform noise reverse KL")) if kl_ok else ()
    all25 = int((mg("modes") == 25).sum())
    hq_vs_noise = beats(mg("hq_percent"), ref("hq_percent"), label="MINEGAN vs uniform noise % HQ")
    gan_good = beats(gan("hq_percent"), MIN_GAN_HQ, label=f"GAN % HQ vs {MIN_GAN_HQ:g} %")
    return [
        claim("MINEGAN covers more modes than the GAN, and more than uniform noise", common.judge(profile, *modes),
              f"{seeds} seed(s), {len(ref('modes'))} noise draws; " + explain(*modes)),
        claim("MINEGAN's mode histogram is closer to uniform (lower reverse KL) than the GAN's, and than noise's",
              common.judge(profile, *kl) if kl_ok else common.judged(profile, False),
              explain(*kl) if kl_ok else "reverse KL undefined (no high-quality sample) in some run"),
        claim("MINEGAN captures all 25 modes (every seed), with more high-quality samples than uniform noise",
              common.judge(profile, hq_vs_noise) if all25 == seeds else common.judged(profile, False),
              f"all 25 modes in {all25}/{seeds} seeds; " + str(hq_vs_noise)),
        claim("The GAN drops modes (fewer than 25 on average)",
              common.judge(profile, beats(gan("modes"), 25, higher_is_better=False, label="GAN modes vs 25")),
              f"GAN modes per seed: {gan('modes').astype(int).tolist()}"),
        claim(f"The plain GAN is of the literature's quality: at least {MIN_GAN_HQ:g} % of its samples within 3 std "
              f"of a mode (PacGAN's GAN, recalled: {LITERATURE_GAN['hq_percent']} %)", common.judge(profile, gan_good),
              f"GAN % HQ per seed: {np.round(gan('hq_percent'), 1).tolist()}; {gan_good}"),
    ]


def claims(result: dict, profile: str) -> list[dict]:
    """The paper's claims (Fig 4, appendix 6.3), each judged against the seed spread and uniform noise (no skill),
    under ``quick`` and ``paper`` (not under ``smoke``); plus the check that the GAN is good enough to compare."""
    from ..results import claim

    out = _model_claims(result, profile)
    a = result["ablation"]
    if not a.empty:
        big = a.beta.max()
        hq = lambda clip: a[(a.beta == big) & (a["clip"] == clip)].hq_percent.to_numpy(dtype=float)
        c = beats(hq(True), hq(False), label=f"beta {big:g} % HQ clipped vs not")
        off = ablation_summary(result).set_index(["beta", "clip"]).loc[(big, False)]
        out.append(claim(
            f"Without clipping, beta = {big:g} costs sample quality: fewer high-quality samples than with clipping",
            common.judge(profile, c), f"{c}; unclipped |g_m|/|g_u| median {off.median_norm_m_over_u:.1f}"))
    return out


def _density(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A Gaussian KDE of ``x`` on ``grid`` (Scott's bandwidth halved, as Fig 4's seaborn panels had)."""
    from scipy.stats import gaussian_kde

    kde = gaussian_kde(x.T)
    kde.set_bandwidth(kde.factor * 0.5)
    return kde(grid.T)


def _panels(result: dict) -> list[tuple[str, np.ndarray, dict]]:
    """(title, samples, scores) of every panel: the data, the no-skill reference, then each model and seed."""
    m = result["modes"].set_index(["model", "seed"])
    ref = result["reference"].iloc[0]
    out = [("data", result["data"], result["data_modes"]), ("uniform noise (no skill)", result["reference_samples"],
                                                               ref.to_dict())]
    for (model, s), x in result["samples"].items():
        out.append((f"{model}, seed {s}", x, m.loc[(model, s)].to_dict()))
    return out


def plot(result: dict, gridsize: int = 100):
    """The paper's Fig 4 as small multiples: the KDE of the data, of uniform noise and of every seed's GAN and
    MINEGAN samples, on one colour scale (log density), true means marked +, mode metrics in the titles."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    g = np.linspace(-LIMIT, LIMIT, gridsize)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    panels = _panels(result)
    dens = [_density(x, grid).reshape(gridsize, gridsize) for _, x, _ in panels]
    top = max(d.max() for d in dens)
    seeds = result["modes"]["seed"].nunique()
    fig, axes = plt.subplots(3, max(seeds, 2), figsize=(3.2 * max(seeds, 2), 9.6), squeeze=False)
    slots = [axes[0, 0], axes[0, 1]] + [axes[1 + i // seeds, i % seeds] for i in range(len(panels) - 2)]
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, (title, _, sc), d in zip(slots, panels, dens):
        ax.set_visible(True)
        im = ax.imshow(np.maximum(d, top * 1e-3), origin="lower", extent=(-LIMIT, LIMIT, -LIMIT, LIMIT),
                       norm=LogNorm(top * 1e-3, top), cmap="viridis")
        ax.scatter(GRID_MEANS[:, 0], GRID_MEANS[:, 1], marker="+", s=25, color="white", lw=0.7)
        kl = "n/a" if not np.isfinite(sc["reverse_kl"]) else f"{sc['reverse_kl']:.2f}"
        ax.set(title=f"{title}\n{int(sc['modes'])} modes, {sc['hq_percent']:.0f}% HQ, KL {kl}", xticks=[],
               yticks=[])
        ax.title.set_fontsize(9)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="density (log scale, shared)")
    fig.suptitle(f"Fig 4: KDE of samples after {result['steps']:,} iterations (rows: GAN, MINEGAN; one column per "
                 f"seed)")
    return fig


def plot_curves(result: dict):
    """Mode metrics against iteration, one line per seed, with the data's values and uniform noise's."""
    panels = list(zip(METRICS, ("modes covered (of 25)", "% high-quality samples", "reverse KL (nats)")))
    refs = {"data": result["data_modes"], "uniform noise": result["reference"][list(METRICS)].mean().to_dict()}
    return toy_gan.plot_against_iteration(result["curves"], panels, refs, figsize=(14, 3.8))


def plot_clipping(result: dict, seed: int = 0, smooth: int = 50):
    """The ablation: gradient norms against iteration (top) and final samples (bottom) per (beta, clip); None
    when the ablation did not run."""
    import matplotlib.pyplot as plt

    n, a = result["norms"], result["ablation"]
    if a.empty:
        return None
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
        ax.set(title=f"{int(r.modes)} modes, {r.hq_percent:.1f}% HQ", xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT), aspect="equal")
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
    ax.scatter(GRID_MEANS[:, 0], GRID_MEANS[:, 1], marker="+", s=40, color="black", lw=0.8)
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color="C1" if beta > 0 else "C0", rasterized=True)
    ax.set(title=f"beta = {beta:g}{', clipped' if clip and beta > 0 else ''}, {iterations} it.: "
                 f"{s['modes']} modes, {s['hq_percent']:.0f}% HQ", xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT),
           aspect="equal")
    ax.title.set_fontsize(9)
    return fig
