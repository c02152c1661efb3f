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
from .. import seeding
from ..toy2d import GRID_MEANS, grid_gaussians
from ..verdicts import beats, explain, uniform_reference
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
#: Half-width of the plotted square (where the no-skill reference spreads its samples).
LIMIT = 6.0
#: Radius holding 95 % of the prior N(0, I_2): sqrt of chi-square(2)'s 0.95 quantile, -2 log 0.05.
PRIOR_95 = (-2 * np.log(0.05)) ** 0.5


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
    reference_draws: int = setting(20, "DEF", "draws of the no-skill reference for the mode counts (uniform noise "
                                              "on the plotted square, n_samples points each)", low=2)
    contrast_noises: tuple[float, ...] = setting(
        (0.1,), "DEV (a contrast; the paper trains sigma = 1 only)", "further encoder noises sigma at which every "
        "model also trains, on the same data, seeds and budget: at the paper's sigma = 1 ALI's optimum has a "
        "constant encoder (docs/diagnostics.md), at 0.1 its codes can match the prior and still carry x; () for "
        "none", low=0.0, min_len=0)

    def noises(self) -> tuple[float, ...]:
        """The encoder noises trained: the paper's ``enc_noise`` first, then the contrasts."""
        return (self.enc_noise, *(s for s in self.contrast_noises if s != self.enc_noise))


PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything.
    "smoke": dict(seeds=1, steps=30, hidden=(32, 32), t_hidden=(32, 32, 32), n_data=2_000, reference_draws=3),
    # Minutes on one CPU thread: 128-wide networks and 5,000 iterations (at 1,500 every model puts 1-2 % of its
    # samples on the modes, as uniform noise does, at either sigma; docs/diagnostics.md); 3 seeds, the fewest whose spread gives a
    # usable 95 % margin (with 2, Student's t at 1 degree of freedom is 12.7).
    "quick": dict(seeds=3, steps=5_000, hidden=(128, 128), t_hidden=(128, 128, 128)),
})
PAPER = {"ali": "poor reconstructions (figure only)", "alice": "best reconstructions, drops modes (figure only)",
         "ali_mine": "good reconstructions, best mode coverage (figure only)"}


def unit_key(variant: str, sigma: float, cfg: Settings) -> str:
    """A unit's key: the variant at the paper's noise, ``<variant>_sigma<s>`` at a contrast noise."""
    return variant if sigma == cfg.enc_noise else f"{variant}_sigma{sigma:g}"


def units(cfg: Settings) -> list[Unit]:
    """One unit per model of ``cfg.variants`` (in that order) and encoder noise (:meth:`Settings.noises`), its seeds
    trained at once as one stacked model."""
    return [Unit(unit_key(v, s, cfg), {"variant": v} if s == cfg.enc_noise else {"variant": v, "enc_noise": s})
            for s in cfg.noises() for v in cfg.variants]


def _test(cfg: Settings, seed: int, replicate: int) -> tuple[np.ndarray, np.ndarray]:
    """Replicate ``replicate``'s held-out points and their modes."""
    return grid_gaussians(cfg.n_test, seed=(seed, replicate, 1))


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """Train one model's seeds as one stacked model, each on its own data set; score each on held-out data.
    ``seconds`` is a seed's share of the stacked training's wall time, so the column sums to the time spent."""
    v = unit.params["variant"]
    cfg = dataclasses.replace(cfg, enc_noise=unit.params.get("enc_noise", cfg.enc_noise))
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
        # chance: each point against the reconstruction of another (shuffled pairs), same model, same outputs
        shuffled = rec[seeding.rng(run_seed, "shuffle").permutation(len(rec))]
        rows.append({"model": name, "enc_noise": cfg.enc_noise, "seed": s, "recon_mse": float(((rec - x_test) ** 2).sum(1).mean()),
                     "chance_mse": float(((shuffled - x_test) ** 2).sum(1).mean()),
                     "modes": m["modes"], "hq_percent": m["hq_percent"], "reverse_kl": m["reverse_kl"],
                     "rec_modes": mr["modes"], "seconds": r.seconds / cfg.seeds})
        panels[(name, s)] = {"rec": rec, "samples": smp, "emb": emb}
        h, st = bi.run_record(v, s, r)
        hist.append(h)
        train_settings.update(st)
    return {"rows": rows, "panels": panels, "history": hist, "settings": train_settings}


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """Returns the paper's noise's result, ``{"scores": DataFrame(model, enc_noise, seed, recon_mse, modes,
    hq_percent, reverse_kl, rec_modes, seconds), "panels": {(model, seed): {"rec", "samples", "emb"}}, "test": (x,
    mode) of the first seed, "history": DataFrame(model, seed, <train_bidirectional history>), "settings": {...},
    "reference": uniform noise's mode scores}``, models in ``cfg.variants`` order, and under ``"contrasts"`` one
    such result (without ``"contrasts"``) per contrast noise, keyed by sigma."""
    keep = lambda x: {k: v for k, v in grid_mode_metrics(x).items() if k in ("modes", "hq_percent", "reverse_kl")}
    noise, _ = uniform_reference(cfg.n_samples, LIMIT, cfg.reference_draws, seed, keep)
    one = lambda sigma: _one_noise([parts[unit_key(v, sigma, cfg)] for v in cfg.variants], noise.drop(columns="draw"),
                                   _test(cfg, seed, 0))
    return {**one(cfg.enc_noise), "contrasts": {s: one(s) for s in cfg.noises()[1:]}}


def _one_noise(ordered: list[dict], reference: pd.DataFrame, test) -> dict:
    """The units of one encoder noise, in model order, as one result (see :func:`combine`)."""
    return {"reference": reference, "scores": pd.DataFrame([r for p in ordered for r in p["rows"]]),
            "panels": {k: v for p in ordered for k, v in p["panels"].items()}, "test": test,
            "history": bi.history_frame([h for p in ordered for h in p["history"]]),
            "settings": {k: v for p in ordered for k, v in p["settings"].items()}}


def results_by_noise(result: dict) -> dict:
    """``{sigma: result}`` for every encoder noise trained, the paper's first."""
    main = {k: v for k, v in result.items() if k != "contrasts"}
    return {float(main["scores"].enc_noise.iloc[0]): main, **result.get("contrasts", {})}


def summary(result: dict) -> pd.DataFrame:
    """Per model: reconstruction MSE and its chance level (shuffled pairs), modes covered by samples (of 25) and
    by reconstructions, % high-quality samples, reverse KL; mean and std over seeds; then uniform noise's mode
    metrics (the no-skill reference), mean and std over its draws."""
    cols = ("recon_mse", "chance_mse", "modes", "rec_modes", "hq_percent", "reverse_kl")
    g = result["scores"].groupby("model", sort=False)
    t = g.agg(**{f"{k}_{f}": (k, f) for k in cols for f in ("mean", "std")}, seeds=("seed", "nunique"))
    t = t.reindex([m for m in MODELS if m in t.index])
    ref = result["reference"]
    t.loc["uniform noise"] = {**{f"{k}_{f}": getattr(ref[k], f)() for k in ("modes", "hq_percent", "reverse_kl")
                                 for f in ("mean", "std")}, "seeds": len(ref)}
    return t.reset_index()


def metrics(result: dict) -> dict:
    """The record's metrics: per model the means of the summary's scores and the std of MSE, modes and % HQ, at the
    paper's noise; the same with the suffix ``_sigma<s>`` at each contrast noise."""
    out = {}
    for i, (sigma, one) in enumerate(results_by_noise(result).items()):
        tag = "" if i == 0 else f"_sigma{sigma:g}"
        for _, r in summary(one).iterrows():
            if r["model"] not in KEYS:
                out.update({f"uniform_noise_{c}": float(r[f"{c}_mean"]) for c in ("modes", "hq_percent")})
                continue
            k = KEYS[r["model"]] + tag
            for c in ("recon_mse", "modes", "rec_modes", "hq_percent"):
                out[f"{c}_{k}"] = float(r[f"{c}_mean"])
            for c in ("recon_mse", "modes", "hq_percent"):
                out[f"{c}_std_{k}"] = float(r[f"{c}_std"])
            out[f"chance_mse_{k}"] = float(r["chance_mse_mean"])
    out["seconds_total"] = float(sum(one["scores"]["seconds"].sum() for one in results_by_noise(result).values()))
    return out


def invariants(result: dict) -> list[str]:
    """What must hold at any size, at every encoder noise; raises AssertionError otherwise. Returns a fixed
    description."""
    for one in results_by_noise(result).values():
        sc = one["scores"]
        assert (sc.groupby(["model", "seed"]).size() == 1).all(), "one score row per (model, seed)"
        assert np.isfinite(sc["recon_mse"]).all() and (sc["recon_mse"] >= 0).all(), "reconstruction MSE finite, >= 0"
        assert sc["modes"].between(0, 25).all() and sc["rec_modes"].between(0, 25).all(), "modes counted of 25"
        trained = bi.training_invariants(one["history"])
        for p in one["panels"].values():
            assert np.isfinite(p["rec"]).all() and np.isfinite(p["samples"]).all() and np.isfinite(p["emb"]).all()
    return ["one finite, non-negative reconstruction MSE and a mode count in [0, 25] per model and seed", *trained,
            "reconstructions, samples and embeddings are finite"]


def _col(result: dict, model: str, col: str) -> np.ndarray:
    sc = result["scores"]
    return sc[sc.model == model][col].to_numpy(dtype=float)


def claims(result: dict, profile: str) -> list[dict]:
    """Fig 5's claims at the paper's encoder noise, then at each contrast noise (their texts led by "At sigma = s:"),
    each judged against the seeds' spread and a no-skill reference (uniform noise for the mode counts and the share
    of high-quality samples; reconstructions of shuffled pairs, i.e. chance, for the reconstruction error), under
    ``quick`` and ``paper``. The caption names ALICE (A) the best reconstructor, the text ALICE (L2): we test the
    text's."""
    out = _claims_at(result, profile, "")
    for sigma, one in result.get("contrasts", {}).items():
        out += _claims_at(one, profile, f"At sigma = {sigma:g}: ")
    return out


def _claims_at(result: dict, profile: str, lead: str) -> list[dict]:
    """The claims of one encoder noise's result; ``lead`` starts each text."""
    from ..results import claim

    if set(result["scores"].model) != set(MODELS):
        return bi.not_judged([lead + "ALI+MINE covers at least as many modes as both ALICE variants"],
                             "not judged: needs all four models")
    col = lambda m, c: _col(result, m, c)
    judge = lambda *cs: common.judge(profile, *cs)
    mine, l2, ref = "ALI+MINE", "ALICE (L2)", result["reference"]
    on_modes = [beats(col("ALI", "hq_percent"), ref["hq_percent"], label="ALI vs uniform noise % HQ")]
    modes = [beats(col(mine, "modes"), col(m, "modes"), label=f"{mine} vs {m} modes") for m in ("ALICE (L2)",
                                                                                                 "ALICE (A)")]
    modes.append(beats(col(mine, "modes"), ref["modes"], label=f"{mine} vs uniform noise modes"))
    lower = dict(higher_is_better=False)
    rec = (beats(col(mine, "recon_mse"), col("ALI", "recon_mse"), label=f"{mine} vs ALI MSE", **lower),
           beats(col(mine, "recon_mse"), col(mine, "chance_mse"), label=f"{mine} vs chance (shuffled pairs) MSE",
                 **lower))
    best = [beats(col(l2, "recon_mse"), col(m, "recon_mse"), label=f"{l2} vs {m} MSE", **lower)
            for m in MODELS if m != l2]
    best.append(beats(col(l2, "recon_mse"), col(l2, "chance_mse"), label=f"{l2} vs chance MSE", **lower))
    n = f"{result['scores'].seed.nunique()} seed(s); "
    return [
        claim(lead + "Precondition: ALI's samples lie on the modes (more within 3 std of a mode than uniform noise)",
              judge(*on_modes), n + explain(*on_modes)),
        claim(lead + "ALI+MINE's samples cover more of the 25 modes than both ALICE variants, and more than uniform "
              "noise", judge(*modes), n + explain(*modes)),
        claim(lead + "ALI+MINE reconstructs better than ALI (lower MSE), and better than chance", judge(*rec),
              n + explain(*rec)),
        claim(lead + "ALICE (L2) reconstructs best of the four, and better than chance", judge(*best),
              n + explain(*best)),
    ]


def mode_colours() -> np.ndarray:
    """25 distinct colours, one per grid mode: hue by the mode's x, brightness by its y, so that a colour also says
    where its mode sits (tab20 repeats colours over 25 modes)."""
    from matplotlib.colors import hsv_to_rgb

    r, c = np.divmod(np.arange(len(GRID_MEANS)), 5)
    order = np.lexsort((GRID_MEANS[:, 1], GRID_MEANS[:, 0]))  # mode index -> its (column, row) on the grid
    hsv = np.zeros((len(GRID_MEANS), 3))
    hsv[order] = np.stack([r / 5.0, np.full(len(r), 0.85), 0.45 + 0.13 * c], axis=1)
    return hsv_to_rgb(hsv)


def plot(result: dict, seed: int = 0):
    """The paper's Fig 5 layout: rows reconstructions G(F(x)+eps) / samples G(z) / embeddings F(x), points coloured
    by their source mode (25 colours); columns the four models (first seed); fixed limits; the prior's 95 % circle."""
    import matplotlib.pyplot as plt

    x_test, mode = result["test"]
    colours = mode_colours()[mode]
    models = [m for m in MODELS if (m, seed) in result["panels"]]
    fig, axes = plt.subplots(3, len(models), figsize=(4 * len(models), 12), squeeze=False)
    sc = result["scores"].set_index(["model", "seed"])
    for j, m in enumerate(models):
        p, r = result["panels"][(m, seed)], sc.loc[(m, seed)]
        ax = axes[0, j]
        ax.scatter(x_test[:, 0], x_test[:, 1], s=2, c="lightgray")
        ax.scatter(p["rec"][:, 0], p["rec"][:, 1], s=2, c=colours, alpha=0.6)
        ax.set(title=f"{m}\nreconstructions (MSE {r['recon_mse']:.2f}, chance {r['chance_mse']:.1f})",
               xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT))
        ax = axes[1, j]
        ax.scatter(x_test[:, 0], x_test[:, 1], s=2, c="lightgray")
        ax.scatter(p["samples"][:, 0], p["samples"][:, 1], s=2, c="C3", alpha=0.5)
        ax.set(title=f"samples ({int(r['modes'])} of 25 modes, {r['hq_percent']:.1f}% HQ)", xlim=(-LIMIT, LIMIT),
               ylim=(-LIMIT, LIMIT))
        ax = axes[2, j]
        ax.scatter(p["emb"][:, 0], p["emb"][:, 1], s=2, c=colours)
        ax.add_patch(plt.Circle((0, 0), PRIOR_95, fill=False, ls="--", color="0.3", label="95% of the prior N(0, I)"))
        ax.set(title="embeddings F(x), coloured by mode", xlim=(-4, 4), ylim=(-4, 4))
        for a in axes[:, j]:
            a.set_aspect("equal", adjustable="box")
    axes[2, 0].legend(loc="lower left", fontsize=8)
    sigma = float(result["scores"].enc_noise.iloc[0])
    fig.suptitle(f"Fig 5 at encoder noise sigma = {sigma:g}" + (" (the paper's)" if sigma == 1 else " (a contrast)")
                 + f": seed {seed}; colours = the 25 source modes (hue by x, brightness by y)")
    fig.tight_layout()
    return fig


def explore(variant: str = "ali_mine", steps: int = 500, beta: float = 1.0, enc_noise: float = 1.0,
            clip: bool = True, seed: int = 0, device: str = "auto"):
    """One small model for the notebook's widget: reconstructions, samples and embeddings (Fig 5's layout)."""
    cfg = make(Settings, PROFILES, "quick", steps=steps, beta=beta, enc_noise=enc_noise, clip=clip, contrast_noises=(),
               variants=[variant], seeds=1, n_data=20_000, n_test=1_000, n_samples=1_000)
    from .protocol import run  # not a name of this module: exp.run would read as the old API

    return plot(run(sys.modules[__name__], cfg, device=device, seed=seed, progress=False))
