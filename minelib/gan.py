"""MINEGAN: a GAN whose generator also maximises I(G(Z); Z), estimated by MINE (paper section 4.2).

The generator's objective is eq. 21, ``max E log D(G(z)) + beta * I(G(Z); Z)``: as a loss, the
non-saturating GAN loss minus ``beta`` times the MINE bound on pairs ``(G(z), z)``. Since G is
deterministic, ``I(G(Z); Z) = H(G(Z))`` (eq. 20): the term rewards spreading the samples out, against
mode dropping. ``beta = 0`` is the plain GAN of Goodfellow et al. (2014).

Networks and optimiser follow PAPER_SPEC 4: G 2 x 500 with BatchNorm and LeakyReLU(0.2) and a linear
2-d output, ``z ~ N(0, I_2)``; D and the statistics network T 3 x 400 LeakyReLU(0.2), D with a
sigmoid output (kept as a logit for numerical stability), T linear on ``[G(z), z]``; Adam 1e-4,
betas (0.5, 0.999), batch 100; per iteration one D, one T and one G step; the bias-corrected DV
gradient for T and adaptive clipping (:mod:`minelib.clipping`) of the MI gradient reaching G.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import ensemble
from .clipping import adaptive_clip, global_norm
from .estimator import MINE, TrainingDivergedError
from .runtime import resolve_device
from .validation import as_float_array, check_fraction, check_positive_int, check_seeds

LEAKY_SLOPE = 0.2
HISTORY_COLUMNS = ["step", "d_loss", "g_loss", "mi", "norm_u", "norm_m", "norm_a"]


class Generator(nn.Module):
    """``G: z -> x``: Linear -> BatchNorm -> LeakyReLU(0.2) per hidden layer, then a linear output."""

    def __init__(self, z_dim: int = 2, x_dim: int = 2, hidden: Sequence[int] = (500, 500)):
        super().__init__()
        self.z_dim, self.x_dim = check_positive_int(z_dim, "z_dim"), check_positive_int(x_dim, "x_dim")
        layers, width = [], self.z_dim
        for h in hidden:
            h = check_positive_int(h, "hidden width")
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.LeakyReLU(LEAKY_SLOPE)]
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


def _data_source(data, seed: int, dev: torch.device) -> Callable[[int, torch.Generator], torch.Tensor]:
    """A function ``draw(n, gen) -> (n, 2) tensor``: minibatch rows from an array, or a sampler's output."""
    if callable(data):
        rng = np.random.default_rng([seed, 0xDA7A])

        def draw(n, gen):
            out = data(n, rng)
            out = out[0] if isinstance(out, tuple) else out
            out = as_float_array(out, "data sampler output")
            if out.shape[0] != n:
                raise ValueError(f"the data sampler returned {out.shape[0]} rows for a request of {n}")
            return torch.as_tensor(out, dtype=torch.get_default_dtype(), device=dev)
        return draw
    table = torch.as_tensor(as_float_array(data, "data"), dtype=torch.get_default_dtype(), device=dev)

    def draw(n, gen):
        return table[torch.randint(table.shape[0], (n,), generator=gen).to(dev)]
    return draw


def train_gan(
    data,
    beta: float = 0.0,
    steps: int = 5000,
    *,
    clip: bool = True,
    batch_size: int = 100,
    lr: float = 1e-4,
    adam_betas: tuple[float, float] = (0.5, 0.999),
    record_at: Sequence[int] = (),
    n_record: int = 2000,
    z_dim: int = 2,
    g_hidden: Sequence[int] = (500, 500),
    d_hidden: Sequence[int] = (400, 400, 400),
    t_hidden: Sequence[int] = (400, 400, 400),
    ema_rate: float = 0.01,
    device: str = "auto",
    seed: int | Sequence[int] = 0,
    progress: bool = True,
    chunk: int = 100,
) -> GANRun | list[GANRun]:
    """Train a GAN (``beta = 0``) or a MINEGAN (``beta > 0``) on 2-D (or any d) data.

    Each iteration: one discriminator step on a data batch and ``G(u)``; one step of the statistics
    network T on ``(G(u).detach(), u)`` against shuffled pairs (bias-corrected DV gradient; only when
    ``beta > 0``); one generator step on fresh noise with gradient ``g_u + g_a``, where ``g_u`` is the
    gradient of the non-saturating loss ``-mean log D(G(z))`` and ``g_a`` that of ``-beta * I_DV(G(z); z)``,
    adaptively clipped to norm ``<= |g_u|`` when ``clip`` (eq. 36). T's own gradient is never clipped.

    Args:
        data: an array (n, d) of data points (minibatches drawn with replacement), or a sampler
            ``f(n, rng) -> (n, d) array`` (or a tuple whose first item is one), e.g.
            :func:`minelib.toy2d.swiss_roll`, called with a seeded ``numpy`` generator. With a list of
            seeds, also a list of such, one data set per seed.
        beta: weight of the MI term (0: plain GAN; the paper's MINEGAN uses 1).
        steps: training iterations.
        clip: adaptive clipping of the MI gradient (ignored when ``beta = 0``).
        batch_size, lr, adam_betas: minibatch size and Adam settings of all three networks.
        record_at: iterations after which to keep ``n_record`` generator samples (0 = at initialisation).
        z_dim, g_hidden, d_hidden, t_hidden: noise size and widths of G, D and T.
        ema_rate: moving-average rate of T's bias-corrected gradient.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        seed: seeds initialisation, data minibatches, noise and shuffles; on the CPU two runs with the
            same seed give identical results (the global torch generator is neither used nor changed).
            A list of K seeds trains K independent runs at once as one stacked model
            (:mod:`minelib.ensemble`): each gets the initialisation, data and noise it gets alone, and
            the same results up to float rounding (which GAN training amplifies over many iterations).
        progress: show a progress bar. chunk: iterations between (cheap) finiteness checks.

    Returns:
        :class:`GANRun`, or one per seed when ``seed`` is a list.

    Raises:
        ValueError / TypeError: bad arguments, named.
        TrainingDivergedError: a loss or gradient norm became non-finite (the iteration and seed are named).
    """
    beta = check_fraction(beta, "beta", high=float("inf"), closed_low=True)
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size", minimum=2)
    lr = check_fraction(lr, "lr", high=float("inf"))
    n_record = check_positive_int(n_record, "n_record", minimum=2)
    chunk = check_positive_int(chunk, "chunk")
    many = isinstance(seed, (list, tuple, np.ndarray))
    seeds = check_seeds(seed, len(seed) if many else 1, many)
    if not seeds:
        raise ValueError("seed must be an int or a non-empty list of ints")
    K = len(seeds)
    record_at = sorted({check_positive_int(s, "record_at entry", minimum=0) for s in record_at})
    if record_at and record_at[-1] > steps:
        raise ValueError(f"record_at asks for iteration {record_at[-1]} but only {steps} steps are trained")
    if len(adam_betas) != 2 or not all(0.0 <= b < 1.0 for b in adam_betas):
        raise ValueError(f"adam_betas must be two numbers in [0, 1); got {adam_betas!r}")
    dev = resolve_device(device)
    draws = [_data_source(d, s, dev) for d, s in zip(_per_member_data(data, K), seeds)]
    x_dim = draws[0](2, torch.Generator().manual_seed(seeds[0])).shape[1]
    use_mi = beta > 0

    # Member k is built exactly as a single run with seed k builds its networks, then all are stacked.
    singles = [_init_networks(s, z_dim, x_dim, g_hidden, d_hidden, t_hidden, ema_rate, use_mi) for s in seeds]
    G, D, mine = (ensemble.stack([m[i] for m in singles]).to(dev) if singles[0][i] is not None else None
                  for i in range(3))
    adam = dict(lr=lr, betas=tuple(adam_betas), **({"fused": True} if dev.type in ("cpu", "cuda") else {}))
    opt_g, opt_d = torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam)
    opt_t = torch.optim.Adam(mine.parameters(), **adam) if use_mi else None
    g_params = list(G.parameters())

    gens = [torch.Generator().manual_seed(s) for s in seeds]      # minibatches, noise, shuffles
    z_record = torch.stack([torch.randn(n_record, z_dim, generator=torch.Generator().manual_seed(s + 104729))
                            for s in seeds]).to(dev)
    samples, record_set = {}, set(record_at)
    if 0 in record_set:
        samples[0] = _sample(G, z_record)
    members = torch.arange(K, device=dev)[:, None]
    nan = torch.full((K,), float("nan"), device=dev)
    zero = torch.zeros(K, device=dev)
    rows = []
    G.train(), D.train()
    if use_mi:
        mine.train()
    bar = tqdm(total=steps, disable=not progress, desc=f"{'MINEGAN' if use_mi else 'GAN'} (beta={beta:g}"
               f"{f', {K} seeds' if K > 1 else ''})", unit="it", leave=False)
    start = time.perf_counter()
    for first in range(0, steps, chunk):
        c = min(chunk, steps - first)
        # Per member, in the order a single run draws them: data, noise, shuffles. Shapes (c, ..., K, B, .).
        real = torch.stack([draw(c * batch_size, g).reshape(c, batch_size, -1) for draw, g in zip(draws, gens)], 1)
        noise, perms = (torch.stack(t, 2).to(dev) for t in zip(*[
            (torch.randn(c, 2, batch_size, z_dim, generator=g),
             torch.argsort(torch.rand(c, 2, batch_size, generator=g), dim=-1)) for g in gens]))
        chunk_rows = []
        for s in range(c):
            # 1. discriminator: real vs G(u1)
            u1 = noise[s, 0]
            with torch.no_grad():
                fake = G(u1)
            d_loss = F.softplus(-D(real[s])).mean(-1) + F.softplus(D(fake)).mean(-1)
            opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()
            opt_d.step()
            # 2. statistics network on (G(u1), u1) vs (G(u1), u1 shuffled); G is unchanged since `fake`
            if use_mi:
                t_loss, mi = mine.loss(fake, u1, u1[members, perms[s, 0]])
                opt_t.zero_grad(set_to_none=True)
                t_loss.backward()
                opt_t.step()
            else:
                mi = nan
            # 3. generator: non-saturating loss, minus beta * I(G(u2); u2), adaptively clipped
            u2 = noise[s, 1]
            x_g = G(u2)
            g_loss = F.softplus(-D(x_g)).mean(-1)
            g_u = torch.autograd.grad(g_loss.sum(), g_params, retain_graph=use_mi)
            if use_mi:
                mi_term = -beta * mine.lower_bound(x_g, u2, u2[members, perms[s, 1]]).sum()
                g_m = torch.autograd.grad(mi_term, g_params)
                if clip:
                    g_a, norm_u, norm_m = adaptive_clip(g_u, g_m, stacked=True)
                    norm_a = global_norm(g_a, stacked=True)
                else:
                    g_a, norm_u, norm_m = g_m, global_norm(g_u, stacked=True), global_norm(g_m, stacked=True)
                    norm_a = norm_m
                grads = [a + b for a, b in zip(g_u, g_a)]
            else:
                grads, norm_u, norm_m, norm_a = g_u, global_norm(g_u, stacked=True), zero, zero
            for p, g in zip(g_params, grads):
                p.grad = g
            opt_g.step()
            chunk_rows.append(torch.stack([d_loss.detach(), g_loss.detach(), mi, norm_u, norm_m, norm_a]))
            step = first + s + 1
            if step in record_set:
                samples[step] = _sample(G, z_record)
        block = torch.stack(chunk_rows).double().cpu().numpy()       # (c, 6, K)
        _check_finite(block, first, use_mi, seeds)
        rows.append(block)
        bar.update(c)
        last = block[-1].mean(-1)
        bar.set_postfix(d=f"{last[0]:.3f}", g=f"{last[1]:.3f}", **({"mi": f"{last[2]:.2f}"} if use_mi else {}))
    bar.close()
    seconds = time.perf_counter() - start
    values = np.concatenate(rows)
    runs = []
    for k, (s, (g_single, d_single, t_single)) in enumerate(zip(seeds, singles)):
        history = pd.DataFrame(values[:, :, k], columns=HISTORY_COLUMNS[1:])
        history.insert(0, "step", np.arange(1, steps + 1))
        settings = dict(beta=beta, clip=bool(clip) if use_mi else None, steps=steps, batch_size=batch_size, lr=lr,
                        adam_betas=list(adam_betas), z_dim=z_dim, x_dim=x_dim, g_hidden=list(g_hidden),
                        d_hidden=list(d_hidden), t_hidden=list(t_hidden) if use_mi else None, ema_rate=ema_rate,
                        record_at=record_at, n_record=n_record, device=str(dev), seed=s, stacked_with=K)
        runs.append(GANRun(samples={i: x[k] for i, x in samples.items()}, history=history, settings=settings,
                           seconds=seconds, generator=ensemble.unstack(G, g_single, k).to(dev),
                           discriminator=ensemble.unstack(D, d_single, k).to(dev),
                           mine=ensemble.unstack(mine, t_single, k).to(dev) if use_mi else None))
    return runs if many else runs[0]


def _per_member_data(data, K: int) -> list:
    """``data`` as one data set per member: a list of K arrays or samplers, or the same one K times."""
    # A list of rows (a plain nested-list data set) has 1-d items, so it is not read as K data sets.
    if isinstance(data, (list, tuple)) and data and all(callable(d) or np.ndim(d) == 2 for d in data):
        if len(data) != K:
            raise ValueError(f"data lists {len(data)} data sets for {K} seeds; give one per seed or a single one")
        return list(data)
    return [data] * K


def _init_networks(seed: int, z_dim: int, x_dim: int, g_hidden, d_hidden, t_hidden, ema_rate: float,
                   use_mi: bool) -> tuple[Generator, Discriminator, MINE | None]:
    """G, D and (when ``use_mi``) T's MINE of one run; G and D from a private copy of the global
    generator's state, T from its own seed (none depends on the others)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = Generator(z_dim, x_dim, g_hidden), Discriminator(x_dim, d_hidden)
    mine = MINE(x_dim, z_dim, bound="dv", ema_rate=ema_rate, hidden=t_hidden, activation="leaky_relu",
                seed=seed + 7919) if use_mi else None
    return G, D, mine


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


def _check_finite(block: np.ndarray, first_step: int, use_mi: bool, seeds: list[int]) -> None:
    cols = [0, 1, 2, 3, 4, 5] if use_mi else [0, 1, 3, 4, 5]
    bad = ~np.isfinite(block[:, cols])
    if bad.any():
        row, col, k = np.argwhere(bad)[0]
        name = HISTORY_COLUMNS[1:][cols[col]]
        raise TrainingDivergedError(
            f"GAN training diverged: {name} became non-finite at iteration {first_step + row + 1} (seed {seeds[k]}); "
            f"lower lr or beta, or keep clip=True")


def generate(G: Generator, n: int, seed: int = 0, device: str | torch.device | None = None) -> np.ndarray:
    """``n`` samples of a trained generator (eval mode) from seeded noise ``z ~ N(0, I)``."""
    n = check_positive_int(n, "n")
    dev = next(G.parameters()).device if device is None else resolve_device(device)
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(dev)
    return _sample(G, z)
