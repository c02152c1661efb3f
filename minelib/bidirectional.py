"""Bidirectional adversarial models: ALI, ALICE (L2 and adversarial) and ALI+MINE (paper section 4.3).

One training loop, :func:`train_bidirectional`, serves the four variants (eq. 23; the settings of Fig 5 and
Tables 1-2, with their sources, are in docs/settings.md):

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
member drawing its minibatches, noise and shuffles from its own seed. Every random stream (initialisation of
F and G, of the discriminators and of T, minibatches, noise, shuffles, noise layers, dropout, the noise of
``encode`` and ``sample``) comes from :mod:`minelib.seeding`. The network builders take a ``seed`` (any int >= 0;
None: torch's global generator): F and G come from its ``init`` stream, the discriminators from
``discriminator`` and T from its ``critic`` seed, so that the four variants built from one seed share F and G.
Networks: :func:`toy_networks` (MLPs, 2-D 25 Gaussians, Fig 5), :func:`mnist_networks` (Table 1) and
:func:`celeba_networks` (DCGAN-like convolutions on 64x64x3, Table 2).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from .clipping import mi_regularised_grads
from .estimator import MINE
from .networks import gaussian_like
from .runtime import resolve_device
from . import seeding
from .training import (LOSS_BOUND, LR_SCHEDULES, NORM_BOUND, Members, Recorder, configure, descend, lr_schedules,
                       per_member_data, set_checked, settings_of, statistics_step)
from .validation import as_float_array, check_adam_betas, check_bool, check_choice, check_fraction, check_positive_int

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
    """The model of ``variant`` around ``enc`` and ``dec``: discriminators from ``seed``'s ``discriminator`` stream,
    T (ALI+MINE) from its ``critic`` seed, so that F and G do not depend on the variant."""
    variant = check_choice(variant, "variant", VARIANTS)
    with seeding.fork_global(seed, "discriminator"):
        disc = disc_fn(x_dim + z_dim)
        dx = disc_fn(2 * x_dim) if variant == "alice_adv" else None
        dz = disc_fn(2 * z_dim) if variant == "alice_adv" else None
        model = BidirectionalModel(enc, dec, disc, x_dim, z_dim, dx, dz)
    if variant == "ali_mine":
        model.mine = MINE(x_dim, z_dim, bound="dv", seed=seeding.child_seed(seed, "critic"), **mine_kw)
    return model


def toy_networks(variant: str, x_dim: int = 2, z_dim: int = 2, hidden: Sequence[int] = (256, 256),
                 t_hidden: Sequence[int] = (400, 400, 400), seed: int = 0) -> BidirectionalModel:
    """Fig 5's networks (after ALICE's code): F, G and every discriminator 2 x 256 ReLU MLPs (linear outputs);
    T 3 x 400 ELU on [x, z]. ``seed``: see the module docstring."""
    with seeding.fork_global(seed, "init"):
        enc, dec = mlp(x_dim, hidden, z_dim), mlp(z_dim, hidden, x_dim)
    return _assemble(variant, x_dim, z_dim, enc, dec, lambda d: PairDiscriminator(mlp(d, hidden, 1)), seed,
                     dict(hidden=tuple(t_hidden), activation="elu"))


def mnist_networks(variant: str, z_dim: int = 100, g_hidden: Sequence[int] = (500, 500),
                   f_hidden: Sequence[int] = (1000, 500, 250), d_hidden: Sequence[int] = (1000, 500, 250, 250, 250),
                   t_hidden: Sequence[int] = (512, 512), seed: int = 0) -> BidirectionalModel:
    """Table 1's networks (after Salimans et al. 2016's MNIST MLPs; the rest our choice, docs/settings.md):
    G z -> 500 softplus+BN -> 500 softplus+BN -> 784 tanh; F 784 -> 1000 -> 500 ->
    250 -> z ReLU (linear output); discriminators LeakyReLU(0.2) MLPs with input noise 0.3 and noise 0.5
    after each layer (joint D: x and z joined at the input); T 2 x 512 ELU, noise 0.3 / 0.5 on [x, z].
    ``seed``: see the module docstring."""
    x_dim = 784
    with seeding.fork_global(seed, "init"):
        enc = mlp(x_dim, f_hidden, z_dim, "relu")
        dec = mlp(z_dim, g_hidden, x_dim, "softplus", batch_norm=True, out_activation="tanh")
    disc_fn = lambda d: PairDiscriminator(mlp(d, d_hidden, 1, "leaky_relu", input_noise=0.3, hidden_noise=0.5))
    return _assemble(variant, x_dim, z_dim, enc, dec, disc_fn, seed,
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
    """Table 2's networks (the ICML version's DCGAN-like nets, as docs/settings.md says): convolutional F, G and
    joint D on 64x64x3 images in [-1, 1]; ALICE (A)'s discriminators on (x, x') (images joined as channels) and on
    (z, z') (an MLP); T has D's shape on [x, z]. ``seed``: see the module docstring."""
    variant = check_choice(variant, "variant", VARIANTS)
    with seeding.fork_global(seed, "init"):
        enc, dec = ConvEncoder(z_dim, ch), ConvDecoder(z_dim, ch)
    with seeding.fork_global(seed, "discriminator"):
        disc = ConvJointDiscriminator(z_dim, ch, head)
        dx = ConvJointDiscriminator(None, ch, head) if variant == "alice_adv" else None
        dz = PairDiscriminator(mlp(2 * z_dim, (head, head), 1, "leaky_relu")) if variant == "alice_adv" else None
    with seeding.fork_global(seeding.child_seed(seed, "critic"), "init"):
        t_net = ConvJointDiscriminator(z_dim, ch, head) if variant == "ali_mine" else None
    model = BidirectionalModel(enc, dec, disc, 3 * 64 * 64, z_dim, dx, dz)
    if t_net is not None:
        model.mine = MINE(3 * 64 * 64, z_dim, bound="dv", network=t_net)
    return model


@dataclass(frozen=True)
class BidirectionalConfig:
    """Settings of :func:`train_bidirectional` (eq. 23); every value is checked when made (or replaced).

    Attributes:
        variant: one of :data:`VARIANTS`. steps: iterations.
        batch_size, lr, adam_betas: minibatch and Adam settings of every network (T uses ``t_lr``; None: lr).
        enc_noise: std of the encoder's additive noise ``eps`` (eq. 23: 1).
        lam: weight of ALICE-L2's cycle term. adv_weight: weight of ALICE-A's reconstruction discriminators.
        beta: weight of ``I(X; Z_enc)`` for ALI+MINE. clip: adaptive clipping of its gradient (eq. 36).
        lr_schedule: ``"constant"``, or ``"cosine"``: every step size (T's too) decays to 0 over ``steps``, so that
            the last iterate settles (:data:`minelib.training.LR_SCHEDULES`).
        fg_steps: steps of F and G per iteration (per step of the discriminators), each on the iteration's
            minibatch and prior noise with fresh encoder noise (ALICE's toy code takes 5).
        chunk: iterations between host synchronisations (finiteness checks).
    """

    variant: str
    steps: int
    batch_size: int = 128
    lr: float = 1e-3
    adam_betas: tuple[float, float] = (0.5, 0.999)
    enc_noise: float = 1.0
    lam: float = 1.0
    adv_weight: float = 0.1
    beta: float = 1.0
    clip: bool = True
    t_lr: float | None = None
    lr_schedule: str = "constant"
    fg_steps: int = 1
    chunk: int = 50

    def __post_init__(self):
        weight = lambda name: check_fraction(getattr(self, name), name, high=math.inf, closed_low=True)
        set_checked(self, variant=check_choice(self.variant, "variant", VARIANTS),
                    steps=check_positive_int(self.steps, "steps"),
                    batch_size=check_positive_int(self.batch_size, "batch_size", minimum=2),
                    lr=check_fraction(self.lr, "lr", high=math.inf), adam_betas=check_adam_betas(self.adam_betas),
                    enc_noise=weight("enc_noise"), lam=weight("lam"), adv_weight=weight("adv_weight"),
                    beta=weight("beta"), clip=check_bool(self.clip, "clip"),
                    t_lr=None if self.t_lr is None else check_fraction(self.t_lr, "t_lr", high=math.inf),
                    lr_schedule=check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES),
                    fg_steps=check_positive_int(self.fg_steps, "fg_steps"),
                    chunk=check_positive_int(self.chunk, "chunk"))


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


def train_bidirectional(data, model: BidirectionalModel | Sequence[BidirectionalModel], variant: str | None = None,
                        steps: int | None = None, config: BidirectionalConfig | None = None, *,
                        seed: int | Sequence[int] = 0, device: str = "auto", progress: bool = True,
                        **overrides) -> BidirectionalRun | list[BidirectionalRun]:
    """Train one bidirectional model (ALI, ALICE-L2, ALICE-A or ALI+MINE, eq. 23) on rows of ``data``, or K at once.

    Per iteration: a step of the discriminator(s) on ``(x, F(x)+eps)`` vs ``(G(z), z)``, one of T on
    ``(x, F(x)+eps)`` against shuffled pairs (ALI+MINE), and one of F and G together on the swapped-label loss
    plus the variant's term; ALI+MINE's MI gradient into F is adaptively clipped (eq. 36).

    Args:
        data: array (n, x_dim) of training points (minibatches are drawn with replacement); a uint8 array is
            read as pixels 0..255 and mapped to [-1, 1] per minibatch. With a list of models, also a list of
            K arrays, one per model.
        model: from :func:`toy_networks` or :func:`mnist_networks` built for the same ``variant``
            (ALICE-A needs its two extra discriminators, ALI+MINE its MINE); trained in place. A list of K
            such models (MLPs of one architecture) trains as one stacked model (:mod:`minelib.ensemble`):
            each gets the minibatches, noise and shuffles it gets alone, so the same results up to float
            rounding, which adversarial training amplifies over many iterations.
        variant, steps: shortcuts for those two settings of the config.
        config: the settings (:class:`BidirectionalConfig`); None: its defaults with ``variant`` and ``steps``.
        seed: any int >= 0; it seeds minibatches, noise, shuffles, noise layers and dropout (streams ``data``,
            ``noise``, ``shuffle``, ``noise_layers``, ``global`` of :mod:`minelib.seeding`; the initial weights
            come from the model's builder). For a list of K models, a list of K seeds, one per model, or an int,
            which then means ``minelib.seeding.replicate_seeds(seed, K)``. On the CPU the same seed gives the
            same run, and torch's global generator is left as it was.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``. progress: a progress bar.
        **overrides: settings of :class:`BidirectionalConfig` by name (``lr=1e-4, beta=1.0``).

    Returns:
        :class:`BidirectionalRun`, or one per model for a list.

    Raises:
        ValueError / TypeError: bad arguments, named.
        TrainingDivergedError: a loss or gradient norm became non-finite or implausibly large (the
            iteration and seed are named).
    """
    shortcuts = {k: v for k, v in (("variant", variant), ("steps", steps)) if v is not None}
    cfg = configure(BidirectionalConfig, config, {**shortcuts, **overrides})
    many = isinstance(model, (list, tuple))
    models = list(model) if many else [model]
    members = Members(seeding.member_seeds(seed, len(models), noun="model"), resolve_device(device),
                      stacked=many and len(models) > 1)
    _check_models(models, cfg.variant)
    tables, uint8 = _tables(per_member_data(data, len(models), "models"), models[0].x_dim, members.device)
    net = members.stack(models)
    enc_params, use_mi = list(net.encoder.parameters()), cfg.variant == "ali_mine"
    adam = dict(lr=cfg.lr, betas=cfg.adam_betas)
    opt_fg = torch.optim.Adam(enc_params + list(net.decoder.parameters()), **adam)
    opt_d = torch.optim.Adam([p for d in net.discriminators() for p in d.parameters()], **adam)
    opt_t = torch.optim.Adam(net.mine.parameters(), **{**adam, "lr": _t_lr(cfg)}) if use_mi else None
    schedules = lr_schedules((opt_fg, opt_d, opt_t), cfg.lr_schedule, cfg.steps)
    nan = members.full(math.nan)
    net.train()
    start = time.perf_counter()
    # Layers that draw from torch's global generator (CelebA's dropout) get a private, seeded copy of it (only
    # member 0's: layers that need it cannot be stacked).
    with seeding.fork_global(members.seeds[0], "global", device=members.device), members.noise(net), \
            _recorder(members, cfg, progress) as rec:
        for step in range(1, cfg.steps + 1):
            x, z, eps = _draw_batch(members, tables, uint8, net.z_dim, cfg)
            z_enc, x_gen = net.encoder(x) + eps, net.decoder(z)
            ze, xg = z_enc.detach(), x_gen.detach()
            d_loss = _discriminator_loss(net, x, z, ze, xg, cfg.variant)
            descend(opt_d, d_loss)
            # the statistics network on (x, F(x)+eps), z shuffled for the marginal pairs
            mi = statistics_step(net.mine, opt_t, x, ze, members.shuffle(ze)) if use_mi else nan
            for k in range(cfg.fg_steps):
                if k > 0:  # the nets moved: a fresh forward pass, with fresh encoder noise
                    eps = _gaussian(members, cfg.batch_size, net.z_dim, cfg.enc_noise)
                    z_enc, x_gen = net.encoder(x) + eps, net.decoder(z)
                g_loss, rec_loss, norms = _encoder_decoder_step(net, opt_fg, (x, z, z_enc, x_gen), members, cfg)
            rec.add(step, d_loss=d_loss, g_loss=g_loss, rec_loss=nan if rec_loss is None else rec_loss, mi=mi, **norms)
            for schedule in schedules:
                schedule.step()
    seconds = time.perf_counter() - start
    net.eval()
    members.copy_back(net, models)
    return _runs(models, members, cfg, rec.histories(), [len(t) for t in tables], seconds, many)


def _check_models(models: list[BidirectionalModel], variant: str) -> None:
    """Each model has the pieces ``variant`` trains."""
    for m in models:
        if variant == "alice_adv" and (m.disc_x is None or m.disc_z is None):
            raise ValueError("variant 'alice_adv' needs a model with disc_x and disc_z; build it with variant='alice_adv'")
        if variant == "ali_mine" and m.mine is None:
            raise ValueError("variant 'ali_mine' needs a model with a MINE; build it with variant='ali_mine'")


def _t_lr(cfg: BidirectionalConfig) -> float:
    return cfg.lr if cfg.t_lr is None else cfg.t_lr


def _recorder(members: Members, cfg: BidirectionalConfig, progress: bool) -> Recorder:
    """The history's recorder: every value must stay finite and plausible, except those NaN by design."""
    mi_norm = NORM_BOUND * max(1.0, cfg.beta)    # the MI gradient scales with beta
    limits = dict(d_loss=LOSS_BOUND, g_loss=LOSS_BOUND * max(1.0, cfg.lam), norm_u=NORM_BOUND, norm_m=mi_norm,
                  norm_a=mi_norm, **({"rec_loss": LOSS_BOUND} if cfg.variant == "alice_l2" else {}),
                  **({"mi": LOSS_BOUND} if cfg.variant == "ali_mine" else {}))
    return Recorder(HISTORY_COLUMNS[1:], members, cfg.steps, cfg.chunk, limits, label=VARIANT_NAMES[cfg.variant],
                    hint="lower lr (or beta)", show={"d": "d_loss", "g": "g_loss"}, progress=progress)


def _draw_batch(members: Members, tables: list[torch.Tensor], uint8: bool, z_dim: int,
                cfg: BidirectionalConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A minibatch ``x``, prior noise ``z`` and encoder noise ``eps``, per member from its own generator."""
    dev, dtype, n = members.device, torch.get_default_dtype(), cfg.batch_size
    x = members.draw("data", lambda k, g: tables[k][torch.randint(len(tables[k]), (n,), generator=g, device=dev)])
    if uint8:
        x = x.to(dtype) / 127.5 - 1.0
    z = _gaussian(members, n, z_dim, 1.0)
    return x, z, _gaussian(members, n, z_dim, cfg.enc_noise)


def _gaussian(members: Members, n: int, z_dim: int, std: float) -> torch.Tensor:
    """``std * N(0, I)`` rows (n, z_dim) per member from its stream ``noise``: the prior's z and the encoder noise."""
    dev, dtype = members.device, torch.get_default_dtype()
    return std * members.draw("noise", lambda k, g: torch.randn(n, z_dim, generator=g, device=dev, dtype=dtype))


def _discriminator_loss(net: BidirectionalModel, x: torch.Tensor, z: torch.Tensor, ze: torch.Tensor,
                        xg: torch.Tensor, variant: str) -> torch.Tensor:
    """The discriminators' cross-entropy: ``(x, F(x)+eps)`` real, ``(G(z), z)`` fake; for ALICE-A also
    ``(x, x)`` vs ``(x, G(F(x)+eps))`` and ``(z, z)`` vs ``(z, F(G(z)))``. ``ze``, ``xg`` are detached."""
    if variant == "alice_adv":
        with torch.no_grad():
            x_rec, z_rec = net.decoder(ze), net.encoder(xg)
    d_loss = _bce(net.disc(x, ze), True) + _bce(net.disc(xg, z), False)
    if variant == "alice_adv":
        d_loss = (d_loss + _bce(net.disc_x(x, x), True) + _bce(net.disc_x(x, x_rec), False)
                  + _bce(net.disc_z(z, z), True) + _bce(net.disc_z(z, z_rec), False))
    return d_loss


def _encoder_decoder_step(net: BidirectionalModel, opt: torch.optim.Optimizer, batch: tuple, members: Members,
                          cfg: BidirectionalConfig) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """One step of F and G: swapped labels (non-saturating), plus the variant's term; ALI+MINE's
    ``-beta * I(X; F(X)+eps)`` reaches F only, its gradient adaptively clipped (eq. 36).

    ``batch`` is ``(x, z, F(x)+eps, G(z))``. Returns the loss, the L2 cycle term (ALICE-L2; else None) and
    the three gradient norms (zero without a MINE term).
    """
    x, z, z_enc, x_gen = batch
    g_loss, rec = _bce(net.disc(x, z_enc), False) + _bce(net.disc(x_gen, z), True), None
    if cfg.variant == "alice_l2":
        rec = ((x - net.decoder(z_enc)) ** 2).sum(-1).mean(-1) + ((z - net.encoder(x_gen)) ** 2).sum(-1).mean(-1)
        g_loss = g_loss + cfg.lam * rec
    elif cfg.variant == "alice_adv":
        g_loss = g_loss + cfg.adv_weight * (_bce(net.disc_x(x, net.decoder(z_enc)), True)
                                            + _bce(net.disc_z(z, net.encoder(x_gen)), True))
    if cfg.variant != "ali_mine":
        descend(opt, g_loss)
        zero = members.full(0.0)
        return g_loss, rec, dict(norm_u=zero, norm_m=zero, norm_a=zero)
    mi_term = -cfg.beta * net.mine.lower_bound(x, z_enc, members.shuffle(z_enc)).sum()
    enc_params = list(net.encoder.parameters())
    params = enc_params + list(net.decoder.parameters())
    out = mi_regularised_grads(g_loss.sum(), mi_term, params, enc_params, clip=cfg.clip, stacked=members.stacked)
    for p, g in zip(params, out.grads):
        p.grad = g
    opt.step()
    return g_loss, rec, dict(norm_u=out.norm_u, norm_m=out.norm_m, norm_a=out.norm_a)


def _runs(models: list[BidirectionalModel], members: Members, cfg: BidirectionalConfig, histories: list,
          n_data: list[int], seconds: float, many: bool) -> BidirectionalRun | list[BidirectionalRun]:
    """The per-model records; settings a variant does not use are None."""
    v = cfg.variant
    settings = {**settings_of(cfg), "t_lr": _t_lr(cfg) if v == "ali_mine" else None,
                "lam": cfg.lam if v == "alice_l2" else None, "adv_weight": cfg.adv_weight if v == "alice_adv" else None,
                "beta": cfg.beta if v == "ali_mine" else None, "clip": cfg.clip if v == "ali_mine" else None,
                "device": str(members.device), "stacked_with": len(models)}
    runs = []
    for m, s, history, n in zip(models, members.seeds, histories, n_data):
        m.eval()
        runs.append(BidirectionalRun(model=m, variant=v, history=history, seconds=seconds,
                                     settings={**settings, "x_dim": m.x_dim, "z_dim": m.z_dim, "n_data": n, "seed": s}))
    return runs if many else runs[0]


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


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


@torch.no_grad()
def _codes(model: BidirectionalModel, x, noise: float, seed: int, rows: int) -> torch.Tensor:
    """``F(x) + noise * eps`` in eval mode, eps from stream ``eval`` of ``seed``, in the model's dtype on its device."""
    dev, dtype = _device(model), _dtype(model)
    x = torch.as_tensor(as_float_array(x, "x").reshape(len(x), -1), dtype=dtype)
    gen = seeding.generator(seed, "eval")
    model.eval()
    out = []
    for i in range(0, len(x), rows):
        xb = x[i:i + rows].to(dev)
        e = torch.randn(len(xb), model.z_dim, generator=gen, dtype=dtype).to(dev)
        out.append(model.encoder(xb) + noise * e)
    return torch.cat(out)


@torch.no_grad()
def _decoded(model: BidirectionalModel, z: torch.Tensor, rows: int) -> torch.Tensor:
    """``G(z)`` in eval mode, ``z`` a tensor (any dtype and device), computed in the model's dtype."""
    z = z.to(_dtype(model))
    model.eval()
    return torch.cat([model.decoder(z[i:i + rows].to(_device(model))) for i in range(0, len(z), rows)])


def encode(model: BidirectionalModel, x, noise: float = 1.0, seed: int = 0, rows: int = 4096) -> np.ndarray:
    """``F(x) + noise * eps`` in eval mode, eps from stream ``eval`` of ``seed`` (any int >= 0; :mod:`minelib.seeding`):
    (n, z_dim) float32. ``noise=0`` gives ``F(x)``."""
    return _codes(model, x, noise, seed, rows).float().cpu().numpy()


def decode(model: BidirectionalModel, z, rows: int = 4096) -> np.ndarray:
    """``G(z)`` in eval mode: (n, x_dim) float32."""
    return _decoded(model, torch.as_tensor(np.asarray(z)), rows).float().cpu().numpy()


def reconstruct(model: BidirectionalModel, x, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """``G(F(x) + noise * eps)``: the model's (stochastic) reconstruction of each row of x, (n, x_dim) float32; eps as
    :func:`encode` draws it.

    The code goes from encoder to decoder in the model's dtype: only the output is rounded to float32.
    """
    return _decoded(model, _codes(model, x, noise, seed, 4096), 4096).float().cpu().numpy()


def sample(model: BidirectionalModel, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples ``G(z)``, ``z ~ N(0, I)`` from stream ``sample`` of ``seed`` (any int >= 0;
    :mod:`minelib.seeding`)."""
    n = check_positive_int(n, "n")
    return decode(model, torch.randn(n, model.z_dim, generator=seeding.generator(seed, "sample")).numpy())
