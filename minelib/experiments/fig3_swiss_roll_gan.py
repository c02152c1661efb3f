"""Fig 3: GAN (beta 0) vs MINEGAN (beta 1) on the swiss roll, samples at three iterations.

Settings in ``docs/settings.md`` (PAPER §4.2 states beta and the three iterations; the networks and
optimiser come from the ICML version). Each seed trains both models on its own 100k-point data set;
samples from a fixed noise batch are kept at the three snapshot iterations of the figure and on a
regular grid of iterations for the coverage curve. Coverage is the number of occupied arc-length bins
out of 100 (:func:`minelib.metrics.spiral_coverage`, our definition: the paper gives no number). The
seeds of one model train as one stacked model: one unit of work per model.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from .. import seeding
from ..metrics import spiral_coverage
from ..toy2d import swiss_roll
from . import common, toy_gan
from .protocol import Unit, replicate_seeds
from .settings import check_profiles, setting
from .toy_gan import MODELS

NAME = "fig3_swiss_roll_gan"
TITLE = "Fig 3: GAN vs MINEGAN on the swiss roll"
PAPER_CLAIM = ("The GAN's generator suffers from mode collapse and covers the swiss roll poorly; MINEGAN, which "
               "also maximises I(G(Z); Z), converges faster and covers more of the ground-truth distribution.")
DATA_SOURCE = ("synthetic spiral (ALI's swiss roll): pos ~ U(0, 2), r = (2 pos + 1) / 3, "
               "x = (r sin 2 pi pos, r cos 2 pi pos) + 0.1 N(0, I) (numpy default_rng, seeded)")
COVERAGE = ("coverage", "on_arc_percent")
#: Half-width of the plotted square, where the no-skill reference (uniform noise) spreads its samples.
LIMIT = 2.3


@dataclasses.dataclass(frozen=True)
class Settings(toy_gan.ToyGANSettings):
    """Fig 3's settings; the defaults are the paper profile.

    The snapshot iterations are given as fractions of ``steps`` (rounded, at least 1; duplicates merge),
    so that a ``steps`` override moves them along: the paper's 1000, 3000 and 5000 of 5000 iterations are
    ``(0.2, 0.6, 1.0)``. :attr:`snapshots` holds the iterations themselves.
    """

    snapshot_fractions: tuple[float, ...] = setting(
        (0.2, 0.6, 1.0), "PAPER Fig 3 (1000, 3000, 5000 of 5000 iterations)",
        "iterations of the figure's samples, as fractions of steps", low=0.0, high=1.0, open_low=True)
    curve_every: int = setting(250, "DEF", "iterations between the samples of the coverage curve", low=1)
    n_samples: int = setting(2_000, "DEF", "generator samples kept at each recorded iteration", low=2)
    bins: int = setting(100, "DEF", "arc-length bins of the coverage metric", low=1)

    @property
    def snapshots(self) -> list[int]:
        """The figure's iterations: ``max(1, round(steps * f))`` for each snapshot fraction, sorted, distinct."""
        return sorted({max(1, round(self.steps * f)) for f in self.snapshot_fractions})


PROFILES = check_profiles(Settings, {
    "paper": {},
    # Seconds on a CPU: proves the notebook runs end to end; too short to judge anything. Snapshots at
    # iterations 10, 20 and 30.
    "smoke": dict(seeds=1, steps=30, snapshot_fractions=(1 / 3, 2 / 3, 1.0), curve_every=10, lr=1e-3,
                  g_hidden=(32, 32), d_hidden=(32, 32, 32), t_hidden=(32, 32, 32), n_data=2_000, n_samples=500),
    # Minutes on 2 CPU cores: narrower networks (128 wide), a 10x larger step size and 3000 iterations
    # (our choice), snapshots at the paper's fractions of training: 600, 1800, 3000.
    "quick": dict(seeds=3, steps=3_000, curve_every=200, lr=1e-3, g_hidden=(128, 128), d_hidden=(128, 128, 128),
                  t_hidden=(128, 128, 128)),
})
PAPER = {"gan_coverage_last": "poor: collapsed (figure only)",
         "minegan_coverage_last": "more than the GAN's (figure only)",
         "minegan_coverage_first": "more than the GAN's: converges faster (figure only)"}


def units(cfg: Settings) -> list[Unit]:
    """One unit per model: the GAN (beta 0) and MINEGAN (beta ``cfg.beta``), every seed stacked."""
    return [Unit(model, {"beta": beta}) for model, beta in zip(MODELS, (0.0, cfg.beta))]


def _score(cfg: Settings):
    """The coverage metrics of a batch of samples (:func:`minelib.metrics.spiral_coverage`)."""
    def score(x: np.ndarray) -> dict:
        m = spiral_coverage(x, bins=cfg.bins)
        return {k: m[k] for k in COVERAGE}
    return score


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> list[dict]:
    """Train one model for every seed at once, each on its own data set; one kept record per seed
    (:func:`minelib.experiments.toy_gan.keep`: samples, coverage per recorded iteration, history, settings)."""
    data = [swiss_roll(cfg.n_data, seed=(seed, s))[0] for s in range(cfg.seeds)]
    runs = toy_gan.train(cfg, data, unit.params["beta"], cfg.clip, replicate_seeds(seed, cfg.seeds),
                         toy_gan.record_points(cfg.steps, cfg.curve_every, cfg.snapshots), device, progress)
    return [toy_gan.keep(r, _score(cfg)) for r in runs]


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """Returns ``{"samples": {(model, seed, iteration): (n_samples, 2) array}, "coverage": DataFrame(model,
    seed, step, coverage, on_arc_percent), "history": DataFrame(model, seed, <train_gan history>),
    "data": (n_samples, 2) data points, "data_coverage": {...}, "snapshots": [...], "clip": bool,
    "settings": {...}}``."""
    runs = [(model, s, r) for model in MODELS for s, r in enumerate(parts[model])]
    ref, _ = swiss_roll(cfg.n_samples, seed=seeding.sequence(seed, "sample"))
    ref_m = spiral_coverage(ref, bins=cfg.bins)
    noise, noise_samples = toy_gan.reference(cfg, seed, _score(cfg), LIMIT)
    return {"reference": noise, "reference_samples": noise_samples,"samples": {(model, s, step): x for model, s, r in runs for step, x in r["samples"].items()},
            "coverage": pd.DataFrame([(model, s, step, m["coverage"], m["on_arc_percent"])
                                      for model, s, r in runs for step, m in r["scores"].items()],
                                     columns=["model", "seed", "step", *COVERAGE]),
            "history": toy_gan.histories(runs),
            "data": ref, "data_coverage": {k: ref_m[k] for k in COVERAGE},
            "snapshots": cfg.snapshots, "clip": bool(cfg.clip),
            "settings": {f"{model}_seed{s}": r["settings"] for model, s, r in runs}}


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
    """Coverage and on-arc share of both models at the first and last snapshot, and the data's own."""
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


def _at(result: dict, model: str, step: int, col: str) -> np.ndarray:
    c = result["coverage"]
    return c[(c.model == model) & (c.step == step)][col].to_numpy(dtype=float)


def claims(result: dict, profile: str) -> list[dict]:
    """The paper's claims (Fig 3), judged under ``quick`` and ``paper`` (not under ``smoke``) against the seeds'
    spread and uniform noise on the plotted square. A structureless cloud fills every arc-length bin, so coverage
    counts only together with skill: the share of samples on the arc must beat the noise's."""
    from ..results import claim
    from ..verdicts import beats, explain

    snaps = _snapshots(result)
    noise = result["reference"]["on_arc_percent"].to_numpy(dtype=float)

    def judged(step: int) -> tuple[str | None, str]:
        cov = beats(_at(result, "MINEGAN", step, "coverage"), _at(result, "GAN", step, "coverage"),
                    label=f"MINEGAN vs GAN coverage at {step}")
        skill = beats(_at(result, "MINEGAN", step, "on_arc_percent"), noise,
                      label=f"MINEGAN vs uniform noise % on the arc at {step}")
        level = beats(_at(result, "MINEGAN", step, "on_arc_percent"), _at(result, "GAN", step, "on_arc_percent"),
                      label="(not required) MINEGAN vs GAN % on the arc")
        return common.judge(profile, cov, skill), explain(cov, skill, level)

    seeds = result["coverage"]["seed"].nunique()
    last, first = judged(snaps[-1]), judged(snaps[0])
    return [claim("MINEGAN covers more of the swiss roll than the GAN at the last iteration, with its samples on the "
                  "roll (more on the arc than uniform noise)", last[0], f"{seeds} seed(s); {last[1]}"),
            claim("MINEGAN converges faster: more coverage at the first snapshot, with its samples on the roll",
                  first[0], f"{seeds} seed(s); {first[1]}")]


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
            c = cov.loc[(model, seed, step)]
            ax.scatter(data[:, 0], data[:, 1], s=2, color="0.75", label="data" if row == col == 0 else None,
                       rasterized=True)
            ax.scatter(x[:, 0], x[:, 1], s=2, color=f"C{row}", alpha=0.7, label=model if col == 0 else None,
                       rasterized=True)
            ax.set(title=f"{step:,} iterations\ncoverage {c['coverage']:.0f}/100 bins, {c['on_arc_percent']:.0f}% on the arc",
                   xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT), aspect="equal")
        axes[row, 0].set_ylabel(model, fontsize=14)
    fig.suptitle(f"Fig 3: samples of seed {seed} over the data")
    fig.tight_layout()
    # Right of the panels, where it covers neither a title nor the stamp under the figure.
    fig.legend(*_handles(axes), loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=5)
    return fig


def _handles(axes) -> tuple[list, list]:
    """The legend entries of every panel, each label once."""
    seen = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    return list(seen.values()), list(seen)


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
        ax.set(title=f"{model}, {step} iterations: coverage {m['coverage']:.0f}/100 bins", xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT),
               aspect="equal")
    fig.tight_layout()
    return fig



def plot_coverage(result: dict):
    """Coverage and share of samples on the arc against iteration (one line per seed), the data's and uniform
    noise's values as lines."""
    panels = [("coverage", "occupied arc-length bins (of 100)"),
              ("on_arc_percent", "% of samples within 0.3 of the arc")]
    refs = {"data": result["data_coverage"], "uniform noise": result["reference"][list(COVERAGE)].mean().to_dict()}
    return toy_gan.plot_against_iteration(result["coverage"], panels, refs, figsize=(11, 3.8))


def explore(beta: float = 1.0, iterations: int = 1000, profile: str = "quick", seed: int = 0):
    """Train one model for the notebook's widget (the networks of ``profile``) and show its samples over the data."""
    import matplotlib.pyplot as plt

    cfg = common.settings(sys.modules[__name__], profile, steps=int(iterations))
    data, _ = swiss_roll(cfg.n_data, seed=seed)
    r = toy_gan.train(cfg, data, float(beta), cfg.clip, seed, record_at=[cfg.steps], progress=True)
    x = r.samples[cfg.steps]
    m = spiral_coverage(x)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(data[:2000, 0], data[:2000, 1], s=2, color="0.75")
    ax.scatter(x[:, 0], x[:, 1], s=2, color="C1" if beta > 0 else "C0")
    ax.set(title=f"beta = {beta:g}, {iterations} iterations: coverage {m['coverage']:.0f}/100 bins, "
                 f"{m['on_arc_percent']:.0f}% on the arc", xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT), aspect="equal")
    ax.title.set_fontsize(9)
    return fig
