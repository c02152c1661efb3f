"""MINEGAN: a GAN whose generator also maximises I(G(Z); Z), estimated by MINE (paper section 4.2).

The generator's objective is eq. 21, ``max E log D(G(z)) + beta * I(G(Z); Z)``: as a loss, the
non-saturating GAN loss minus ``beta`` times the MINE bound on pairs ``(G(z), z)``. Since G is
deterministic, ``I(G(Z); Z) = H(G(Z))`` (eq. 20): the term rewards spreading the samples out, against
mode dropping. ``beta = 0`` is the plain GAN of Goodfellow et al. (2014).

Networks and optimiser follow the ICML version of the paper for Figs 3 and 4 (the [ICML*] and [DEF]
settings of docs/settings.md): G 2 x 500 with BatchNorm and LeakyReLU(0.2) and a linear 2-d output,
``z ~ N(0, I_2)``; D and the statistics network T 3 x 400 LeakyReLU(0.2), D with a sigmoid output
(kept as a logit for numerical stability), T linear on ``[G(z), z]``; Adam 1e-4, betas (0.5, 0.999),
batch 100; per iteration one D, one T and one G step; the bias-corrected DV gradient for T and
adaptive clipping (eq. 36, :mod:`minelib.clipping`) of the MI gradient reaching G. Random streams (G, D and
T's initialisation, data, noise, shuffles, the recorded samples' noise) come from :mod:`minelib.seeding`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from .clipping import global_norm, mi_regularised_grads
from .estimator import MINE
from .runtime import resolve_device
from . import seeding
from .training import (LOSS_BOUND, LR_SCHEDULES, NORM_BOUND, Members, Recorder, configure, data_sets, descend,
                       lr_schedules, per_member_data, set_checked, settings_of, statistics_step)
from .validation import (as_float_array, check_adam_betas, check_bool, check_choice, check_fraction, check_positive_int,
                         check_widths)

LEAKY_SLOPE = 0.2
HISTORY_COLUMNS = ["step", "d_loss", "g_loss", "mi", "norm_u", "norm_m", "norm_a"]


class Generator(nn.Module):
    """``G: z -> x``: Linear -> (BatchNorm) -> LeakyReLU(0.2) per hidden layer, then a linear output.

    ``batch_norm`` (the ICML paper's generator has it) couples the samples of a minibatch: each output moves
    with its batch's statistics, a jitter of order ``1/sqrt(batch)`` of the features' scale that the 25-Gaussian
    grid (modes 0.05 wide, 8 apart) cannot absorb. Measured (1 seed, lr 1e-3, 10,000 iterations): 27 % of
    samples within 3 std of a mode with it, 67 % without (docs/diagnostics.md).
    """

    def __init__(self, z_dim: int = 2, x_dim: int = 2, hidden: Sequence[int] = (500, 500), batch_norm: bool = True):
        super().__init__()
        self.z_dim, self.x_dim = check_positive_int(z_dim, "z_dim"), check_positive_int(x_dim, "x_dim")
        norm = check_bool(batch_norm, "batch_norm")
        layers, width = [], self.z_dim
        for h in hidden:
            h = check_positive_int(h, "hidden width")
            layers += [nn.Linear(width, h), *([nn.BatchNorm1d(h)] if norm else []), nn.LeakyReLU(LEAKY_SLOPE)]
            width = h
        layers.append(nn.Linear(width, self.x_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """``D: x -> logit``: LeakyReLU(0.2) MLP; ``D(x) = sigmoid(logit)`` is the probability of "real"."""

    def __init__(self, x_dim: int = 2, hidden: Sequence[int] = (400, 400, 400)):
        super().__init__()
        layers, width = [], check_positive_int(x_dim, "x_dim")
        for h in hidden:
            h = check_positive_int(h, "hidden width")
            layers += [nn.Linear(width, h), nn.LeakyReLU(LEAKY_SLOPE)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logit, shape (n,)."""
        return self.net(x).squeeze(-1)

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        """``D(x)``, the sigmoid of the logit."""
        return torch.sigmoid(self(x))


@dataclass(frozen=True)
class GANConfig:
    """Settings of :func:`train_gan` (MINEGAN, eq. 20-21); every value is checked when made (or replaced).

    Attributes:
        beta: weight of the MI term (0: plain GAN; the paper's MINEGAN uses 1).
        steps: training iterations.
        clip: adaptive clipping of the MI gradient (eq. 36; ignored when ``beta = 0``).
        batch_size, lr, adam_betas: minibatch size and Adam settings of all three networks.
        record_at: iterations after which to keep ``n_record`` generator samples (0 = at initialisation).
        z_dim, g_hidden, d_hidden, t_hidden: noise size and widths of G, D and T.
        g_batch_norm: BatchNorm after each of G's hidden layers (:class:`Generator`).
        ema_rate: moving-average rate of T's bias-corrected gradient.
        lr_schedule: ``"constant"``, or ``"cosine"``: every step size decays to 0 over ``steps`` (one cosine half
            period), so that the last iterate settles instead of oscillating (on the 25-Gaussian grid a constant
            1e-3 moves a GAN's high-quality share by 20-40 points between snapshots; docs/diagnostics.md).
        chunk: iterations between host synchronisations (finiteness checks); data and noise are drawn a
            chunk at a time.
    """

    beta: float = 0.0
    steps: int = 5000
    clip: bool = True
    batch_size: int = 100
    lr: float = 1e-4
    adam_betas: tuple[float, float] = (0.5, 0.999)
    record_at: tuple[int, ...] = ()
    n_record: int = 2000
    z_dim: int = 2
    g_hidden: tuple[int, ...] = (500, 500)
    g_batch_norm: bool = True
    d_hidden: tuple[int, ...] = (400, 400, 400)
    t_hidden: tuple[int, ...] = (400, 400, 400)
    ema_rate: float = 0.01
    chunk: int = 100
    lr_schedule: str = "constant"

    def __post_init__(self):
        set_checked(self, beta=check_fraction(self.beta, "beta", high=math.inf, closed_low=True),
                    steps=check_positive_int(self.steps, "steps"), clip=check_bool(self.clip, "clip"),
                    batch_size=check_positive_int(self.batch_size, "batch_size", minimum=2),
                    lr=check_fraction(self.lr, "lr", high=math.inf), adam_betas=check_adam_betas(self.adam_betas),
                    n_record=check_positive_int(self.n_record, "n_record", minimum=2),
                    z_dim=check_positive_int(self.z_dim, "z_dim"), g_hidden=check_widths(self.g_hidden, "g_hidden"),
                    g_batch_norm=check_bool(self.g_batch_norm, "g_batch_norm"),
                    d_hidden=check_widths(self.d_hidden, "d_hidden"), t_hidden=check_widths(self.t_hidden, "t_hidden"),
                    ema_rate=check_fraction(self.ema_rate, "ema_rate"), chunk=check_positive_int(self.chunk, "chunk"),
                    lr_schedule=check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES))
        if isinstance(self.record_at, (str, bytes)) or not isinstance(self.record_at, (list, tuple, set, range,
                                                                                      np.ndarray)):
            raise TypeError(f"record_at must be a sequence of iterations; got {self.record_at!r}")
        record_at = tuple(sorted({check_positive_int(s, "record_at entry", minimum=0) for s in self.record_at}))
        if record_at and record_at[-1] > self.steps:
            raise ValueError(f"record_at asks for iteration {record_at[-1]} but only {self.steps} steps are trained")
        set_checked(self, record_at=record_at)


@dataclass
class GANRun:
    """What :func:`train_gan` returns.

    Attributes:
        samples: ``{iteration: (n_record, 2) float32 array}``: generator samples (eval mode, the same
            fixed noise every time) after that many iterations (0 = before training).
        history: one row per iteration with columns ``step``, ``d_loss`` (the discriminator's
            cross-entropy), ``g_loss`` (the generator's non-saturating loss ``-mean log D(G(z))``),
            ``mi`` (T's minibatch DV bound on ``(G(z), z)``; NaN for the GAN, whose T is not trained),
            ``norm_u`` and ``norm_m`` (Frobenius norms over all G's parameters of the adversarial
            gradient and of the MI term's gradient ``-beta dI/dtheta``) and ``norm_a`` (the norm of
            the MI gradient actually applied: ``min(norm_u, norm_m)`` with clipping, ``norm_m`` without).
        settings: every setting used. seconds: wall time of training.
        generator, discriminator, mine: the trained modules (``mine`` is None when ``beta = 0``).
    """

    samples: dict
    history: pd.DataFrame
    settings: dict
    seconds: float
    generator: Generator = field(repr=False)
    discriminator: Discriminator = field(repr=False)
    mine: MINE | None = field(repr=False)

    def __repr__(self) -> str:
        return (f"GANRun(beta={self.settings['beta']}, clip={self.settings['clip']}, steps={self.settings['steps']}, "
                f"recorded at {sorted(self.samples)}, {self.seconds:.1f} s)")


def train_gan(data, config: GANConfig | None = None, *, seed: int | Sequence[int] = 0, device: str = "auto",
              progress: bool = True, **overrides) -> GANRun | list[GANRun]:
    """Train a GAN (``beta = 0``) or a MINEGAN (``beta > 0``, eq. 20-21) on 2-D (or any d) data.

    Each iteration: one discriminator step on a data batch and ``G(u)``; one step of the statistics
    network T on ``(G(u).detach(), u)`` against shuffled pairs (bias-corrected DV gradient; only when
    ``beta > 0``); one generator step on fresh noise with gradient ``g_u + g_a``, where ``g_u`` is the
    gradient of the non-saturating loss ``-mean log D(G(z))`` and ``g_a`` that of ``-beta * I_DV(G(z); z)``,
    adaptively clipped to norm ``<= |g_u|`` when ``clip`` (eq. 36). T's own gradient is never clipped.

    Args:
        data: an array (n, d) of data points (minibatches drawn with replacement), or a sampler
            ``f(n, rng) -> (n, d) array`` (or a tuple whose first item is one), e.g.
            :func:`minelib.toy2d.swiss_roll`, called with a seeded ``numpy`` generator. A list of such is one
            data set per member (``seed`` then lists as many seeds, or is an int).
        config: the settings (:class:`GANConfig`; default: its defaults).
        seed: any int >= 0; it seeds G's, D's and T's initialisation, data minibatches, noise, shuffles and
            the recorded samples' noise (streams ``init``, ``discriminator``, ``critic``, ``data``, ``noise``,
            ``shuffle``, ``sample`` of :mod:`minelib.seeding`); on the CPU two runs with the same seed give
            identical results (the global torch generator is neither used nor changed). A list of K seeds
            trains K independent runs at once as one stacked model (:mod:`minelib.ensemble`), and so does an
            int with a list of K data sets, meaning ``minelib.seeding.replicate_seeds(seed, K)``: each member
            gets the initialisation, data and noise a run of its seed alone gets, and the same results up to
            float rounding (which GAN training amplifies over many iterations).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``. progress: show a progress bar.
        **overrides: settings of :class:`GANConfig` by name (``beta=1.0, steps=300``), applied to ``config``.

    Returns:
        :class:`GANRun`, or one per member when ``seed`` is a list or ``data`` a list of data sets.

    Raises:
        ValueError / TypeError: bad arguments, named.
        TrainingDivergedError: a loss or gradient norm became non-finite or implausibly large (the
            iteration and seed are named).
    """
    cfg = configure(GANConfig, config, overrides)
    seeds, many = _member_seeds(seed, data)
    # Stacked even for one seed: a run alone and a member of a stacked run are the same computation.
    members = Members(seeds, resolve_device(device), stacked=True, generator_device="cpu")
    sources = [_data_source(d, s, members.device) for d, s in zip(per_member_data(data, len(seeds)), seeds)]
    x_dim = sources[0][1]
    singles = [_init_networks(s, x_dim, cfg) for s in seeds]
    G, D, mine = (members.stack([m[i] for m in singles]) if singles[0][i] is not None else None for i in range(3))
    opt_g, opt_d, opt_t = (_adam(m, cfg, members.device) for m in (G, D, mine))
    schedules = lr_schedules((opt_g, opt_d, opt_t), cfg.lr_schedule, cfg.steps)
    z_record = torch.stack([torch.randn(cfg.n_record, cfg.z_dim, generator=g)
                            for g in members.generators("sample")]).to(members.device)
    samples = {0: _sample(G, z_record)} if 0 in cfg.record_at else {}
    nan, rows = members.full(math.nan), torch.arange(len(seeds), device=members.device)[:, None]
    for m in (G, D, mine):
        if m is not None:
            m.train()
    start = time.perf_counter()
    with _recorder(members, cfg, progress) as rec:
        for first in range(0, cfg.steps, cfg.chunk):
            real, noise, perms = _draw_chunk(members, [d for d, _ in sources], min(cfg.chunk, cfg.steps - first), cfg)
            for s in range(len(real)):
                step, u1, u2 = first + s + 1, noise[s, 0], noise[s, 1]
                d_loss, fake = _discriminator_step(G, D, opt_d, real[s], u1)
                # T on (G(u1), u1) against shuffled pairs: G is unchanged since `fake`
                mi = statistics_step(mine, opt_t, fake, u1, u1[rows, perms[s, 0]]) if mine is not None else nan
                g_loss, norms = _generator_step(G, D, mine, opt_g, u2, u2[rows, perms[s, 1]], cfg)
                rec.add(step, d_loss=d_loss, g_loss=g_loss, mi=mi, **norms)
                for schedule in schedules:
                    schedule.step()
                if step in cfg.record_at:
                    samples[step] = _sample(G, z_record)
    seconds = time.perf_counter() - start
    settings = {**settings_of(cfg), "clip": cfg.clip if mine is not None else None,
                "t_hidden": list(cfg.t_hidden) if mine is not None else None, "x_dim": x_dim,
                "device": str(members.device), "stacked_with": len(seeds)}
    nets = [members.unstack(net, [m[i] for m in singles]) if net is not None else [None] * len(seeds)
            for i, net in enumerate((G, D, mine))]
    runs = [GANRun(samples={i: x[k] for i, x in samples.items()}, history=history, settings={**settings, "seed": s},
                   seconds=seconds, generator=nets[0][k], discriminator=nets[1][k], mine=nets[2][k])
            for k, (s, history) in enumerate(zip(seeds, rec.histories()))]
    return runs if many else runs[0]


def _member_seeds(seed, data) -> tuple[list[int], bool]:
    """The members' seeds (:func:`minelib.seeding.member_seeds`; K is the length of a list of seeds, else of a
    list of data sets, else 1) and whether a list of runs is returned."""
    sets, listed = data_sets(data), isinstance(seed, (list, tuple, np.ndarray))
    k = len(seed) if listed else len(sets) if sets is not None else 1
    return seeding.member_seeds(seed, k), listed or sets is not None


def _data_source(data, seed: int, dev: torch.device) -> tuple[Callable[[int, torch.Generator], torch.Tensor], int]:
    """``(draw, x_dim)``: ``draw(n, gen) -> (n, x_dim) tensor`` gives minibatch rows from an array, or a sampler's
    output, and ``x_dim`` their size (a sampler's from a draw of its own, so that training's draws are
    the same whatever the size)."""
    if callable(data):
        rng = seeding.rng(seed, "data")

        def rows(n: int, rng: np.random.Generator) -> torch.Tensor:
            out = data(n, rng)
            out = as_float_array(out[0] if isinstance(out, tuple) else out, "data sampler output")
            if out.shape[0] != n:
                raise ValueError(f"the data sampler returned {out.shape[0]} rows for a request of {n}")
            return torch.as_tensor(out, dtype=torch.get_default_dtype(), device=dev)
        return (lambda n, gen: rows(n, rng)), rows(2, seeding.rng(seed, "data")).shape[1]
    table = torch.as_tensor(as_float_array(data, "data"), dtype=torch.get_default_dtype(), device=dev)
    return (lambda n, gen: table[torch.randint(table.shape[0], (n,), generator=gen).to(dev)]), table.shape[1]


def _init_networks(seed: int, x_dim: int, cfg: GANConfig) -> tuple[Generator, Discriminator, MINE | None]:
    """G, D and (when ``beta > 0``) T's MINE of one run, each from its own stream (``init``, ``discriminator``,
    ``critic``), so that none depends on the others: a GAN and a MINEGAN of one seed start from the same G and D."""
    with seeding.fork_global(seed, "init"):
        G = Generator(cfg.z_dim, x_dim, cfg.g_hidden, batch_norm=cfg.g_batch_norm)
    with seeding.fork_global(seed, "discriminator"):
        D = Discriminator(x_dim, cfg.d_hidden)
    mine = MINE(x_dim, cfg.z_dim, bound="dv", ema_rate=cfg.ema_rate, hidden=cfg.t_hidden, activation="leaky_relu",
                seed=seeding.child_seed(seed, "critic")) if cfg.beta > 0 else None
    return G, D, mine


def _adam(module: nn.Module | None, cfg: GANConfig, dev: torch.device) -> torch.optim.Adam | None:
    if module is None:
        return None
    fused = {"fused": True} if dev.type in ("cpu", "cuda") else {}
    return torch.optim.Adam(module.parameters(), lr=cfg.lr, betas=cfg.adam_betas, **fused)


def _recorder(members: Members, cfg: GANConfig, progress: bool) -> Recorder:
    """The history's recorder: every value must stay finite and plausible (``mi`` only with a MINE term)."""
    use_mi = cfg.beta > 0
    mi_norm = NORM_BOUND * max(1.0, cfg.beta)    # the MI gradient scales with beta
    limits = dict(d_loss=LOSS_BOUND, g_loss=LOSS_BOUND, **({"mi": LOSS_BOUND} if use_mi else {}),
                  norm_u=NORM_BOUND, norm_m=mi_norm, norm_a=mi_norm)
    return Recorder(HISTORY_COLUMNS[1:], members, cfg.steps, cfg.chunk, limits,
                    label=f"{'MINEGAN' if use_mi else 'GAN'} (beta={cfg.beta:g})",
                    hint="lower lr or beta, or keep clip=True",
                    show={"d": "d_loss", "g": "g_loss", **({"mi": "mi"} if use_mi else {})}, progress=progress)


def _draw_chunk(members: Members, draws: list, c: int, cfg: GANConfig) -> tuple[torch.Tensor, ...]:
    """A chunk's data (c, K, B, x_dim), noise (c, 2, K, B, z_dim) and shuffles (c, 2, K, B): per member, each
    from its own stream, as a single run draws them."""
    B = cfg.batch_size
    real = members.draw("data", lambda k, g: draws[k](c * B, g).reshape(c, B, -1), dim=1)
    noise = members.draw("noise", lambda k, g: torch.randn(c, 2, B, cfg.z_dim, generator=g), dim=2)
    perms = members.draw("shuffle", lambda k, g: torch.argsort(torch.rand(c, 2, B, generator=g), dim=-1), dim=2)
    return real, noise.to(members.device), perms.to(members.device)


def _discriminator_step(G: nn.Module, D: nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor,
                        u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of D on data ``real`` against ``G(u)`` (eq. 21's adversarial game); returns its cross-entropy and
    the fakes (computed without a graph)."""
    with torch.no_grad():
        fake = G(u)
    d_loss = F.softplus(-D(real)).mean(-1) + F.softplus(D(fake)).mean(-1)
    descend(opt, d_loss)
    return d_loss, fake


def _generator_step(G: nn.Module, D: nn.Module, mine: MINE | None, opt: torch.optim.Optimizer, u: torch.Tensor,
                    u_marginal: torch.Tensor, cfg: GANConfig) -> tuple[torch.Tensor, dict]:
    """One step of G on fresh noise ``u``: the non-saturating loss, minus ``beta * I(G(u); u)`` (eq. 21, T on
    ``(G(u), u)`` against ``(G(u), u_marginal)``) with its gradient adaptively clipped (eq. 36). Returns the
    loss and the three gradient norms."""
    x_g = G(u)
    g_loss = F.softplus(-D(x_g)).mean(-1)
    params = list(G.parameters())
    if mine is None:
        grads = torch.autograd.grad(g_loss.sum(), params)
        zero = torch.zeros_like(g_loss.detach())
        norms = dict(norm_u=global_norm(grads, stacked=True), norm_m=zero, norm_a=zero)
    else:
        mi_term = -cfg.beta * mine.lower_bound(x_g, u, u_marginal).sum()
        out = mi_regularised_grads(g_loss.sum(), mi_term, params, params, clip=cfg.clip, stacked=True)
        grads, norms = out.grads, dict(norm_u=out.norm_u, norm_m=out.norm_m, norm_a=out.norm_a)
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()
    return g_loss, norms


@torch.no_grad()
def _sample(G: nn.Module, z: torch.Tensor, rows: int = 8192) -> np.ndarray:
    """Generator samples in eval mode (BatchNorm running statistics): they depend on z only.

    ``z`` is (n, z_dim), or (K, n, z_dim) for a stacked generator; rows are taken a block at a time.
    """
    was_training = G.training
    G.eval()
    out = torch.cat([G(z[..., i:i + rows, :]) for i in range(0, z.shape[-2], rows)], dim=-2)
    G.train(was_training)
    return out.float().cpu().numpy()


def generate(G: Generator, n: int, seed: int = 0, device: str | torch.device | None = None) -> np.ndarray:
    """``n`` samples of a trained generator (eval mode) from noise ``z ~ N(0, I)`` of stream ``sample`` of ``seed``
    (any int >= 0; :mod:`minelib.seeding`): the noise of the recorded samples of a run seeded ``seed``."""
    n = check_positive_int(n, "n")
    dev = next(G.parameters()).device if device is None else resolve_device(device)
    z = torch.randn(n, G.z_dim, generator=seeding.generator(seed, "sample")).to(dev)
    return _sample(G, z)
