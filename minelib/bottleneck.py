"""Information bottleneck with MINE (paper section 4.4, eq. 24) and the VIB baseline (Alemi et al.).

A classifier ``x -> z -> y`` with a stochastic encoder is trained on the IB Lagrangian
``L = CE(y, softmax(W z)) + beta * I(X; Z)``. The regulariser is either

- ``"mine"``: ``I(X; Z)`` estimated by a :class:`~minelib.MINE` statistics network on ``[x, z]``,
  trained at the same time to maximise the DV bound with the bias-corrected gradient; or
- ``"vib"``: the variational upper bound ``KL(q(z|x) || N(0, I))`` of Alemi et al. (Gaussian encoder
  only, since it needs the density); or ``"none"`` (plain cross-entropy).

The encoders of Table 3 (paper section 4.4; sizes after VIB, the rest as docs/settings.md says) share a
784-1024-1024 ReLU trunk and a 256-d code:

- ``"gaussian"``: ``z = mu(x) + softplus(s(x) - 5) * eps`` (VIB's encoder);
- ``"additive"``: ``z = enc(x + 0.3 * eps)`` on inputs in [-1, 1];
- ``"propagated"``: ``z = enc([x, eps])``, ``eps ~ N(0, I_100)``.

:func:`train_bottleneck` is the one training loop of all four models of Table 3 (see :data:`MODELS`). Its random
streams (initial weights, epoch order, encoder and critic noise, shuffles, evaluation noise) come from
:mod:`minelib.seeding`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from . import ensemble
from .bounds import bound_value, dv_bound
from .estimator import MINE
from .networks import gaussian_like, seeded_noise
from .runtime import resolve_device
from . import seeding
from .training import LOSS_BOUND, Members, Recorder, configure, set_checked, settings_of
from .validation import check_adam_betas, check_choice, check_fraction, check_positive_int, check_widths

ENCODERS = ("gaussian", "additive", "propagated")
REGULARIZERS = ("vib", "mine", "none")
#: The four rows of Table 3: (encoder, regulariser).
MODELS = {
    "VIB": ("gaussian", "vib"),
    "MINE (Gaussian)": ("gaussian", "mine"),
    "MINE (Propagated)": ("propagated", "mine"),
    "MINE (Additive)": ("additive", "mine"),
}


class Code(NamedTuple):
    """An encoder's output: the sample ``z`` and, for the Gaussian encoder, its mean and scale."""

    z: torch.Tensor
    mu: torch.Tensor | None = None
    sigma: torch.Tensor | None = None


class StochasticEncoder(nn.Module):
    """A stochastic MLP encoder ``q(z | x)``: noise enters at the output, the input or as an input.

    Args:
        kind: ``"gaussian"``, ``"additive"`` or ``"propagated"`` (module docstring).
        x_dim, hidden, z_dim: the trunk ``x_dim -> hidden... (ReLU) -> z_dim`` (linear output).
        input_sigma: std of the input noise of the additive encoder (inputs in [-1, 1]).
        noise_dim: size of the noise vector appended to x by the propagated encoder.
        sigma_shift: the Gaussian encoder's scale is ``softplus(s - sigma_shift)`` (VIB's 5).

    Noise is drawn in training and evaluation alike: the encoder *is* the distribution q(z|x).
    """

    def __init__(self, kind: str = "gaussian", x_dim: int = 784, hidden: Sequence[int] = (1024, 1024),
                 z_dim: int = 256, input_sigma: float = 0.3, noise_dim: int = 100, sigma_shift: float = 5.0):
        super().__init__()
        self.kind = check_choice(kind, "encoder", ENCODERS)
        self.x_dim = check_positive_int(x_dim, "x_dim")
        self.z_dim = check_positive_int(z_dim, "z_dim")
        self.hidden = tuple(check_positive_int(h, "hidden width") for h in hidden)
        if not self.hidden:
            raise ValueError("hidden must list at least one layer width")
        self.input_sigma = check_fraction(input_sigma, "input_sigma", high=math.inf, closed_low=True)
        self.noise_dim = check_positive_int(noise_dim, "noise_dim") if self.kind == "propagated" else 0
        self.sigma_shift = float(sigma_shift)
        widths = (self.x_dim + self.noise_dim, *self.hidden)
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:]))
        self.head = nn.Linear(self.hidden[-1], 2 * self.z_dim if self.kind == "gaussian" else self.z_dim)
        self.noise_generators: list[torch.Generator] | None = None  # see minelib.networks.seeded_noise

    def forward(self, x: torch.Tensor) -> Code:
        """One sample of z per row of x, shape (n, z_dim)."""
        return self._encode(x, 1)

    def sample(self, x: torch.Tensor, samples: int) -> torch.Tensor:
        """``samples`` draws of z per row: shape (samples, n, z_dim). Shares what the noise does not touch."""
        return self._encode(x, check_positive_int(samples, "samples")).z

    def _encode(self, x: torch.Tensor, samples: int) -> Code:
        gens = getattr(self, "noise_generators", None)
        first, rest = self.layers[0], self.layers[1:]
        if self.kind == "additive":
            xs = x.expand(samples, *x.shape) if samples > 1 else x
            h = first(xs + self.input_sigma * gaussian_like(xs, gens)) if self.input_sigma > 0 else first(xs)
        elif self.kind == "propagated":
            lead = (samples, *x.shape[:-1]) if samples > 1 else x.shape[:-1]
            h = _first_layer_split(first, x, gaussian_like(x.new_empty(*lead, self.noise_dim), gens), self.x_dim)
        else:
            h = first(x)
        h = F.relu(h)
        for layer in rest:
            h = F.relu(layer(h))
        out = self.head(h)
        if self.kind != "gaussian":
            return Code(out)
        mu, s = out.chunk(2, dim=-1)
        sigma = F.softplus(s - self.sigma_shift)
        if samples > 1:
            mu, sigma = mu.expand(samples, *mu.shape), sigma.expand(samples, *sigma.shape)
        return Code(mu + sigma * gaussian_like(mu, gens), mu, sigma)

    def extra_repr(self) -> str:
        noise = {"gaussian": f"sigma=softplus(s - {self.sigma_shift:g})",
                 "additive": f"input_sigma={self.input_sigma:g}", "propagated": f"noise_dim={self.noise_dim}"}
        return f"kind={self.kind!r}, {self.x_dim} -> {self.hidden} -> z {self.z_dim}, {noise[self.kind]}"


def _first_layer_split(layer: nn.Module, x: torch.Tensor, eps: torch.Tensor, x_dim: int) -> torch.Tensor:
    """``layer([x, eps]) = W_x x + b + W_eps eps``: the x part once, the noise part per draw of eps.

    ``layer`` is an ``nn.Linear`` (weight (out, in)) or, in a stacked encoder, a
    :class:`~minelib.ensemble.StackedLinear` (weight (K, in, out)).
    """
    w = layer.weight
    if isinstance(layer, ensemble.StackedLinear):
        return torch.baddbmm(layer.bias, x, w[:, :x_dim]) + torch.matmul(eps, w[:, x_dim:])
    return F.linear(x, w[:, :x_dim], layer.bias) + F.linear(eps, w[:, x_dim:])


class Classifier(nn.Module):
    """Stochastic encoder followed by the linear softmax decoder ``z -> y``."""

    def __init__(self, encoder: StochasticEncoder, n_classes: int = 10):
        super().__init__()
        self.encoder = encoder
        self.decoder = nn.Linear(encoder.z_dim, check_positive_int(n_classes, "n_classes", minimum=2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Code]:
        """Logits of one sample of z per row, and the code."""
        code = self.encoder(x)
        return self.decoder(code.z), code

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, samples: int = 12, rows: int = 1000) -> torch.Tensor:
        """Class probabilities: the softmax averaged over ``samples`` draws of z (VIB's test rule)."""
        samples = check_positive_int(samples, "samples")
        out = []
        for i in range(0, x.shape[0], rows):
            z = self.encoder.sample(x[i:i + rows], samples)
            p = F.softmax(self.decoder(z), dim=-1)
            out.append(p.mean(dim=0) if samples > 1 else p)
        return torch.cat(out)

    @torch.no_grad()
    def error_rate(self, x: torch.Tensor, y: torch.Tensor, samples: int = 12) -> float:
        """Misclassification rate in percent with :meth:`predict_proba`."""
        pred = self.predict_proba(x, samples).argmax(dim=-1)
        return 100.0 * (pred != y).sum().item() / len(y)


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag sigma^2) || N(0, I))`` per row, in nats (VIB's rate term)."""
    log_sigma = torch.log(sigma.clamp_min(torch.finfo(sigma.dtype).tiny))
    return 0.5 * (mu.square() + sigma.square() - 1.0 - 2.0 * log_sigma).sum(dim=-1)


@dataclass(frozen=True)
class BottleneckArchitecture:
    """Sizes of a :class:`BottleneckModel` (Table 3's by default); every value is checked when made.

    Attributes:
        x_dim, hidden, z_dim, n_classes: the encoder's trunk ``x_dim -> hidden... -> z_dim`` and the classes.
        input_sigma, noise_dim: the additive encoder's input noise, the propagated encoder's noise size.
        critic_hidden, critic_input_noise, critic_hidden_noise, ema_rate: the statistics network of the
            ICML version (``[x, z]`` -> noise 0.3 -> 512 ELU -> noise 0.5 -> 512 ELU -> noise 0.5 -> 1)
            and the moving-average rate of its corrected gradient.
    """

    x_dim: int = 784
    hidden: tuple[int, ...] = (1024, 1024)
    z_dim: int = 256
    n_classes: int = 10
    input_sigma: float = 0.3
    noise_dim: int = 100
    critic_hidden: tuple[int, ...] = (512, 512)
    critic_input_noise: float = 0.3
    critic_hidden_noise: float = 0.5
    ema_rate: float = 0.01

    def __post_init__(self):
        level = lambda name: check_fraction(getattr(self, name), name, high=math.inf, closed_low=True)
        set_checked(self, x_dim=check_positive_int(self.x_dim, "x_dim"), hidden=check_widths(self.hidden, "hidden"),
                    z_dim=check_positive_int(self.z_dim, "z_dim"),
                    n_classes=check_positive_int(self.n_classes, "n_classes", minimum=2),
                    input_sigma=level("input_sigma"), noise_dim=check_positive_int(self.noise_dim, "noise_dim"),
                    critic_hidden=check_widths(self.critic_hidden, "critic_hidden"),
                    critic_input_noise=level("critic_input_noise"), critic_hidden_noise=level("critic_hidden_noise"),
                    ema_rate=check_fraction(self.ema_rate, "ema_rate"))


class BottleneckModel(nn.Module):
    """A classifier with an IB regulariser (eq. 24): VIB's KL, a MINE estimate of I(X; Z), or none.

    Args:
        encoder: ``"gaussian"``, ``"additive"`` or ``"propagated"``.
        regularizer: ``"mine"``, ``"vib"`` (Gaussian encoder only) or ``"none"``.
        beta: weight of the regulariser (1e-3 for both VIB and MINE in Table 3).
        architecture: the sizes (:class:`BottleneckArchitecture`; default: Table 3's).
        monitor_mi: also train a critic when the regulariser is not MINE, to *report* I(X; Z) on the
            same footing (its estimate never enters the encoder's loss).
        seed: any int >= 0: the classifier's initial weights come from its ``init`` stream and the critic's from
            its ``critic`` seed (:mod:`minelib.seeding`), without touching torch's global generator (None: drawn
            from torch's global generator, whose state is then restored).
        **sizes: fields of :class:`BottleneckArchitecture` by name (``hidden=(32, 32)``), applied to it.
    """

    def __init__(self, encoder: str = "gaussian", regularizer: str = "mine", beta: float = 1e-3, *,
                 architecture: BottleneckArchitecture | None = None, monitor_mi: bool = False,
                 seed: int | None = None, **sizes):
        super().__init__()
        self.regularizer = check_choice(regularizer, "regularizer", REGULARIZERS)
        kind = check_choice(encoder, "encoder", ENCODERS)
        if self.regularizer == "vib" and kind != "gaussian":
            raise ValueError(f"the VIB regulariser needs the Gaussian encoder's density; got encoder {encoder!r} "
                             "(use regularizer='mine' for the additive and propagated encoders)")
        self.beta = check_fraction(beta, "beta", high=math.inf, closed_low=True)
        self.architecture = a = configure(BottleneckArchitecture, architecture or BottleneckArchitecture(), sizes)
        with seeding.fork_global(seed, "init"):
            self.classifier = Classifier(StochasticEncoder(kind, a.x_dim, a.hidden, a.z_dim, a.input_sigma,
                                                           a.noise_dim), a.n_classes)
            has_critic = self.regularizer == "mine" or monitor_mi
            self.mine = MINE(a.x_dim, a.z_dim, "dv", a.ema_rate, a.critic_hidden, "elu",
                             input_noise=a.critic_input_noise, hidden_noise=a.critic_hidden_noise,
                             seed=seeding.child_seed(seed, "critic")) if has_critic else None

    @property
    def encoder(self) -> StochasticEncoder:
        return self.classifier.encoder

    def extra_repr(self) -> str:
        return f"regularizer={self.regularizer!r}, beta={self.beta:g}"


def make_model(name: str, beta: float = 1e-3, **kwargs) -> BottleneckModel:
    """One of Table 3's models by its row name (a key of :data:`MODELS`)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; accepted: {', '.join(MODELS)}")
    encoder, regularizer = MODELS[name]
    return BottleneckModel(encoder, regularizer, beta, **kwargs)


@dataclass(frozen=True)
class BottleneckConfig:
    """Settings of :func:`train_bottleneck` (eq. 24; VIB's schedule by default); every value is checked when made.

    Attributes:
        epochs: passes over the training set (minibatches drawn without replacement; the last
            incomplete batch of each epoch is dropped).
        batch_size: images per step (100 in VIB and the paper).
        lr, critic_lr, adam_betas: Adam for the classifier and for the critic.
        lr_decay, decay_every: both learning rates are multiplied by ``lr_decay`` every
            ``decay_every`` epochs (VIB: 0.97 every 2).
        polyak: decay of an exponential moving average of the classifier's weights used for every
            evaluation (VIB's demo uses 0.999); None (default, as in the paper's rows) evaluates the
            raw weights.
        test_samples: draws of z whose softmax is averaged for the final test error (VIB: 12).
        eval_every: steps between evaluations on the test set (one draw of z); None: once per epoch.
        log_every: steps per row of ``history``; None: 20 rows per epoch.
    """

    epochs: int = 200
    batch_size: int = 100
    lr: float = 1e-4
    critic_lr: float = 1e-4
    adam_betas: tuple[float, float] = (0.5, 0.999)
    lr_decay: float = 0.97
    decay_every: int = 2
    polyak: float | None = None
    test_samples: int = 12
    eval_every: int | None = None
    log_every: int | None = None

    def __post_init__(self):
        optional = lambda name: None if getattr(self, name) is None else check_positive_int(getattr(self, name), name)
        set_checked(self, epochs=check_positive_int(self.epochs, "epochs"),
                    batch_size=check_positive_int(self.batch_size, "batch_size", minimum=2),
                    lr=check_fraction(self.lr, "lr", high=math.inf),
                    critic_lr=check_fraction(self.critic_lr, "critic_lr", high=math.inf),
                    adam_betas=check_adam_betas(self.adam_betas), lr_decay=check_fraction(self.lr_decay, "lr_decay"),
                    decay_every=check_positive_int(self.decay_every, "decay_every"),
                    polyak=None if self.polyak is None else check_fraction(self.polyak, "polyak", closed_low=True),
                    test_samples=check_positive_int(self.test_samples, "test_samples"),
                    eval_every=optional("eval_every"), log_every=optional("log_every"))

    def lr_factor(self, epoch: int) -> float:
        """The learning rates' factor in epoch ``epoch`` (0-based): a step decay, VIB's schedule."""
        return self.lr_decay ** (epoch // self.decay_every)


class _Schedule(NamedTuple):
    """A run's step counts: derived from the config and the number of training images."""

    steps_per_epoch: int
    steps: int
    eval_every: int
    log_every: int


@dataclass
class BottleneckResult:
    """What :func:`train_bottleneck` returns.

    Attributes:
        test_error: misclassification rate (%) on the test set, softmax averaged over ``test_samples``
            draws of z (with the Polyak-averaged weights when ``polyak`` was set).
        history: one row per ``log_every`` steps: ``step``, ``epoch``, ``lr``, minibatch means of
            ``ce``, ``train_error`` (%), ``kl`` (VIB's rate, NaN otherwise), ``mi`` (the critic's DV
            bound on the minibatch, NaN without a critic) and ``loss`` (the encoder's objective).
        evals: one row per evaluation: ``step``, ``epoch``, ``test_error`` (%, one draw of z),
            ``mi_test`` (DV bound of the critic in eval mode on the test set, NaN without a critic).
        settings, seconds: every setting used; wall time of training (evaluations included; for stacked
            models, of all of them together).
        model: the trained :class:`BottleneckModel`.
    """

    test_error: float
    history: pd.DataFrame
    evals: pd.DataFrame
    settings: dict
    seconds: float
    model: BottleneckModel = field(repr=False)

    def __repr__(self) -> str:
        return (f"BottleneckResult(test_error={self.test_error:.2f}%, steps={self.settings['steps']}, "
                f"{self.seconds:.0f} s)")


def train_bottleneck(model: BottleneckModel | Sequence[BottleneckModel], x_train, y_train, x_test, y_test,
                     config: BottleneckConfig | None = None, *, seed: int | Sequence[int] = 0, device: str = "auto",
                     progress: bool = True, desc: str | None = None,
                     **overrides) -> BottleneckResult | list[BottleneckResult]:
    """Train a :class:`BottleneckModel` on the IB Lagrangian (eq. 24), on images in [0, 1] (fed as ``2x - 1``).

    Every step takes a minibatch, draws one z per image and updates the classifier on
    ``CE + beta * R`` (R: the KL for VIB, the critic's DV bound for MINE) and, when the model has a
    critic, the critic on the bias-corrected DV loss of the same pairs. The two updates come from
    one pass of the critic (simultaneous steps): the critic's loss reaches only its parameters and
    the classifier's only the classifier's, so z is in effect detached for the critic.

    Args:
        model: the model to train (moved to ``device``), or a list of K models of one architecture (the
            seeds of a row of Table 3) trained at once as one stacked model (:mod:`minelib.ensemble`), each
            with the minibatches and noise it gets alone.
        x_train, y_train, x_test, y_test: images (n, d) in [0, 1] and integer labels, numpy or torch.
        config: the settings (:class:`BottleneckConfig`; default: its defaults).
        seed: any int >= 0; it fixes the epochs' order, every noise draw in training (encoder and critic
            noise), the shuffles and the evaluations' noise (streams ``order``, ``noise_layers``, ``shuffle``,
            ``eval`` of :mod:`minelib.seeding`; the initial weights come from the model's own ``seed``). For a
            list of K models, a list of K seeds, one per model, or an int, which then means
            ``minelib.seeding.replicate_seeds(seed, K)``. Torch's global generator is neither used nor changed.
        device: where to train. progress, desc: progress bar and its label.
        **overrides: settings of :class:`BottleneckConfig` by name (``epochs=2, lr=1e-3``).

    Returns:
        :class:`BottleneckResult`, or one per model for a list.

    Raises:
        ValueError / TypeError: bad data or settings, with the argument named.
        TrainingDivergedError: a loss became NaN, infinite or implausibly large; the message names the step
            (and seed).
    """
    cfg = configure(BottleneckConfig, config, overrides)
    many = isinstance(model, (list, tuple))
    models = list(model) if many else [model]
    for m in models:
        if not isinstance(m, BottleneckModel):
            raise TypeError(f"model must be a BottleneckModel (see make_model); got {type(m).__name__}")
    seeds = seeding.member_seeds(seed, len(models), noun="model")
    first = models[0]
    n_classes, x_dim = first.classifier.decoder.out_features, first.encoder.x_dim
    x_train, y_train = _check_data(x_train, y_train, "train", x_dim, n_classes)
    x_test, y_test = _check_data(x_test, y_test, "test", x_dim, n_classes)
    if cfg.batch_size > len(x_train):
        raise ValueError(f"batch_size={cfg.batch_size} is more than the {len(x_train)} training images")
    plan = _schedule(cfg, len(x_train))
    members = Members(seeds, resolve_device(device), stacked=len(models) > 1)
    net = members.stack(models)
    to_dev = lambda a, dtype: torch.as_tensor(a, dtype=dtype).to(members.device)
    dtype = torch.get_default_dtype()
    # 2x - 1 makes new tensors: the caller's arrays are never written to.
    data = dict(x_train=to_dev(x_train, dtype) * 2 - 1, y_train=to_dev(y_train, torch.int64),
                x_test=to_dev(x_test, dtype) * 2 - 1, y_test=to_dev(y_test, torch.int64))
    settings = {"encoder": first.encoder.kind, "regularizer": first.regularizer, "beta": first.beta,
                **settings_of(cfg), **plan._asdict(), "device": str(members.device), "n_train": len(x_train),
                "n_test": len(x_test), "critic": first.mine is not None, "stacked_with": len(models)}
    start = time.perf_counter()
    label = desc or f"{first.encoder.kind} + {first.regularizer}"
    history, evals, averaged = _train(net, data, cfg, plan, members, progress, label)
    members.copy_back(net, models)
    classifiers = ([m.classifier for m in models] if averaged is None
                   else members.unstack(averaged, [m.classifier for m in models]) if members.stacked else [averaged])
    test_errors = []
    for k, clf in enumerate(classifiers):
        with seeded_noise(clf, members.gens("eval")[k:k + 1]):
            test_errors.append(clf.error_rate(data["x_test"], data["y_test"], cfg.test_samples))
    seconds = time.perf_counter() - start
    results = [BottleneckResult(test_error=e, history=h, evals=v, settings={**settings, "seed": s}, seconds=seconds,
                                model=m) for m, s, e, h, v in zip(models, seeds, test_errors, history, evals)]
    return results if many else results[0]


def _schedule(cfg: BottleneckConfig, n_train: int) -> _Schedule:
    steps_per_epoch = n_train // cfg.batch_size
    return _Schedule(steps_per_epoch, cfg.epochs * steps_per_epoch,
                     steps_per_epoch if cfg.eval_every is None else cfg.eval_every,
                     max(1, steps_per_epoch // 20) if cfg.log_every is None else cfg.log_every)


def _check_data(x, y, split: str, x_dim: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, x_dim) finite in [0, 1] and labels (n,) in 0..n_classes-1, as numpy arrays."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"x_{split} must be a numeric array of images; got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[1] != x_dim:
        raise ValueError(f"x_{split} must have shape (n, {x_dim}) (flattened images); got {x.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y_{split} must hold integer class labels; got dtype {y.dtype}")
    if y.shape != (len(x),):
        raise ValueError(f"y_{split} must have shape ({len(x)},), one label per image; got {y.shape}")
    if len(x) == 0:
        raise ValueError(f"x_{split} is empty")
    if not np.isfinite(x).all():
        raise ValueError(f"x_{split} contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"x_{split} must be images scaled to [0, 1] (as load_mnist returns them); "
                         f"got values in [{lo:g}, {hi:g}]")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y_{split} must hold labels in 0..{n_classes - 1}; got values in [{y.min()}, {y.max()}]")
    return x, y


# Per-step record columns, kept on the device and read back once per log interval.
_COLS = ("loss", "ce", "train_error", "kl", "mi", "critic_loss")


def _train(net: BottleneckModel, data: dict, cfg: BottleneckConfig, plan: _Schedule, members: Members,
           progress: bool, label: str) -> tuple[list[pd.DataFrame], list[pd.DataFrame], nn.Module | None]:
    """The one training loop of every model of Table 3, for one model or K stacked ones.

    Returns per-member histories and evaluations, and the Polyak-averaged classifier (stacked like the
    model) or None.
    """
    clf, mine, dev = net.classifier, net.mine, members.device
    fused = {"fused": True} if dev.type in ("cpu", "cuda") else {}
    opt = torch.optim.Adam(clf.parameters(), lr=cfg.lr, betas=cfg.adam_betas, **fused)
    opt_t = torch.optim.Adam(mine.parameters(), lr=cfg.critic_lr, betas=cfg.adam_betas, **fused) \
        if mine is not None else None
    averaged = None
    if cfg.polyak is not None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        averaged = AveragedModel(clf, multi_avg_fn=get_ema_multi_avg_fn(cfg.polyak))
    # The epochs' order is drawn on the CPU whatever the device, so that it is the same on every device.
    order_gens, n = members.generators("order"), len(data["x_train"])
    history, evals = [[] for _ in members.seeds], [[] for _ in members.seeds]
    clf.train()
    if mine is not None:
        mine.train()
    limits = {"loss": LOSS_BOUND, **({"critic_loss": LOSS_BOUND} if mine is not None else {})}
    hint = "lower lr or critic_lr, lower beta, or check that the images are finite and in [0, 1]"
    with members.noise(nn.ModuleList([net] + ([averaged] if averaged is not None else []))), \
            Recorder(_COLS, members, plan.steps, plan.log_every, limits, label=label, hint=hint,
                     show={"ce": "ce", "mi": "mi"}, progress=progress) as rec:
        for step in range(1, plan.steps + 1):
            epoch, pos = divmod(step - 1, plan.steps_per_epoch)
            if pos == 0:  # a new epoch: fresh order, learning rates on the schedule
                order = members.draw("order", lambda k, g: torch.randperm(n, generator=g),
                                     generators=order_gens).to(dev)
                for o, lr in ((opt, cfg.lr), (opt_t, cfg.critic_lr)):
                    for g in (o.param_groups if o is not None else []):
                        g["lr"] = lr * cfg.lr_factor(epoch)
            idx = order[..., pos * cfg.batch_size:(pos + 1) * cfg.batch_size]
            values = _step(net, opt, opt_t, data["x_train"][idx], data["y_train"][idx], members)
            if averaged is not None:
                averaged.update_parameters(clf)
            block = rec.add(step, **values)
            if block is not None:
                means = block.nanmean(dim=0)  # kl, mi: NaN for models without them
                for k, h in enumerate(history):
                    h.append({"step": step, "epoch": step / plan.steps_per_epoch, "lr": opt.param_groups[0]["lr"],
                              **{c: float(v) for c, v in zip(_COLS, means[:, k])}})
            if step % plan.eval_every == 0 or step == plan.steps:
                _record_evaluation(averaged.module if averaged is not None else clf, mine, data, members, evals,
                                   step, plan.steps_per_epoch)
    history = [pd.DataFrame(h, columns=["step", "epoch", "lr", *_COLS]) for h in history]
    evals = [pd.DataFrame(e, columns=["step", "epoch", "test_error", "mi_test"]) for e in evals]
    return history, evals, (averaged.module if averaged is not None else None)


def _record_evaluation(clf: Classifier, mine: MINE | None, data: dict, members: Members, evals: list[list],
                       step: int, steps_per_epoch: int) -> None:
    """Evaluate on the test set and append one row per member to ``evals``. The encoder's noise comes from the
    members' ``eval`` stream: how often a run evaluates never moves the draws of its training."""
    with seeded_noise(clf, members.gens("eval")):
        out = _evaluate(clf, mine, data, len(members) if members.stacked else None)
    for k, e in enumerate(evals):
        e.append({"step": step, "epoch": step / steps_per_epoch,
                  **{c: float(v.reshape(-1)[k]) for c, v in out.items()}})


def _step(net: BottleneckModel, opt: torch.optim.Optimizer, opt_t: torch.optim.Optimizer | None, x: torch.Tensor,
          y: torch.Tensor, members: Members) -> dict[str, torch.Tensor]:
    """One step of the classifier on ``CE + beta * R`` (eq. 24) and, with a critic, one of the critic on the
    same pairs; returns the per-member values to record."""
    clf, mine = net.classifier, net.mine
    nan = members.full(math.nan)
    logits, code = clf(x)
    ce = F.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none").view(y.shape).mean(-1)
    loss, kl, mi, critic_loss = ce, nan, nan, nan
    if net.regularizer == "vib":
        kl = gaussian_kl(code.mu, code.sigma).mean(-1)
        loss = ce + net.beta * kl
    if mine is not None:
        z = code.z if net.regularizer == "mine" else code.z.detach()
        t_joint, t_marg = mine.scores(x, z, members.shuffle(z))
        critic_loss, mi = mine.loss_from_scores(t_joint, t_marg, reduce=False)  # updates the moving average
        if net.regularizer == "mine":
            loss = ce + net.beta * bound_value(mine.bound, t_joint, t_marg)
        opt_t.zero_grad(set_to_none=True)
        critic_loss.sum().backward(inputs=list(mine.parameters()), retain_graph=True)
    opt.zero_grad(set_to_none=True)
    loss.sum().backward(inputs=list(clf.parameters()))
    opt.step()
    if opt_t is not None:
        opt_t.step()
    with torch.no_grad():
        err = (logits.argmax(dim=-1) != y).float().mean(-1) * 100.0
    return dict(loss=loss, ce=ce, train_error=err, kl=kl, mi=mi, critic_loss=critic_loss)


@torch.no_grad()
def _evaluate(clf: Classifier, mine: MINE | None, data: dict, members: int | None = None, rows: int = 2000) -> dict:
    """Test error (%) with one draw of z, and the critic's DV bound on (x_test, z) in eval mode: 0-dim tensors,
    or (K,) ones for a model of K stacked ``members`` (every member on the same test images)."""
    was = clf.training
    clf.eval()
    x, y = data["x_test"], data["y_test"]
    block = lambda i: x[i:i + rows] if members is None else x[i:i + rows].expand(members, -1, -1)
    zs, wrong = [], 0
    for i in range(0, len(x), rows):
        logits, code = clf(block(i))
        wrong = wrong + (logits.argmax(dim=-1) != y[i:i + rows]).sum(-1)
        zs.append(code.z)
    clf.train(was)
    out = {"test_error": 100.0 * wrong.double() / len(x), "mi_test": torch.full(wrong.shape, math.nan)}
    if mine is not None and len(x) >= 2:
        z = torch.cat(zs, dim=-2)
        mine_was = mine.training
        mine.eval()
        t_joint = torch.cat([mine.network(block(i), z[..., i:i + rows, :]) for i in range(0, len(x), rows)], dim=-1)
        z_marg = torch.roll(z, 1, dims=-2)  # each x with another row's z: the product of marginals
        t_marg = torch.cat([mine.network(block(i), z_marg[..., i:i + rows, :]) for i in range(0, len(x), rows)],
                           dim=-1)
        mine.train(mine_was)
        out["mi_test"] = dv_bound(t_joint, t_marg)
    return out
