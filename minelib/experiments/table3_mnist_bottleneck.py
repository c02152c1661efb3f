"""Table 3: permutation-invariant MNIST with an information bottleneck, three MINE encoders vs VIB.

PAPER_SPEC section 9. Every row trains with the one loop :func:`minelib.bottleneck.train_bottleneck`:
Adam 1e-4 with betas (0.5, 0.999), lr x0.97 every 2 epochs, batch 100, beta 1e-3, test error with
the softmax averaged over 12 draws of z, no weight averaging. Within a replicate every model starts
from the same seed and sees the same minibatches.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..bottleneck import MODELS, make_model, train_bottleneck
from ..mnist import load_mnist
from . import common

NAME = "table3_mnist_bottleneck"
TITLE = "Table 3: permutation-invariant MNIST misclassification with an information bottleneck"
PAPER_CLAIM = ("With I(X; Z) estimated by MINE, the information bottleneck beats the variational bottleneck "
               "(VIB) with every encoder: misclassification 1.37% (VIB), 1.26% (MINE, Gaussian), 1.24% "
               "(MINE, propagated noise), 1.19% (MINE, additive noise).")
DATA_SOURCE = "MNIST (the source used is recorded by each run)"
PAPER_ERRORS = {"VIB": 1.37, "MINE (Gaussian)": 1.26, "MINE (Propagated)": 1.24, "MINE (Additive)": 1.19}
#: The paper's ordering, best first.
PAPER_ORDER = ("MINE (Additive)", "MINE (Propagated)", "MINE (Gaussian)", "VIB")
KEYS = {"VIB": "vib", "MINE (Gaussian)": "mine_gaussian", "MINE (Propagated)": "mine_propagated",
        "MINE (Additive)": "mine_additive"}

_COMMON = dict(models=list(MODELS), batch_size=100, lr=1e-4, critic_lr=1e-4, adam_betas=[0.5, 0.999], lr_decay=0.97,
               decay_every=2, beta=1e-3, hidden=[1024, 1024], z_dim=256, critic_hidden=[512, 512], test_samples=12,
               polyak=None, data_source="auto", data_dir=None)
PROFILES = {
    # A few hundred images, ten steps per model: proves the notebook runs end to end.
    "smoke": dict(_COMMON, seeds=1, n_train=500, n_test=500, epochs=2, eval_every=None, monitor_mi=False),
    # The full 60k/10k set, one epoch per model (the paper trains 200): minutes on 2 CPU cores.
    "quick": dict(_COMMON, seeds=1, n_train=None, n_test=None, epochs=1, eval_every=200, monitor_mi=False),
    # PAPER_SPEC 9: 200 epochs, 5 seeds; a passive critic also reports I(X; Z) for VIB.
    "paper": dict(_COMMON, seeds=5, n_train=None, n_test=None, epochs=200, eval_every=None, monitor_mi=True),
}
PAPER = {f"error_pct_{KEYS[m]}": v for m, v in PAPER_ERRORS.items()}


def settings(profile: str, **overrides) -> dict:
    """This table's settings for ``profile`` with overrides applied (None means keep)."""
    return common.check_members(common.settings(PROFILES, profile, **overrides), "models", MODELS)


def run(cfg: dict, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """Train every model of ``cfg["models"]``, all seeds of a model at once (``seconds``: a seed's share of the
    stacked run's wall time).

    Returns ``{"errors": DataFrame(model, seed, test_error, mi_test, seconds), "history": DataFrame(model,
    seed, step, epoch, lr, loss, ce, train_error, kl, mi, critic_loss), "evals": DataFrame(model, seed,
    step, epoch, test_error, mi_test), "settings": {...}, "data_source": str}``.
    """
    data = load_mnist(cfg["data_source"], cfg["data_dir"], cfg["n_train"], cfg["n_test"], seed=seed)
    errors, histories, evals, per_model, seconds = [], [], [], {}, {}
    run_seeds = [seed * 1000 + s for s in range(cfg["seeds"])]
    for name in cfg["models"]:
        # All seeds of a model train at once, as one stacked model.
        models = [make_model(name, beta=cfg["beta"], hidden=cfg["hidden"], z_dim=cfg["z_dim"],
                             critic_hidden=cfg["critic_hidden"], monitor_mi=cfg["monitor_mi"], seed=rs)
                  for rs in run_seeds]
        runs = train_bottleneck(
            models, data.x_train, data.y_train, data.x_test, data.y_test, epochs=cfg["epochs"],
            batch_size=cfg["batch_size"], lr=cfg["lr"], critic_lr=cfg["critic_lr"],
            adam_betas=tuple(cfg["adam_betas"]), lr_decay=cfg["lr_decay"], decay_every=cfg["decay_every"],
            polyak=cfg["polyak"], test_samples=cfg["test_samples"], eval_every=cfg["eval_every"],
            device=device, seed=run_seeds, progress=progress, desc=name)
        for s, res in enumerate(runs):
            final_mi = res.evals["mi_test"].iloc[-1] if len(res.evals) else np.nan
            errors.append((name, s, res.test_error, final_mi, res.seconds / len(runs)))
            histories.append(res.history.assign(model=name, seed=s))
            evals.append(res.evals.assign(model=name, seed=s))
            per_model[name] = {**res.settings, "seed": "base seed * 1000 + replicate"}
            seconds[f"{name} / {s}"] = round(res.seconds / len(runs), 1)
    first = ["model", "seed"]
    history = pd.concat(histories, ignore_index=True)
    ev = pd.concat(evals, ignore_index=True)
    return {"errors": pd.DataFrame(errors, columns=["model", "seed", "test_error", "mi_test", "seconds"]),
            "history": history[first + [c for c in history.columns if c not in first]],
            "evals": ev[first + [c for c in ev.columns if c not in first]],
            "settings": {"models": per_model, "seconds": seconds}, "data_source": data.source}


def summary(result: dict) -> pd.DataFrame:
    """Table 3: the paper's error beside ours (mean, std and count over seeds), in the paper's row order."""
    e = result["errors"]
    g = e.groupby("model").agg(ours_mean=("test_error", "mean"), ours_std=("test_error", "std"),
                               seeds=("seed", "nunique"), mi_test=("mi_test", "mean"), seconds=("seconds", "sum"))
    order = [m for m in MODELS if m in g.index]
    g = g.loc[order]
    g.insert(0, "paper", [PAPER_ERRORS[m] for m in order])
    g.index.name = "model (error %)"
    return g.reset_index()


def metrics(result: dict) -> dict:
    """Mean and std of the test error (%) per model, the critic's final held-out I(X; Z), total seconds."""
    out = common.per_model_metrics(summary(result), "model (error %)", KEYS, {
        "error_pct": "ours_mean", "error_std": "ours_std", "mi_test_nats": "mi_test"})
    out["seconds_total"] = float(result["errors"]["seconds"].sum())
    return out


def invariants(result: dict) -> list[str]:
    """What must hold at any size; raises AssertionError otherwise. Returns a fixed description."""
    e, h, ev = result["errors"], result["history"], result["evals"]
    assert (e.groupby(["model", "seed"]).size() == 1).all(), "one test error per (model, seed)"
    models = result["settings"]["models"]
    assert set(e["model"]) == set(models), "every model asked for ran"
    assert np.isfinite(e["test_error"]).all() and e["test_error"].between(0, 100).all(), "errors are percentages"
    assert np.isfinite(h[["loss", "ce", "train_error"]].to_numpy()).all(), "training curves are finite"
    assert np.isfinite(ev["test_error"]).all(), "test curves are finite"
    critic = [m for m, s in models.items() if s["critic"]]
    assert np.isfinite(h.loc[h.model.isin(critic), "mi"]).all(), "the critic's estimate is finite"
    assert np.isfinite(ev.loc[ev.model.isin(critic), "mi_test"]).all(), "the held-out estimate is finite"
    vib = h[h.model == "VIB"]
    assert (vib["kl"] >= 0).all(), "a KL divergence is non-negative"
    for m, g in h.groupby("model"):
        s = models[m]
        epoch = (g["step"] - 1) // s["steps_per_epoch"]
        want = s["lr"] * s["lr_decay"] ** (epoch // s["decay_every"])
        assert np.allclose(g["lr"], want, rtol=1e-9), f"{m}: learning rate off the schedule"
    return ["one finite test error in [0, 100] % per model and seed; every model asked for ran",
            "training and test curves finite; the critic's I(X; Z) estimate finite for every model with a critic",
            "VIB's rate KL(q(z|x) || N(0, I)) >= 0 at every logged step",
            "learning rates follow the schedule: x lr_decay every decay_every epochs"]


def claims(result: dict, profile: str) -> list[dict]:
    """Every MINE encoder at or below VIB's error; the paper's full ordering. Judged under quick and paper."""
    from ..results import claim

    s = summary(result).set_index("model (error %)")
    if set(s.index) != set(MODELS):
        missing = ", ".join(m for m in MODELS if m not in s.index)
        return [claim("Every MINE encoder beats VIB; ordering Additive < Propagated < Gaussian < VIB", None,
                      f"not judged: needs all four models (missing: {missing})")]
    ours = s["ours_mean"]
    n_seeds = int(s["seeds"].min())
    epochs = result["settings"]["models"]["VIB"]["epochs"]
    fmt = lambda m: (f"{m} {ours[m]:.2f}%" + (f" ± {s.loc[m, 'ours_std']:.2f}" if n_seeds > 1 else "")
                     + f" (paper {PAPER_ERRORS[m]:.2f}%)")
    context = (f"{n_seeds} seed(s), {epochs} epoch(s)" + ("" if epochs >= 200 else
               f" of the paper's 200: at this budget every error is far above the paper's; the claims compare "
               f"the models with each other") + ". Differences of 0.1-0.2 points are near seed noise (PAPER_SPEC 9).")
    mine = [m for m in MODELS if m != "VIB"]
    beats = {m: bool(ours[m] <= ours["VIB"]) for m in mine}
    ordered = [m for m in sorted(PAPER_ORDER, key=lambda m: ours[m])]
    held_order = all(ours[a] < ours[b] for a, b in zip(PAPER_ORDER[:-1], PAPER_ORDER[1:]))
    j = lambda held: common.judged(profile, held)
    return [
        claim("Every MINE encoder's test error is at or below VIB's", j(all(beats.values())),
              "; ".join(fmt(m) for m in MODELS) + ". At or below VIB: "
              + (", ".join(m for m in mine if beats[m]) or "none") + ". " + context),
        claim("The paper's ordering holds: Additive < Propagated < Gaussian < VIB", j(held_order),
              "ours, best first: " + " < ".join(f"{m} {ours[m]:.2f}%" for m in ordered) + ". " + context),
    ]


def plot(result: dict):
    """Six panels: Table 3 against the paper, test error and training cross-entropy over training,
    the critic's I(X; Z) estimate (minibatch and held out), and VIB's rate."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    e, h, ev = result["errors"], result["history"], result["evals"]
    order = [m for m in MODELS if m in set(e["model"])]
    colors = dict(zip(MODELS, sns.color_palette("colorblind", len(MODELS))))
    fig, axes = plt.subplots(2, 3, figsize=(17, 9))
    ax = axes[0, 0]
    sns.pointplot(data=e, x="model", y="test_error", order=order, errorbar="sd", linestyle="none", ax=ax,
                  color="C0", label="ours (mean ± sd over seeds)")
    ax.scatter(range(len(order)), [PAPER_ERRORS[m] for m in order], marker="x", s=80, color="black", zorder=5,
               label="paper")
    ax.set(title="Test misclassification (softmax averaged over 12 z)", xlabel="", ylabel="error (%)")
    ax.tick_params(axis="x", rotation=15)
    ax.legend()
    panels = [
        (axes[0, 1], ev, "test_error", "Test error during training (one z)", "error (%)", False),
        (axes[0, 2], h, "ce", "Training cross-entropy (minibatch means)", "nats", False),
        (axes[1, 0], h.dropna(subset=["mi"]), "mi", "I(X; Z): the critic's DV bound on minibatches", "nats", False),
        (axes[1, 1], ev.dropna(subset=["mi_test"]), "mi_test", "I(X; Z): the critic's DV bound on test pairs",
         "nats", False),
        (axes[1, 2], h[h.model == "VIB"], "kl", "VIB's rate KL(q(z|x) || N(0, I)) >= I(X; Z)",
         "nats", True),
    ]
    for ax, df, y, title, ylabel, logy in panels:
        if len(df):
            sns.lineplot(data=df, x="epoch", y=y, hue="model", hue_order=[m for m in order if m in set(df.model)],
                         palette=colors, errorbar="sd", ax=ax)
        else:
            ax.text(0.5, 0.5, "no model with a critic", ha="center", va="center", transform=ax.transAxes)
        ax.set(title=title, ylabel=ylabel, xlabel="epoch")
        if logy and len(df) and (df[y] > 0).all():
            ax.set_yscale("log")
    fig.tight_layout()
    return fig


def explore(encoder: str = "additive", regularizer: str = "mine", beta: float = 1e-3, n_train: int = 2_000,
            epochs: int = 2, seed: int = 0, device: str = "auto"):
    """One small model for the notebook's widget: its curves and its test error on 1,000 images."""
    import matplotlib.pyplot as plt

    from ..bottleneck import BottleneckModel

    data = load_mnist(n_train=n_train, n_test=1_000, seed=seed)
    model = BottleneckModel(encoder, regularizer, beta, seed=seed)
    res = train_bottleneck(model, *data[:4], epochs=epochs, device=device, seed=seed, progress=False,
                           eval_every=max(1, n_train // 100 // 4))
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    res.evals.plot(x="epoch", y="test_error", ax=axes[0], legend=False,
                   title=f"test error (final {res.test_error:.2f}%)")
    res.history.plot(x="epoch", y="ce", ax=axes[1], legend=False, title="training cross-entropy (nats)")
    col = "kl" if regularizer == "vib" else "mi"
    res.history.plot(x="epoch", y=col, ax=axes[2], legend=False,
                     title="VIB rate (nats)" if col == "kl" else "critic's I(X; Z) estimate (nats)")
    fig.suptitle(f"{encoder} encoder, {regularizer}, beta {beta:g}, {n_train} images, {epochs} epoch(s)")
    fig.tight_layout()
    return fig
