"""Bidirectional adversarial models: ALI, ALICE (L2 and adversarial) and ALI+MINE (paper section 4.3).

One training loop, :func:`train_bidirectional`, serves the four variants (PAPER_SPEC 6-7, eq. 23):

- encoder ``z = F(x) + eps``, ``eps ~ N(0, I)`` (``enc_noise`` = 1 fixes H(Z|X)); decoder ``x = G(z)``,
  ``z ~ N(0, I)``;
- a joint discriminator D on ``(x, F(x)+eps)`` ("real", label 1) vs ``(G(z), z)`` (label 0), trained
  with the cross-entropy; F and G minimise the swapped-label (non-saturating) loss;
- ``alice_l2`` adds ``lam * (|x - G(F(x)+eps)|^2 + |z - F(G(z))|^2)`` (batch means of squared norms);
- ``alice_adv`` adds two more discriminators, on ``(x, x)`` vs ``(x, G(F(x)+eps))`` and on ``(z, z)``
  vs ``(z, F(G(z)))``; F and G minimise their non-saturating losses with weight ``adv_weight`` (0.1);
- ``ali_mine`` subtracts ``beta * I(X; Z_enc)``, the MINE DV bound on ``(x, F(x)+eps)``, from the
  loss of F; its gradient ``g_m`` into F is adaptively clipped against the adversarial gradient
  ``g_u`` of F and G (:func:`minelib.clipping.adaptive_clip`, eq. 36) and the update is ``g_u + g_a``.
  The statistics network T takes one step per iteration with the bias-corrected DV gradient.

Per iteration: one step of the discriminator(s), one of T (``ali_mine``), one of F and G together.
A list of K models (seeds) of MLP networks trains as one stacked model (:mod:`minelib.ensemble`), each
member drawing its minibatches, noise and shuffles from its own seed.
Networks: :func:`toy_networks` (MLPs, 2-D 25 Gaussians), :func:`mnist_networks` (PAPER_SPEC 7) and
:func:`celeba_networks` (DCGAN-like convolutions on 64x64x3, PAPER_SPEC 8).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
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
from .networks import gaussian_like, seeded_noise
from .runtime import resolve_device
from .validation import as_float_array, check_choice, check_fraction, check_positive_int, check_seeds

VARIANTS = ("ali", "alice_l2", "alice_adv", "ali_mine")
#: Display names, in the paper's column order.
VARIANT_NAMES = {"ali": "ALI", "alice_l2": "ALICE (L2)", "alice_adv": "ALICE (A)", "ali_mine": "ALI+MINE"}
HISTORY_COLUMNS = ["step", "d_loss", "g_loss", "rec_loss", "mi", "norm_u", "norm_m", "norm_a"]
_ACT = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU, "softplus": nn.Softplus,
        "tanh": nn.Tanh}


class GaussianNoise(nn.Module):
    """Adds ``std * N(0, I)`` in training mode; the identity in eval mode."""

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)
        self.noise_generators: list[torch.Generator] | None = None  # see minelib.networks.seeded_noise

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.std > 0):
            return h
        return h + self.std * gaussian_like(h, getattr(self, "noise_generators", None))

    def extra_repr(self) -> str:
        return f"std={self.std:g}"


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "relu", *, batch_norm: bool = False,
        input_noise: float = 0.0, hidden_noise: float = 0.0, out_activation: str | None = None) -> nn.Sequential:
    """Linear layers of widths ``hidden`` with ``activation`` (optionally BatchNorm before it, Gaussian noise
    on the input and after each hidden layer), then a linear ``out_dim`` output and ``out_activation``."""
    activation = check_choice(activation, "activation", _ACT)
    layers: list[nn.Module] = [GaussianNoise(input_noise)] if input_noise > 0 else []
    width = check_positive_int(in_dim, "in_dim")
    for h in hidden:
        h = check_positive_int(h, "hidden width")
        layers.append(nn.Linear(width, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(_ACT[activation]())
        if hidden_noise > 0:
            layers.append(GaussianNoise(hidden_noise))
        width = h
    layers.append(nn.Linear(width, check_positive_int(out_dim, "out_dim")))
    if out_activation is not None:
        layers.append(_ACT[check_choice(out_activation, "out_activation", _ACT)]())
    return nn.Sequential(*layers)


class PairDiscriminator(nn.Module):
    """``D(a, b) -> logit``: an MLP on the concatenation ``[a, b]`` of rows (n, d_a) and (n, d_b), giving (n,)
    (or of stacked (K, n, d) rows, giving (K, n))."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([a, b], dim=-1)).squeeze(-1)


class BidirectionalModel(nn.Module):
    """Encoder F, decoder G, joint discriminator D, and the optional ALICE-A discriminators and MINE."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, disc: nn.Module, x_dim: int, z_dim: int,
                 disc_x: nn.Module | None = None, disc_z: nn.Module | None = None, mine: MINE | None = None):
        super().__init__()
        self.encoder, self.decoder, self.disc = encoder, decoder, disc
        self.disc_x, self.disc_z, self.mine = disc_x, disc_z, mine
        self.x_dim, self.z_dim = int(x_dim), int(z_dim)

    def discriminators(self) -> list[nn.Module]:
        return [m for m in (self.disc, self.disc_x, self.disc_z) if m is not None]


def _assemble(variant, x_dim, z_dim, enc, dec, disc_fn, seed, mine_kw) -> BidirectionalModel:
    variant = check_choice(variant, "variant", VARIANTS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        disc = disc_fn(x_dim + z_dim)
        dx = disc_fn(2 * x_dim) if variant == "alice_adv" else None
        dz = disc_fn(2 * z_dim) if variant == "alice_adv" else None
        model = BidirectionalModel(enc, dec, disc, x_dim, z_dim, dx, dz)
    if variant == "ali_mine":
        model.mine = MINE(x_dim, z_dim, bound="dv", seed=seed + 7919, **mine_kw)
    return model


def toy_networks(variant: str, x_dim: int = 2, z_dim: int = 2, hidden: Sequence[int] = (256, 256),
                 t_hidden: Sequence[int] = (400, 400, 400), seed: int = 0) -> BidirectionalModel:
    """PAPER_SPEC 6: F, G and every discriminator 2 x 256 ReLU MLPs (linear outputs); T 3 x 400 ELU on [x, z]."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc, dec = mlp(x_dim, hidden, z_dim), mlp(z_dim, hidden, x_dim)
    return _assemble(variant, x_dim, z_dim, enc, dec, lambda d: PairDiscriminator(mlp(d, hidden, 1)), seed + 1,
                     dict(hidden=tuple(t_hidden), activation="elu"))


def mnist_networks(variant: str, z_dim: int = 100, g_hidden: Sequence[int] = (500, 500),
                   f_hidden: Sequence[int] = (1000, 500, 250), d_hidden: Sequence[int] = (1000, 500, 250, 250, 250),
                   t_hidden: Sequence[int] = (512, 512), seed: int = 0) -> BidirectionalModel:
    """PAPER_SPEC 7 [SAL, DEF]: G z -> 500 softplus+BN -> 500 softplus+BN -> 784 tanh; F 784 -> 1000 -> 500 ->
    250 -> z ReLU (linear output); discriminators LeakyReLU(0.2) MLPs with input noise 0.3 and noise 0.5
    after each layer (joint D: x and z joined at the input); T 2 x 512 ELU, noise 0.3 / 0.5 on [x, z]."""
    x_dim = 784
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = mlp(x_dim, f_hidden, z_dim, "relu")
        dec = mlp(z_dim, g_hidden, x_dim, "softplus", batch_norm=True, out_activation="tanh")
    disc_fn = lambda d: PairDiscriminator(mlp(d, d_hidden, 1, "leaky_relu", input_noise=0.3, hidden_noise=0.5))
    return _assemble(variant, x_dim, z_dim, enc, dec, disc_fn, seed + 1,
                     dict(hidden=tuple(t_hidden), activation="elu", input_noise=0.3, hidden_noise=0.5))


def _conv_trunk(in_ch: int, ch: int) -> nn.Sequential:
    """64x64 images -> (8 ch, 4, 4) features: four 4x4 stride-2 convolutions, BatchNorm after the first,
    LeakyReLU(0.2) (DCGAN)."""
    layers, c_in = [], in_ch
    for i, c in enumerate((ch, 2 * ch, 4 * ch, 8 * ch)):
        layers.append(nn.Conv2d(c_in, c, 4, 2, 1, bias=i == 0))
        if i > 0:
            layers.append(nn.BatchNorm2d(c))
        layers.append(nn.LeakyReLU(0.2))
        c_in = c
    return nn.Sequential(nn.Unflatten(1, (in_ch, 64, 64)), *layers, nn.Flatten())


class ConvEncoder(nn.Module):
    """DCGAN-like ``F``: flat 3 x 64 x 64 image in [-1, 1] -> z (linear output)."""

    def __init__(self, z_dim: int, ch: int = 64):
        super().__init__()
        self.net = nn.Sequential(_conv_trunk(3, ch), nn.Linear(8 * ch * 16, z_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class ConvDecoder(nn.Module):
    """DCGAN-like ``G``: z -> (8 ch, 4, 4) -> four 4x4 stride-2 transposed convolutions (BatchNorm, ReLU) -> tanh,
    returned flat (n, 3 * 64 * 64)."""

    def __init__(self, z_dim: int, ch: int = 64):
        super().__init__()
        layers, c_in = [nn.Linear(z_dim, 8 * ch * 16), nn.Unflatten(1, (8 * ch, 4, 4)), nn.BatchNorm2d(8 * ch),
                        nn.ReLU()], 8 * ch
        for c in (4 * ch, 2 * ch, ch):
            layers += [nn.ConvTranspose2d(c_in, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        layers += [nn.ConvTranspose2d(c_in, 3, 4, 2, 1), nn.Tanh(), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ConvJointDiscriminator(nn.Module):
    """``D(x, b)`` for a 64x64 image x and either a vector b (``b_dim``) or a second image (``b_dim=None``, joined
    as extra channels): conv trunk on x (and b), an MLP on b, then a 2-layer LeakyReLU head with dropout 0.2."""

    def __init__(self, b_dim: int | None, ch: int = 64, head: int = 512):
        super().__init__()
        self.image_pair = b_dim is None
        self.trunk = _conv_trunk(6 if self.image_pair else 3, ch)
        feat = 8 * ch * 16
        if not self.image_pair:
            self.b_net = nn.Sequential(nn.Linear(b_dim, head), nn.LeakyReLU(0.2), nn.Linear(head, head), nn.LeakyReLU(0.2))
            feat += head
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(feat, head), nn.LeakyReLU(0.2), nn.Dropout(0.2),
                                  nn.Linear(head, 1))

    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.image_pair:
            h = self.trunk(torch.cat([x.reshape(n, 3, 64, 64), b.reshape(n, 3, 64, 64)], dim=1).flatten(1))
        else:
            h = torch.cat([self.trunk(x.flatten(1)), self.b_net(b)], dim=1)
        return self.head(h).squeeze(-1)


def celeba_networks(variant: str, z_dim: int = 256, ch: int = 64, head: int = 512, seed: int = 0) -> BidirectionalModel:
    """PAPER_SPEC 8 [ICML*, DEF]: DCGAN-like convolutional F, G and joint D on 64x64x3 images in [-1, 1]; ALICE (A)'s
    discriminators on (x, x') (images joined as channels) and on (z, z') (an MLP); T has D's shape on [x, z]."""
    variant = check_choice(variant, "variant", VARIANTS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc, dec = ConvEncoder(z_dim, ch), ConvDecoder(z_dim, ch)
        disc = ConvJointDiscriminator(z_dim, ch, head)
        dx = ConvJointDiscriminator(None, ch, head) if variant == "alice_adv" else None
        dz = PairDiscriminator(mlp(2 * z_dim, (head, head), 1, "leaky_relu")) if variant == "alice_adv" else None
        t_net = ConvJointDiscriminator(z_dim, ch, head) if variant == "ali_mine" else None
    model = BidirectionalModel(enc, dec, disc, 3 * 64 * 64, z_dim, dx, dz)
    if t_net is not None:
        model.mine = MINE(3 * 64 * 64, z_dim, bound="dv", network=t_net)
    return model


@dataclass
class BidirectionalRun:
    """What :func:`train_bidirectional` returns.

    Attributes:
        model: the trained :class:`BidirectionalModel`. variant: which of :data:`VARIANTS`.
        history: one row per iteration: ``step``, ``d_loss`` (sum of the discriminators' cross-entropies),
            ``g_loss`` (the adversarial loss of F and G, ALICE-A's weighted terms included), ``rec_loss``
            (the L2 cycle term for ``alice_l2``, NaN otherwise), ``mi`` (T's minibatch DV bound on
            ``(x, F(x)+eps)``, NaN unless ``ali_mine``), ``norm_u``, ``norm_m``, ``norm_a`` (norms over all
            of F's and G's parameters of the adversarial gradient, of the MI gradient and of the MI
            gradient applied after clipping; 0 for the variants without MINE).
        settings: every setting used. seconds: wall time of training.
    """

    model: BidirectionalModel = field(repr=False)
    variant: str
    history: pd.DataFrame
    settings: dict
    seconds: float

    def __repr__(self) -> str:
        return f"BidirectionalRun({self.variant}, steps={self.settings['steps']}, {self.seconds:.1f} s)"


def _bce(logit: torch.Tensor, real: bool) -> torch.Tensor:
    """Cross-entropy of logits against all-1 (``real``) or all-0 labels: the batch mean (per member when stacked)."""
    return F.softplus(-logit if real else logit).mean(-1)


def train_bidirectional(
    data,
    model: BidirectionalModel | Sequence[BidirectionalModel],
    variant: str,
    steps: int,
    *,
    batch_size: int = 128,
    lr: float = 1e-3,
    adam_betas: tuple[float, float] = (0.5, 0.999),
    enc_noise: float = 1.0,
    lam: float = 1.0,
    adv_weight: float = 0.1,
    beta: float = 1.0,
    clip: bool = True,
    t_lr: float | None = None,
    device: str = "auto",
    seed: int | Sequence[int] = 0,
    progress: bool = True,
    chunk: int = 50,
) -> BidirectionalRun | list[BidirectionalRun]:
    """Train one bidirectional model (ALI, ALICE-L2, ALICE-A or ALI+MINE) on rows of ``data``, or K at once.

    Args:
        data: array (n, x_dim) of training points (minibatches are drawn with replacement); a uint8 array is
            read as pixels 0..255 and mapped to [-1, 1] per minibatch. With a list of models, also a list of
            K arrays, one per model.
        model: from :func:`toy_networks` or :func:`mnist_networks` built for the same ``variant``
            (ALICE-A needs its two extra discriminators, ALI+MINE its MINE); trained in place. A list of K
            such models (MLPs of one architecture) trains as one stacked model (:mod:`minelib.ensemble`):
            each gets the minibatches, noise and shuffles it gets alone, so the same results up to float
            rounding, which adversarial training amplifies over many iterations.
        variant: one of :data:`VARIANTS`. steps: iterations.
        batch_size, lr, adam_betas: minibatch and Adam settings of every network (T uses ``t_lr``, default lr).
        enc_noise: std of the encoder's additive noise ``eps`` (eq. 23: 1).
        lam: weight of ALICE-L2's cycle term. adv_weight: weight of ALICE-A's reconstruction discriminators.
        beta: weight of ``I(X; Z_enc)`` for ALI+MINE. clip: adaptive clipping of its gradient (eq. 36).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``. seed: seeds minibatches, noise and shuffles (one seed per
            model for a list); on the CPU the same seed gives the same run, and torch's global generator is
            left as it was.
        progress: a progress bar. chunk: iterations between finiteness checks.

    Returns:
        :class:`BidirectionalRun`, or one per model for a list.

    Raises:
        ValueError / TypeError: bad arguments, named.
        TrainingDivergedError: a loss or gradient norm became non-finite (the iteration and seed are named).
    """
    variant = check_choice(variant, "variant", VARIANTS)
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size", minimum=2)
    lr = check_fraction(lr, "lr", high=float("inf"))
    t_lr = lr if t_lr is None else check_fraction(t_lr, "t_lr", high=float("inf"))
    enc_noise = check_fraction(enc_noise, "enc_noise", high=float("inf"), closed_low=True)
    lam = check_fraction(lam, "lam", high=float("inf"), closed_low=True)
    adv_weight = check_fraction(adv_weight, "adv_weight", high=float("inf"), closed_low=True)
    beta = check_fraction(beta, "beta", high=float("inf"), closed_low=True)
    chunk = check_positive_int(chunk, "chunk")
    many = isinstance(model, (list, tuple))
    models = list(model) if many else [model]
    seeds = check_seeds(seed, len(models), many)
    for m in models:
        if variant == "alice_adv" and (m.disc_x is None or m.disc_z is None):
            raise ValueError("variant 'alice_adv' needs a model with disc_x and disc_z; build it with variant='alice_adv'")
        if variant == "ali_mine" and m.mine is None:
            raise ValueError("variant 'ali_mine' needs a model with a MINE; build it with variant='ali_mine'")
    dev = resolve_device(device)
    datasets = _per_member_data(data, len(models))
    tables, uint8 = _tables(datasets, models[0].x_dim, dev)
    stacked = many and len(models) > 1
    net = _stacked_model(models).to(dev) if stacked else models[0].to(dev)
    enc, dec = net.encoder, net.decoder
    adam = dict(betas=tuple(adam_betas))
    fg_params = list(enc.parameters()) + list(dec.parameters())
    n_enc = len(list(enc.parameters()))
    opt_fg = torch.optim.Adam(fg_params, lr=lr, **adam)
    opt_d = torch.optim.Adam([p for d in net.discriminators() for p in d.parameters()], lr=lr, **adam)
    use_mi = variant == "ali_mine"
    opt_t = torch.optim.Adam(net.mine.parameters(), lr=t_lr, **adam) if use_mi else None

    # Every random draw of member k comes from its own generator, in the order a single run makes them.
    gens = [torch.Generator(device=dev).manual_seed(s) for s in seeds]
    dtype = torch.get_default_dtype()
    per_member = lambda draw: ensemble.per_member(gens, draw, stacked)
    shuffled = lambda z: ensemble.shuffle_rows(z, gens, stacked)

    shape = (len(models),) if stacked else ()
    nan, zero = torch.full(shape, float("nan"), device=dev), torch.zeros(shape, device=dev)
    rows = []
    net.train()
    bar = tqdm(total=steps, disable=not progress, desc=VARIANT_NAMES[variant] + (f" ({len(models)} seeds)" if stacked
               else ""), unit="it", leave=False)
    start = time.perf_counter()
    # Layers that draw from torch's global generator (CelebA's dropout) get a private, seeded copy of it.
    with torch.random.fork_rng(devices=[]), seeded_noise(net, gens):
        torch.manual_seed(seeds[0] + 0x5EED)
        for first in range(0, steps, chunk):
            c = min(chunk, steps - first)
            chunk_rows = []
            for s in range(c):
                x = per_member(lambda k, g: tables[k][torch.randint(len(tables[k]), (batch_size,), generator=g,
                                                                     device=dev)])
                if uint8:
                    x = x.to(dtype) / 127.5 - 1.0
                z = per_member(lambda k, g: torch.randn(batch_size, net.z_dim, generator=g, device=dev, dtype=dtype))
                eps = enc_noise * per_member(lambda k, g: torch.randn(batch_size, net.z_dim, generator=g, device=dev,
                                                                      dtype=dtype))
                z_enc = enc(x) + eps
                x_gen = dec(z)
                # 1. discriminator(s)
                with torch.no_grad():
                    ze, xg = z_enc.detach(), x_gen.detach()
                    if variant == "alice_adv":
                        x_rec_d, z_rec_d = dec(ze), enc(xg)
                d_loss = _bce(net.disc(x, ze), True) + _bce(net.disc(xg, z), False)
                if variant == "alice_adv":
                    d_loss = (d_loss + _bce(net.disc_x(x, x), True) + _bce(net.disc_x(x, x_rec_d), False)
                              + _bce(net.disc_z(z, z), True) + _bce(net.disc_z(z, z_rec_d), False))
                opt_d.zero_grad(set_to_none=True)
                d_loss.sum().backward()
                opt_d.step()
                # 2. statistics network on (x, F(x)+eps), z shuffled for the marginal pairs
                if use_mi:
                    t_loss, mi = net.mine.loss(x, ze, shuffled(ze))
                    opt_t.zero_grad(set_to_none=True)
                    t_loss.backward()
                    opt_t.step()
                else:
                    mi = nan
                # 3. encoder and decoder: swapped labels (non-saturating), plus the variant's term
                g_loss = _bce(net.disc(x, z_enc), False) + _bce(net.disc(x_gen, z), True)
                rec = nan
                if variant == "alice_l2":
                    rec = ((x - dec(z_enc)) ** 2).sum(-1).mean(-1) + ((z - enc(x_gen)) ** 2).sum(-1).mean(-1)
                    g_loss = g_loss + lam * rec
                    rec = rec.detach()
                elif variant == "alice_adv":
                    g_loss = g_loss + adv_weight * (_bce(net.disc_x(x, dec(z_enc)), True)
                                                    + _bce(net.disc_z(z, enc(x_gen)), True))
                if use_mi:
                    g_u = torch.autograd.grad(g_loss.sum(), fg_params, retain_graph=True)
                    mi_term = -beta * net.mine.lower_bound(x, z_enc, shuffled(z_enc)).sum()
                    g_m = list(torch.autograd.grad(mi_term, fg_params[:n_enc])) + [None] * (len(fg_params) - n_enc)
                    if clip:
                        g_a, norm_u, norm_m = adaptive_clip(g_u, g_m, stacked=stacked)
                        norm_a = global_norm(g_a, stacked=stacked)
                    else:
                        g_a = [torch.zeros_like(p) if g is None else g for p, g in zip(fg_params, g_m)]
                        norm_u, norm_m = global_norm(g_u, stacked=stacked), global_norm(g_a, stacked=stacked)
                        norm_a = norm_m
                    for p, a, b in zip(fg_params, g_u, g_a):
                        p.grad = a + b
                else:
                    opt_fg.zero_grad(set_to_none=True)
                    g_loss.sum().backward()
                    norm_u, norm_m, norm_a = zero, zero, zero
                opt_fg.step()
                chunk_rows.append(torch.stack([d_loss.detach(), g_loss.detach(), rec, mi, norm_u, norm_m, norm_a]))
            block = torch.stack(chunk_rows).double().cpu().numpy().reshape(c, len(HISTORY_COLUMNS) - 1, -1)
            _check_finite(block, first, variant, seeds)
            rows.append(block)
            bar.update(c)
            last = block[-1].mean(-1)
            bar.set_postfix(d=f"{last[0]:.3f}", g=f"{last[1]:.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    values = np.concatenate(rows)
    net.eval()
    runs = []
    for k, (m, s) in enumerate(zip(models, seeds)):
        if stacked:
            ensemble.copy_member(net, m.to(dev), k)
            m.eval()
        history = pd.DataFrame(values[:, :, k], columns=HISTORY_COLUMNS[1:])
        history.insert(0, "step", np.arange(1, steps + 1))
        settings = dict(variant=variant, steps=steps, batch_size=batch_size, lr=lr, t_lr=t_lr if use_mi else None,
                        adam_betas=list(adam_betas), enc_noise=enc_noise, lam=lam if variant == "alice_l2" else None,
                        adv_weight=adv_weight if variant == "alice_adv" else None, beta=beta if use_mi else None,
                        clip=bool(clip) if use_mi else None, x_dim=m.x_dim, z_dim=m.z_dim, n_data=len(tables[k]),
                        device=str(dev), seed=s, stacked_with=len(models))
        runs.append(BidirectionalRun(model=m, variant=variant, history=history, settings=settings, seconds=seconds))
    return runs if many else runs[0]


def _per_member_data(data, k: int) -> list:
    """``data`` as one data set per model: a list of ``k`` arrays, or the same array ``k`` times."""
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, (np.ndarray, torch.Tensor)) for d in data):
        if len(data) != k:
            raise ValueError(f"data lists {len(data)} data sets for {k} models; give one per model or a single one")
        return list(data)
    return [data] * k


def _tables(datasets: list, x_dim: int, dev: torch.device) -> tuple[list[torch.Tensor], bool]:
    """Each member's data as a tensor on the device (one tensor for members sharing an array), and
    whether they are uint8 pixels (kept as uint8, mapped to [-1, 1] per minibatch)."""
    uint8 = [isinstance(d, np.ndarray) and d.dtype == np.uint8 for d in datasets]
    if len(set(uint8)) > 1:
        raise ValueError("data sets must all be uint8 pixels or all be floats")
    made: dict[int, torch.Tensor] = {}
    for d in datasets:
        if id(d) in made:
            continue
        rows = d.reshape(len(d), -1) if uint8[0] else as_float_array(d, "data").reshape(len(d), -1)
        if rows.shape[1] != x_dim:
            raise ValueError(f"data rows have {rows.shape[1]} features but the model expects x_dim={x_dim}")
        made[id(d)] = (torch.as_tensor(rows, device=dev) if uint8[0]
                       else torch.as_tensor(rows, dtype=torch.get_default_dtype(), device=dev))
    return [made[id(d)] for d in datasets], uint8[0]


def _stacked_model(models: list[BidirectionalModel]) -> BidirectionalModel:
    """The K models as one, their layers stacked; a clear error for networks that cannot be."""
    try:
        return ensemble.stack(models)
    except TypeError as e:
        raise TypeError(f"these models cannot be trained stacked ({e}); train them one at a time") from e


def _check_finite(block: np.ndarray, first_step: int, variant: str, seeds: list[int]) -> None:
    cols = [0, 1, 4, 5, 6] + ([2] if variant == "alice_l2" else []) + ([3] if variant == "ali_mine" else [])
    bad = ~np.isfinite(block[:, cols])
    if bad.any():
        row, col, k = np.argwhere(bad)[0]
        name = HISTORY_COLUMNS[1:][cols[col]]
        raise TrainingDivergedError(f"{VARIANT_NAMES[variant]} training diverged: {name} became non-finite at "
                                    f"iteration {first_step + row + 1} (seed {seeds[k]}); lower lr (or beta)")


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


@torch.no_grad()
def encode(model: BidirectionalModel, x, noise: float = 1.0, seed: int = 0, rows: int = 4096) -> np.ndarray:
    """``F(x) + noise * eps`` in eval mode, eps seeded: (n, z_dim) float32. ``noise=0`` gives ``F(x)``."""
    dev, dtype = _device(model), _dtype(model)
    x = torch.as_tensor(as_float_array(x, "x").reshape(len(x), -1), dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    out = []
    for i in range(0, len(x), rows):
        xb = x[i:i + rows].to(dev)
        e = torch.randn(len(xb), model.z_dim, generator=gen, dtype=dtype).to(dev)
        out.append(model.encoder(xb) + noise * e)
    return torch.cat(out).float().cpu().numpy()


@torch.no_grad()
def decode(model: BidirectionalModel, z, rows: int = 4096) -> np.ndarray:
    """``G(z)`` in eval mode: (n, x_dim) float32."""
    dev = _device(model)
    z = torch.as_tensor(np.asarray(z), dtype=_dtype(model))
    model.eval()
    return torch.cat([model.decoder(z[i:i + rows].to(dev)) for i in range(0, len(z), rows)]).float().cpu().numpy()


def reconstruct(model: BidirectionalModel, x, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """``G(F(x) + noise * eps)``: the model's (stochastic) reconstruction of each row of x."""
    return decode(model, encode(model, x, noise, seed))


def sample(model: BidirectionalModel, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples ``G(z)``, ``z ~ N(0, I)`` seeded."""
    n = check_positive_int(n, "n")
    return decode(model, torch.randn(n, model.z_dim, generator=torch.Generator().manual_seed(seed)).numpy())
