"""What Fig 3 (swiss roll) and Fig 4 (25 Gaussians) share: the GAN / MINEGAN settings, one training
helper, the per-seed record a unit of work keeps, and the "metric against iteration" plot.

Both figures train a GAN (beta = 0) and a MINEGAN (beta > 0, the generator objective of PAPER §4.2,
eq. 21, with the adaptive clipping of eq. 36) with the same networks and optimiser; see
``docs/settings.md`` for every value and its source.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .. import seeding
from ..gan import LR_SCHEDULES, GANRun, train_gan
from ..verdicts import uniform_reference
from .settings import ExperimentSettings, setting

MODELS = ("GAN", "MINEGAN")


@dataclasses.dataclass(frozen=True)
class ToyGANSettings(ExperimentSettings):
    """The settings Fig 3 and Fig 4 share; the defaults are the paper profile (PAPER §4.2)."""

    seeds: int = setting(5, "DEF", "independent repetitions; the seeds of one model train as one stacked model",
                         low=1)
    steps: int = setting(5_000, "PAPER Fig 3", "training iterations (one D, one T and one G step each)", low=1)
    beta: float = setting(1.0, "PAPER §4.2", "MINEGAN's weight of I(G(Z); Z) in the generator objective (eq. 21); "
                                             "the GAN has 0", low=0.0)
    clip: bool = setting(True, "PAPER §4.2, app. 6.3, eq. 36",
                         "adaptive clipping of the MI gradient to the norm of the adversarial one")
    lr: float = setting(1e-4, "ICML", "Adam step size of G, D and T (Adam betas 0.5, 0.999)", low=0.0, open_low=True)
    batch_size: int = setting(100, "ICML", "minibatch size", low=2)
    g_hidden: tuple[int, ...] = setting((500, 500), "ICML", "hidden widths of G (LeakyReLU 0.2)", low=1)
    g_batch_norm: bool = setting(True, "ICML", "BatchNorm after each of G's hidden layers")
    lr_schedule: str = setting("constant", "ICML", "step size over training: constant, or cosine decay to 0",
                               choices=LR_SCHEDULES)
    d_hidden: tuple[int, ...] = setting((400, 400, 400), "ICML", "hidden widths of D (LeakyReLU 0.2)", low=1)
    t_hidden: tuple[int, ...] = setting((400, 400, 400), "ICML",
                                        "hidden widths of MINE's statistics network T on (G(z), z)", low=1)
    n_data: int = setting(100_000, "DEF", "data points per seed (minibatches drawn with replacement)", low=1)
    reference_draws: int = setting(20, "DEF", "draws of the no-skill reference (uniform noise on the plotted "
                                              "square, n_samples points each) scored like the models", low=2)


def record_points(steps: int, every: int, also: Sequence[int] = ()) -> list[int]:
    """The iterations after which samples are kept: every ``every`` from 0, the last one, and ``also``."""
    return sorted(set(also) | set(range(0, steps + 1, every)) | {steps})


def train(cfg: ToyGANSettings, data, beta: float, clip: bool, seed, record_at: Sequence[int],
          device: str = "auto", progress: bool = True) -> GANRun | list[GANRun]:
    """One GAN (``beta`` 0) or MINEGAN run (PAPER §4.2, eq. 21) with the experiment's networks and optimiser,
    keeping ``cfg.n_samples`` samples at ``record_at``. Lists of data sets and seeds give a list of runs,
    trained at once as one stacked model (:mod:`minelib.ensemble`)."""
    return train_gan(data, beta=beta, steps=cfg.steps, clip=clip, batch_size=cfg.batch_size, lr=cfg.lr,
                     record_at=record_at, n_record=cfg.n_samples, g_hidden=list(cfg.g_hidden),
                     g_batch_norm=cfg.g_batch_norm, lr_schedule=cfg.lr_schedule, d_hidden=list(cfg.d_hidden), t_hidden=list(cfg.t_hidden),
                     device=device, seed=seed, progress=progress)


def keep(run: GANRun, score: Callable[[object], dict]) -> dict:
    """What a unit of work keeps of one seed's run: plain data that pickles (no torch modules):
    ``{"samples": {step: array}, "scores": {step: score(samples)}, "history": DataFrame, "settings": {...}}``."""
    return {"samples": dict(run.samples), "scores": {step: score(x) for step, x in run.samples.items()},
            "history": run.history, "settings": {**run.settings, "seconds": round(run.seconds, 2)}}


def histories(runs: Sequence[tuple[str, int, dict]]) -> pd.DataFrame:
    """The training histories of ``(model, seed, kept run)`` triples as one table: model, seed, then
    :func:`minelib.gan.train_gan`'s history columns."""
    history = pd.concat([r["history"].assign(model=model, seed=s) for model, s, r in runs], ignore_index=True)
    return history[["model", "seed", *history.columns[:-2]]]


def reference(cfg: ToyGANSettings, seed: int, score: Callable[[np.ndarray], dict], half_width: float
              ) -> tuple[pd.DataFrame, np.ndarray]:
    """The no-skill reference of :func:`minelib.verdicts.uniform_reference` at ``cfg``'s sample size and draws."""
    return uniform_reference(cfg.n_samples, half_width, cfg.reference_draws, seed, score)


def plot_against_iteration(frame: pd.DataFrame, panels: Sequence[tuple[str, str]], references: dict[str, dict],
                           figsize: tuple[float, float]):
    """Metrics against training iteration, one thin line per seed and model, one panel per ``(column, label)`` of
    ``panels``; each of ``references`` (label -> {column: value}, e.g. the data and uniform noise) as a horizontal
    line: Fig 3's coverage, Fig 4's mode metrics."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, len(panels), figsize=figsize, squeeze=False)
    for ax, (col, label) in zip(axes[0], panels):
        sns.lineplot(data=frame, x="step", y=col, hue="model", hue_order=list(MODELS), units="seed", estimator=None,
                     marker="o", markersize=4, lw=1, ax=ax)
        for (name, values), style in zip(references.items(), ("--", ":", "-.")):
            ax.axhline(values[col], color="0.3", ls=style, lw=1.2, label=name)
        ax.set(xlabel="iteration", ylabel=label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
