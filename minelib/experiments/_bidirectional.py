"""What Fig 5, Table 1 and Table 2 share (paper §4.3): the settings of the one training loop of eq. 23, the call
into it, the record each trained model leaves, and the two tables' summary, metrics, invariants and image grids.

The three experiments differ in their data, networks and scores; everything here is the same for all of them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from ..bidirectional import VARIANT_NAMES, VARIANTS, reconstruct, sample, train_bidirectional
from . import common
from .settings import ExperimentSettings, setting

#: Display names in the paper's column order, and the record's key of each.
MODELS = tuple(VARIANT_NAMES[v] for v in VARIANTS)
KEYS = {VARIANT_NAMES[v]: v for v in VARIANTS}


@dataclasses.dataclass(frozen=True)
class BidirectionalSettings(ExperimentSettings):
    """The objective's settings, the same in Fig 5 and Tables 1 and 2; each experiment adds its own fields."""

    variants: tuple[str, ...] = setting(VARIANTS, "PAPER §4.3", "models to train: ALI, ALICE (L2), ALICE (A), ALI+MINE "
                                        "(Fig 5's four columns; Tables 1 and 2 name ALICE (A) ALICE)", choices=VARIANTS)
    adam_betas: tuple[float, ...] = setting((0.5, 0.999), "ALI", "Adam's (beta1, beta2) for every network (ALI's and "
                                            "ALICE's code)", low=0.0, high=1.0, min_len=2)
    enc_noise: float = setting(1.0, "PAPER §4.3", "std of the encoder noise eps in z = F(x) + eps (the paper fixes "
                               "sigma = 1, so that H(Z|X) is fixed)", low=0.0)
    lam: float = setting(1.0, "ALI", "weight of ALICE (L2)'s cycle term |x - G(F(x)+eps)|^2 + |z - F(G(z))|^2", low=0.0)
    adv_weight: float = setting(0.1, "ALI", "weight of ALICE (A)'s discriminators on (x, x') and (z, z')", low=0.0)
    beta: float = setting(1.0, "DEF", "weight of I(X; Z_enc) in ALI+MINE's objective (eq. 23; the paper states "
                          "none)", low=0.0)
    clip: bool = setting(True, "PAPER §6.3, eq. 36", "adaptive clipping of the MI gradient into F")

    def check(self) -> None:
        if len(self.adam_betas) != 2 or self.adam_betas[1] >= 1.0 or self.adam_betas[0] >= 1.0:
            raise ValueError(f"setting 'adam_betas' needs 2 entries (beta1, beta2), each below 1; "
                             f"got {list(self.adam_betas)}")
        if len(set(self.variants)) != len(self.variants):
            raise ValueError(f"setting 'variants' names a model twice; got {list(self.variants)}")


def train(cfg, data, models, variant: str, seeds, *, device: str, progress: bool, **extra):
    """:func:`~minelib.bidirectional.train_bidirectional` of ``models`` (one, or a list trained as one stacked
    model) with ``cfg``'s iterations, optimiser and objective (eq. 23); ``extra`` goes to it unchanged."""
    return train_bidirectional(data, models, variant, cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                               adam_betas=tuple(cfg.adam_betas), enc_noise=cfg.enc_noise, lam=cfg.lam,
                               adv_weight=cfg.adv_weight, beta=cfg.beta, clip=cfg.clip, device=device, seed=seeds,
                               progress=progress, **extra)


def outputs(cfg, model, x, run_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A trained model's reconstructions ``G(F(x) + eps)`` of ``x`` and its ``cfg.n_samples`` samples ``G(z)``,
    their noise seeded from the run's seed."""
    return (reconstruct(model, x, noise=cfg.enc_noise, seed=run_seed),
            sample(model, cfg.n_samples, seed=run_seed))


def run_record(variant: str, replicate: int, run) -> tuple[pd.DataFrame, dict]:
    """One trained model's history (tagged with its model and replicate) and its entry of the settings record."""
    return (run.history.assign(model=VARIANT_NAMES[variant], seed=replicate),
            {f"{variant}_seed{replicate}": {**run.settings, "seconds": round(run.seconds, 2)}})


def history_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The histories of :func:`run_record` as one frame, ``model`` and ``seed`` first."""
    history = pd.concat(frames, ignore_index=True)
    return history[["model", "seed", *history.columns[:-2]]]


def cpu_state(module) -> dict:
    """A module's state dict as CPU tensors: what a unit returns instead of the module, so that it pickles."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def rebuild(build, state: dict, device: str, part: str | None = None):
    """The module ``build()`` makes, with ``state`` loaded into it (or into its submodule ``part``), on ``device``
    (where it was trained), in eval mode. It is built under a forked generator: its throw-away initial weights
    leave torch's global one as it was."""
    with torch.random.fork_rng(devices=[]):
        module = build()
    (module if part is None else getattr(module, part)).load_state_dict(state)
    return module.to(device).eval()


def training_invariants(history: pd.DataFrame) -> list[str]:
    """What the training loop guarantees at any size (raises AssertionError otherwise); fixed descriptions."""
    assert np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all(), "training losses finite"
    mine = history[history.model == "ALI+MINE"]
    assert np.isfinite(mine["mi"]).all(), "ALI+MINE's I(X; Z) estimate finite"
    assert (mine["norm_a"] <= mine["norm_u"] * (1 + 1e-5) + 1e-7).all(), "clipped MI gradient never exceeds |g_u|"
    return ["training losses finite; ALI+MINE's I(X; Z) estimate finite",
            "adaptive clipping: the applied MI gradient's norm never exceeds the adversarial gradient's"]


def plot_training(history: pd.DataFrame, smooth: int = 50):
    """What the MI term did during training (ALI+MINE): the critic's estimate of I(X; Z) (left), and the norms of
    the adversarial gradient |g_u|, of the MI term's |g_m| and of the one applied |g_a| (right, log scale), every
    seed, smoothed over ``smooth`` iterations. A flat estimate near 0 with |g_m| far below |g_u| is a MINE term
    that does nothing. None when ALI+MINE did not train."""
    import matplotlib.pyplot as plt

    h = history[history.model == "ALI+MINE"]
    if h.empty:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8))
    for s, g in h.groupby("seed"):
        roll = lambda col: g[col].rolling(smooth, min_periods=1).mean()
        a.plot(g.step, roll("mi"), color="C3", lw=1, label="I(X; Z) estimate" if s == 0 else None)
        for col, style, label in (("norm_u", "-", "|g_u| adversarial"), ("norm_m", "--", "|g_m| MI term"),
                                  ("norm_a", ":", "|g_a| MI, applied")):
            b.plot(g.step, roll(col), style, color={"norm_u": "C0", "norm_m": "C3", "norm_a": "k"}[col], lw=1,
                   label=label if s == 0 else None)
    a.axhline(0, color="0.5", lw=0.8)
    a.set(xlabel="iteration", ylabel="nats", title="ALI+MINE: the critic's estimate of I(X; Z_enc)")
    b.set(xlabel="iteration", ylabel="gradient norm into F", yscale="log", title="ALI+MINE: gradient norms")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def table_invariants(result: dict, acc: str, max_error: float, text: str) -> list[str]:
    """Tables 1 and 2: one score row per model and seed, the error in ``[0, max_error]``, the accuracy column
    ``acc`` and the classifier's in [0, 100] %, MS-SSIM in [0, 1]; then :func:`training_invariants`.
    ``text`` describes the first check."""
    sc = result["scores"]
    assert (sc.groupby(["model", "seed"]).size() == 1).all(), "one score row per (model, seed)"
    assert sc["recon_error"].between(0, max_error).all(), f"per-image L2 in [0, {max_error:.0f}]"
    assert sc[acc].between(0, 100).all(), "accuracies are percentages"
    assert sc["ms_ssim"].between(0, 1).all(), "MS-SSIM in [0, 1]"
    assert 0 <= result["classifier_acc"] <= 100, "the classifier's accuracy is a percentage"
    return [text, *training_invariants(result["history"])]


def table_summary(result: dict, cols: tuple, paper_table: dict, paper_cols: tuple) -> pd.DataFrame:
    """Tables 1 and 2: ours (mean and std over seeds) beside the paper's numbers, one row per model."""
    return common.per_model_summary(result["scores"], cols, MODELS, paper_table, paper_cols)


def table_metrics(result: dict, summary: pd.DataFrame, columns: dict, classifier_key: str) -> dict:
    """Tables 1 and 2's flat metrics: per model the summary ``columns``, then the classifier's test accuracy
    (under ``classifier_key``) and the seconds spent training."""
    out = common.per_model_metrics(summary, "model", KEYS, columns)
    out[classifier_key] = float(result["classifier_acc"])
    out["seconds_total"] = float(result["scores"]["seconds"].sum())
    return out


def not_judged(texts, reason: str) -> list[dict]:
    """One unjudged claim per text, each giving ``reason``."""
    from ..results import claim

    return [claim(t, None, reason) for t in texts]


def tile(images, shape: tuple[int, int, int], cols: int = 4, fill: float = 0.0) -> np.ndarray:
    """Images in [-1, 1] (rows of channel-first pixels of ``shape`` (c, h, w)), ``cols`` to a row, as one picture
    in [0, 1] for ``imshow``: (rows h, cols w) for one channel, (rows h, cols w, c) otherwise; empty cells
    hold ``fill``."""
    c, h, w = shape
    imgs = (np.asarray(images, dtype=float).reshape(-1, c, h, w).transpose(0, 2, 3, 1) + 1) / 2
    canvas = np.full((-(-len(imgs) // cols) * h, cols * w, c), fill)
    for i, im in enumerate(imgs):
        r, k = divmod(i, cols)
        canvas[r * h:(r + 1) * h, k * w:(k + 1) * w] = im
    canvas = np.clip(canvas, 0, 1)
    return canvas[..., 0] if c == 1 else canvas


def plot_grids(result: dict, shape: tuple[int, int, int], *, fill: float, x_title: str, rec_titles: dict):
    """Tables 1 and 2's figure: the test images, then per model (first seed) its reconstructions over 16 of its
    samples. ``rec_titles`` maps a model to its reconstructions' title."""
    import matplotlib.pyplot as plt

    grids = result["grids"]
    models = [m for m in MODELS if m in grids]
    fig, axes = plt.subplots(2, len(models) + 1, figsize=(3.2 * (len(models) + 1), 7), squeeze=False)

    def show(ax, images, title):
        ax.imshow(tile(images, shape, fill=fill), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)

    show(axes[0, 0], grids["x"], x_title)
    axes[1, 0].axis("off")
    for j, m in enumerate(models, start=1):
        show(axes[0, j], grids[m]["rec"], rec_titles[m])
        show(axes[1, j], grids[m]["samples"][:16], f"{m}: samples G(z)")
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig
