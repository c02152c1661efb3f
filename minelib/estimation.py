"""``estimate_mi``: train a statistics network (or K stacked) and read I(X; Z) off held-out rows.

What makes the number trustworthy beside Algorithm 1's loop: a held-out split for the reported value, inputs
mapped to Gaussian ranks (:mod:`minelib.transforms`, which keep the MI), the bias-corrected DV gradient, an
interval and warnings (:mod:`minelib.diagnostics`), and an error that names the step when training diverges.
Its random streams (critic initialisation, split, minibatches, bootstrap) come from :mod:`minelib.seeding`.
Every setting is checked once, naming the argument.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import diagnostics, seeding
from .bounds import BOUNDS, Bound, get_bound
from .critic_step import make_step
from .spike_guard import estimator_step
from .estimator import MINE, TrainingDivergedError, all_pairs, check_hidden
from .networks import ACTIVATIONS
from .transforms import DEFAULT_TRANSFORM, apply_transform, resolve_transform
from .validation import check_bool, check_choice, check_device, check_fraction, check_pair, check_positive_int


LR_SCHEDULES = ("constant", "cosine")


@dataclass
class MIEstimate:
    """What :func:`estimate_mi` returns.

    Attributes:
        mi: the estimate in nats on the held-out split (a float; an array of K for stacked input). With a
            list of S seeds for one data set, the mean of the S members' estimates (each in ``member_mi``).
        bound: the bound trained and reported.
        history: tidy table with columns ``member``, ``step``, ``split`` ("train": the minibatch
            bound at every step; "test": the held-out bound every ``eval_every`` steps), ``mi``.
        test_bounds: DV and NWJ values (and the trained bound's, when another) of the final critic on
            the held-out split (per member when seeds are combined); for one critic DV >= NWJ always holds
            (paper footnote 3).
        settings: every setting used, for the record, and ``clipped_steps``: per member, the steps whose
            gradient NWJ's spike guard clipped (:mod:`minelib.spike_guard`; None for the other bounds).
        seconds, steps_per_second: wall time of training.
        mine: the trained :class:`MINE` module (inputs transformed as ``settings`` says).
        se, sampling_ci: the standard error and 95 % interval ``mi +- 1.96 se`` (a (K, 2) array when stacked)
            of a bootstrap over the held-out rows, plus the seeds' spread when seeds are combined
            (:mod:`minelib.diagnostics`): sampling and optimisation noise only.
        ci: the interval to read (:func:`minelib.diagnostics.bracket`): ``sampling_ci`` with its upper end
            raised to the training bound's when the critic scores its training rows higher than held-out ones,
            which is how far a critic that learnt its rows rather than the dependence may fall short. It does
            not cover the bias of a bound near its ceiling (a warning says when that may dominate).
        train_mi: the training bound over the last tenth of the steps (the seeds' mean when combined).
        marginal_ess: how many of the held-out marginal pairs carry ``log mean e^T`` (Kish's effective sample
            size, :func:`marginal_ess`, of the DV evaluation; per member when seeds are combined). A few dozen
            means the estimate rests on a handful of pairs: high MI, where every bound reads low.
        warnings: plain sentences on why the estimate may be wrong (also emitted as
            :class:`~minelib.diagnostics.MIEstimateWarning`); empty when no check fired.
        member_mi: the members' estimates when S seeds were combined for one data set, else None.
    """

    mi: float | np.ndarray
    bound: str
    history: pd.DataFrame
    test_bounds: dict
    settings: dict
    seconds: float
    steps_per_second: float
    mine: MINE = field(repr=False)
    se: float | np.ndarray = math.nan
    ci: tuple[float, float] | np.ndarray = (math.nan, math.nan)
    warnings: list[str] = field(default_factory=list)
    member_mi: np.ndarray | None = None
    sampling_ci: tuple[float, float] | np.ndarray = (math.nan, math.nan)
    train_mi: float | np.ndarray = math.nan
    marginal_ess: float | np.ndarray = math.nan

    def __repr__(self) -> str:
        mi = f"{self.mi:.4f}" if np.ndim(self.mi) == 0 else np.array2string(np.asarray(self.mi), precision=4)
        flag = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        return (f"MIEstimate(mi={mi} nats, bound={self.bound!r}, steps={self.settings['steps']}, "
                f"{self.steps_per_second:.0f} steps/s{flag})")


def estimate_mi(
    x,
    z,
    bound: str | Bound = "dv",
    steps: int = 3000,
    batch_size: int = 512,
    lr: float = 2e-3,
    lr_schedule: str = "cosine",
    hidden: Sequence[int] = (100, 100),
    activation: str = "elu",
    ema_rate: float = 0.1,
    test_fraction: float = 0.2,
    standardize: bool | None = None,
    eval_every: int | None = None,
    eval_permutations: int | None = None,
    device: str = "auto",
    seed: int | Sequence[int] = 0,
    progress: bool = True,
    transform: str | None = None,
    bootstrap: int = 200,
    spike_guard: bool = False,
) -> MIEstimate:
    """Estimate I(X; Z) in nats by training a statistics network (paper Algorithm 1).

    Args:
        x, z: paired samples, numpy arrays or torch tensors of shape (n, d) or (n,). Arrays of shape
            (K, n, dx) and (K, n, dz) are K independent tasks trained as one stacked model; each
            member gets exactly what it would get alone with its own seed (see ``seed``).
        bound: ``"dv"`` (MINE), ``"nwj"`` (MINE-f) or ``"infonce"`` (van den Oord et al. 2018). InfoNCE
            cannot exceed ``log(batch_size)`` nats and scores all ``batch_size ** 2`` pairs of a batch
            every step (trained with autograd): use a batch whose log is well above the MI; a warning says
            when the estimate comes within 1 nat of it.
        steps, batch_size, lr: Adam steps, minibatch size (capped at the training rows), step size.
        lr_schedule: ``"cosine"`` decays the step size to a tenth of ``lr`` by the last step (a
            quieter critic at the end gives tighter held-out estimates), ``"constant"`` keeps it.
        hidden, activation: the MLP critic on [x, z]; at least one hidden layer (a linear critic scores
            ``a.x + b.z``, whose bound is never above 0: it cannot detect dependence).
        ema_rate: moving-average rate of the bias-corrected DV gradient (1 = plain gradient).
        test_fraction: share of rows held out; the reported estimate is the bound on them, so that
            a critic that overfits cannot inflate it. 0 reports the bound on the training rows.
        transform: a map of each feature that keeps the MI (:mod:`minelib.transforms`), fitted on the
            training split: ``"rank_gauss"`` (the default: empirical CDF, then the normal quantile),
            ``"standardize"`` or ``"none"``. See the measurement below.
        standardize: deprecated, ``True`` means ``transform="standardize"`` and ``False`` ``"none"``.
        eval_every: also record the held-out bound every this many steps (default: 20 points).
        eval_permutations: shuffles of the held-out z that make its marginal pairs for the reported
            estimate (default: enough for about 131k pairs, between 4 and 64; see
            ``_eval_permutations``); checkpoints before the last use at most 4. InfoNCE's held-out value
            is instead the mean over blocks of ``batch_size`` rows (at most 4 at checkpoints).
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"`` (a string or a ``torch.device``).
        seed: any int >= 0 (None is refused: an estimate is always seeded); it seeds the critic's
            initialisation, the held-out split, the minibatches and the bootstrap (streams ``init``, ``split``,
            ``data``, ``eval`` of :mod:`minelib.seeding`). For K stacked tasks, a list of K ints (one per member)
            or an int, which then means ``minelib.seeding.replicate_seeds(seed, K)``: member k gets what a run of
            its seed alone gets. For one data set, a list of S ints trains S members on it (stacked) and
            combines them: ``mi`` their mean, the interval widened by their spread.
        progress: show a progress bar.
        bootstrap: resamples of the held-out rows behind ``se`` and ``ci``.
        spike_guard: clip NWJ's gradient against minibatch spikes (:mod:`minelib.spike_guard`; no effect on the
            other bounds). On the staircase at d = 20 it lifts NWJ from 3.22, 4.36, 0.25 to 4.95, 4.97, 4.86 nats at
            6 nats of MI (3 seeds), and from 5.04, 3.73, 0.74 to 6.73, 7.23, 6.94 at 10 nats; but at 39 nats (Fig 1's
            d = 20, rho = 0.99) the clipped critic runs away (a training bound of -3.6e6 nats, stopped with
            ``TrainingDivergedError``), where the unclipped one's large gradients pull it back. Off by default.

    The defaults (batch 512, lr 2e-3 decaying to 2e-4, ema_rate 0.1) were chosen by measurement on
    Gaussian tasks with known MI, (rho, d) = (0.9, 5), (0.5, 20), (0.99, 2), (0.5, 2), n = 20k, 4 seeds:
    mean absolute error 0.08 nats, against 0.12 with the paper's lr 1e-3 and ema_rate 0.01 (d = 20:
    -0.16 against -0.32). The experiments pass the paper's settings explicitly.

    The default transform was chosen by measurement (``benchmarks/groundtruth.py``: the 13 tasks of
    :func:`minelib.groundtruth.suite`, n = 5,000, 600 steps, batch 256 (InfoNCE 64), 3 seeds each, one run).
    Mean absolute error in nats by family, ``rank_gauss`` / ``standardize``: DV Gaussian 0.120 / 0.119,
    Student-t 0.111 / 0.942, monotone-mapped 0.046 / 0.263 (3 of 9 standardised runs diverged there and
    stopped), staircase 2-10 nats 2.35 / 2.36; NWJ 0.135 / 0.135, 0.125 / 0.691, 0.047 / 0.246 (6 diverged),
    2.88 / 3.08; InfoNCE 0.107 / 0.107, 0.092 / 0.253, 0.040 / 0.227, 2.90 / 2.90. Gaussian ranks cost nothing
    on Gaussian data and remove the heavy tails' and the monotone maps' error. Over the suite DV's error is
    0.61 nats, torch-mist's MINE 0.75 at the same network, batch and steps (8 of its 39 estimates negative or
    off by more than the truth, none flagged; none of ours unflagged).

    Returns:
        :class:`MIEstimate`.

    Raises:
        ValueError / TypeError: bad input, with the argument named.
        TrainingDivergedError: the training bound became non-finite, or left the range a bound on n rows can
            take (``|bound| > 10 log n``; ``n`` for NWJ, whose minibatch values spike); the step is named.
    """
    x, z, stacked = _check_data(x, z)
    criterion = get_bound(bound)
    cfg = _check_settings(criterion, steps, batch_size, lr, lr_schedule, hidden, activation, ema_rate,
                          test_fraction, standardize, transform, eval_every, device, bootstrap, spike_guard)
    if eval_permutations is not None:
        eval_permutations = check_positive_int(eval_permutations, "eval_permutations")
    seeds, replicas = _seeds(seed, x.shape[0], stacked)
    K, n = len(seeds), x.shape[1]
    n_test = int(round(cfg["test_fraction"] * n))
    if cfg["test_fraction"] > 0 and (n_test < 2 or n - n_test < 2):
        raise ValueError(f"test_fraction={cfg['test_fraction']} leaves too few rows to train or test on ({n} rows)")
    _check_range(x, z, cfg["transform"])
    eval_permutations = eval_permutations or _eval_permutations(n_test or n)
    dev = cfg["device"]
    data = _split_and_scale(x, z, replicas, n_test, cfg["transform"], seeding.member_generators(seeds, "split"), dev)
    batch_size = min(cfg["batch_size"], data["n_train"])
    mine = MINE(x.shape[2], z.shape[2], criterion, cfg["ema_rate"], cfg["hidden"], cfg["activation"], K,
                seeds).to(dev)
    settings = dict(cfg, bound=criterion.name, batch_size=batch_size, hidden=list(cfg["hidden"]), device=str(dev),
                    eval_permutations=eval_permutations, seeds=seeds, n=n, n_train=data["n_train"], n_test=n_test,
                    standardize=cfg["transform"] == "standardize")
    start = time.perf_counter()
    train_values, test_rows, settings["clipped_steps"] = _train(
        mine, data, cfg["steps"], batch_size, cfg["lr"], cfg["lr_schedule"], cfg["eval_every"], eval_permutations,
        seeding.member_generators(seeds, "data"), progress, _plausible(data["n_train"], criterion.name),
        cfg["spike_guard"])
    seconds = time.perf_counter() - start
    return _result(mine, data, settings, train_values, test_rows, seconds, stacked, replicas)


def _check_data(x, z) -> tuple[np.ndarray, np.ndarray, bool]:
    """x and z as arrays (K, n, d) (K = 1 unless stacked), checked once, and whether they were stacked.

    float32 input stays float32 (the critic computes in it; a float64 copy of a large stack would double the
    host memory): each member is widened to float64 only while it is transformed (:func:`_split_and_scale`).
    """
    stacked = _ndim(x) == 3 or _ndim(z) == 3
    x, z = check_pair(x, z, min_rows=8, stacked=stacked, keep_float32=True)
    return (x, z, True) if stacked else (x[None], z[None], False)


def _ndim(a) -> int:
    try:
        return np.ndim(a)
    except ValueError:  # a ragged nested list: as_float_array names it
        return 2


def _check_settings(criterion: Bound, steps, batch_size, lr, lr_schedule, hidden, activation, ema_rate,
                    test_fraction, standardize, transform, eval_every, device, bootstrap, spike_guard) -> dict:
    """Every setting of :func:`estimate_mi` but the data and seeds, validated once, by name."""
    steps = check_positive_int(steps, "steps")
    return dict(
        steps=steps, batch_size=check_positive_int(batch_size, "batch_size", minimum=2),
        lr=check_fraction(lr, "lr", high=math.inf), lr_schedule=check_choice(lr_schedule, "lr_schedule", LR_SCHEDULES),
        hidden=check_hidden(hidden), activation=check_choice(activation, "activation", ACTIVATIONS),
        ema_rate=check_fraction(ema_rate, "ema_rate"),
        test_fraction=check_fraction(test_fraction, "test_fraction", high=0.9, closed_low=True),
        transform=resolve_transform(transform, standardize, DEFAULT_TRANSFORM),
        eval_every=check_positive_int(eval_every, "eval_every") if eval_every is not None else max(1, steps // 20),
        device=check_device(device), bootstrap=check_positive_int(bootstrap, "bootstrap", minimum=10),
        spike_guard=check_bool(spike_guard, "spike_guard"))


def _seeds(seed, k: int, stacked: bool) -> tuple[list[int], int]:
    """The members' seeds and how many replicate one data set (1 unless a list of S > 1 seeds came with it)."""
    if seed is None:
        raise TypeError("seed must be an integer >= 0 or a list of them; estimate_mi is always seeded "
                        "(None, torch's global generator, is for network constructors)")
    if not stacked and isinstance(seed, (list, tuple, np.ndarray)) and len(seed) > 1:
        return seeding.member_seeds(seed, len(seed)), len(seed)
    return seeding.member_seeds(seed, k, noun="task"), 1


def _check_range(x: np.ndarray, z: np.ndarray, transform: str) -> None:
    """Untransformed values must fit float32, in which the critic computes."""
    limit = float(np.finfo(np.float32).max) / 1e6  # room for the first layer's sums
    for name, a in (("x", x), ("z", z)):
        top = max(float(np.abs(member).max()) for member in a)  # a member at a time: no copy of the stack
        if transform == "none" and top > limit:
            raise ValueError(f"{name} has values up to {top:.3g}, beyond what the float32 critic can hold with "
                             f"transform='none'; use transform='rank_gauss' or 'standardize', which keep the MI")


def _plausible(n_train: int, bound: str) -> float:
    """The largest |training bound| a run that has not diverged reaches: ``10 log n`` for DV and InfoNCE, ``n``
    for NWJ. A bound on n rows cannot credibly exceed log n (McAllester and Stratos 2020). NWJ's minibatch value
    falls by ``e^(T-1)/B`` for each marginal pair of score T, so critic scores of about log n move it by about
    n / B, and its healthy spikes at high MI or under heavy tails reach hundreds of nats (-702 on Cauchy data
    with 5,000 rows); far beyond, the critic has diverged while still finite (lr = 1e3: -3.5e7)."""
    n = max(n_train, 3)
    return float(n) if bound == "nwj" else 10.0 * math.log(n)


def _result(mine: MINE, data: dict, settings: dict, train_values: np.ndarray, test_rows: list, seconds: float,
            stacked: bool, replicas: int) -> MIEstimate:
    """The final held-out evaluation, its interval and warnings, as an :class:`MIEstimate`."""
    bound, steps = mine.bound, settings["steps"]
    # DV and NWJ of every critic (footnote 3's DV >= NWJ can be checked on them), and the trained bound.
    reported = {b.name: b for b in (BOUNDS["dv"], BOUNDS["nwj"], mine.criterion)}
    test_bounds, parts = _evaluate(mine, data, settings["eval_permutations"], list(reported.values()),
                                   settings["batch_size"], with_parts=True)
    history = _history_table(train_values, test_rows + [(steps, test_bounds[bound])])
    mi = test_bounds[bound]
    _check_held_out(mi, _plausible(data["n_train"], "dv"), settings["seeds"])
    boot = diagnostics.bootstrap_bound(parts, bound, seeding.member_generators(settings["seeds"], "eval"),
                                       settings["bootstrap"])
    se = boot.std(axis=1, ddof=1)
    train, train_se = _training_level(train_values)
    ess = marginal_ess(parts) if "lse2_marg" in parts else np.full(len(mi), math.nan)
    gain = diagnostics.late_gain(test_rows, mi, steps)
    notes = _member_notes(mine, settings, train_values, train, train_se, mi, se, ess, parts, gain)
    member_mi = None
    if replicas > 1:
        member_mi = mi
        notes = [f"seed {s}: {w}" for s, ws in zip(settings["seeds"], notes) for w in ws]
        notes += diagnostics.member_warning(mi, se)
        mi, se = diagnostics.combine_members(mi, se)
        train, train_se = diagnostics.combine_members(train, train_se)
    elif stacked:
        notes = [f"task {k}: {w}" for k, ws in enumerate(notes) for w in ws]
    else:
        notes, mi, se, train, train_se = notes[0], float(mi[0]), float(se[0]), float(train[0]), float(train_se[0])
        ess = float(ess[0])
        test_bounds = {k: float(v[0]) for k, v in test_bounds.items()}
    as_out = (lambda a: a) if stacked else (lambda a: tuple(a.tolist()))
    ci, sampling_ci = as_out(diagnostics.bracket(mi, se, train, train_se)), as_out(diagnostics.interval(mi, se))
    diagnostics.emit(notes, stacklevel=4)
    return MIEstimate(mi=mi, bound=bound, history=history, test_bounds=test_bounds, settings=settings,
                      seconds=seconds, steps_per_second=steps / seconds, mine=mine, se=se, ci=ci, warnings=notes,
                      member_mi=member_mi, sampling_ci=sampling_ci, train_mi=train,
                      marginal_ess=ess)


def _check_held_out(mi: np.ndarray, limit: float, seeds: Sequence[int]) -> None:
    """A held-out bound beyond ``10 log n`` (or non-finite) is no estimate: the critic, fine on its training rows,
    extrapolates wildly on held-out rows outside their range (heavy tails without ``transform="rank_gauss"``
    gave -2171 and -inf nats)."""
    bad = ~np.isfinite(mi) | (np.abs(mi) > limit)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise TrainingDivergedError(
            f"the held-out bound is {mi[k]:.3g} nats (seed {seeds[k]}), beyond the {limit:.3g} a bound on this many "
            f"rows can take: the critic extrapolates wildly on held-out rows outside the training rows' range; "
            f"use transform='rank_gauss', which maps every row into the fitted range")


def _training_level(train_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each member's training bound over the last tenth of the steps (at least 10), and its standard error."""
    window = train_values[-max(10, len(train_values) // 10):]
    return window.mean(axis=0), window.std(axis=0, ddof=1) / math.sqrt(len(window))


def _member_notes(mine: MINE, settings: dict, train_values: np.ndarray, train: np.ndarray, train_se: np.ndarray,
                  mi: np.ndarray, se: np.ndarray, ess: np.ndarray, parts: dict, gain: np.ndarray) -> list[list[str]]:
    """Each member's warnings (:func:`~minelib.diagnostics.estimate_warnings`)."""
    rows = settings["n_test"] or settings["n"]
    # InfoNCE cannot pass log B at all; DV and NWJ are trained on batches of B and evaluated on m rows, and no
    # bound from N samples credibly exceeds log N (McAllester and Stratos 2020): at 10 nats they read 5-8.
    ceiling, name = min((math.log(settings["batch_size"]), "log(batch_size)"), (math.log(rows), "log(held-out rows)"))
    if mine.criterion.all_pairs:
        gaps = [math.nan] * len(mi)
    else:
        lme = (torch.logsumexp(parts["lse_marg"].double(), dim=1)
               - math.log(rows * parts["pairs_per_row"])).cpu().numpy()
        c = np.ones(len(mi)) if mine.bound == "nwj" else np.atleast_1d(mine.log_ema.double().cpu().numpy())
        gaps = [diagnostics.normalised_gap(u, ck) if np.isfinite(ck) else math.nan for u, ck in zip(lme, c)]
    return [diagnostics.estimate_warnings(dict(mi=float(mi[k]), se=float(se[k]), train=float(train[k]),
                                               train_se=float(train_se[k]), ceiling=ceiling, ceiling_name=name,
                                               gap=gaps[k], bound=mine.bound, ess=float(ess[k]),
                                               pairs=rows * parts.get("pairs_per_row", 1), gain=float(gain[k]),
                                               drop=diagnostics.training_drop(train_values[:, k])))
            for k in range(len(mi))]


def marginal_ess(parts: dict) -> np.ndarray:
    """Per member, the effective number of held-out marginal pairs behind ``log mean e^T``:
    ``(sum e^T)^2 / sum e^(2T)`` (Kish), from each row's log-sum-exps ``lse_marg`` and ``lse2_marg``."""
    lse = torch.logsumexp(parts["lse_marg"].double(), dim=1)
    lse2 = torch.logsumexp(parts["lse2_marg"].double(), dim=1)
    return torch.exp(2 * lse - lse2).cpu().numpy()


def _eval_permutations(m: int, pairs: int = 2 ** 17) -> int:
    """Shuffles of ``m`` held-out rows that give about ``pairs`` marginal pairs (4 to 64, < m).

    The log-mean-exp of the marginal scores carries most of the held-out estimate's error: over four
    Gaussian tasks of 0.3 to 5 nats at n = 2,000 and 5,000, the same critics evaluated with 4 shuffles
    erred by 0.25 nats on average, with 64 by 0.08.
    """
    return int(max(1, min(max(4, pairs // m), 64, m - 1)))


def _split_and_scale(x: np.ndarray, z: np.ndarray, replicas: int, n_test: int, transform: str, gens, dev) -> dict:
    """Shuffle rows per member, hold out ``n_test``, transform with maps fitted on the training rows
    (:mod:`minelib.transforms`), member by member into float32 tensors on ``dev``.

    Member k reads data set ``k // replicas`` of ``x`` and ``z`` (several seeds on one data set share it
    without copies), widened to float64 only while it is shuffled and transformed: the host holds the
    caller's arrays, one member in float64 and the float32 result. Training rows are flattened to
    (K * n_train, d) so that a minibatch of every member is one index lookup.
    """
    K, n, n_train = len(gens), x.shape[1], x.shape[1] - n_test
    orders = [torch.randperm(n, generator=g).numpy() for g in gens]
    out = {}
    for key, a in (("x", x), ("z", z)):
        train = torch.empty(K * n_train, a.shape[2], dtype=torch.float32, device=dev)
        test = torch.empty(K, n_test or n, a.shape[2], dtype=torch.float32, device=dev)
        for k, order in enumerate(orders):
            rows = np.asarray(a[k // replicas], dtype=np.float64)[order]
            rows = apply_transform(transform, rows, rows[n_test:])
            train[k * n_train:(k + 1) * n_train] = torch.from_numpy(rows[n_test:])
            test[k] = torch.from_numpy(rows[:n_test] if n_test else rows)
        out[f"{key}_train"], out[f"{key}_test"] = train, test
    return dict(out, n_train=n_train, K=K)


def _batch_indices(gens, n_train: int, chunk: int, batch: int, dev) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into the flattened training rows for ``chunk`` steps of every member.

    Returns (x_rows, z_rows), each (chunk, K, 2 * batch), or (chunk, 2 * batch) for one member: rows of x are the joint rows twice;
    rows of z are the joint rows then the same rows shuffled (the product of marginals).
    Drawing ahead keeps the per-step Python work to two index lookups.
    """
    joint = torch.stack([torch.randint(n_train, (chunk, batch), generator=g) + k * n_train
                         for k, g in enumerate(gens)], 1)
    # Marginal pairs: z of the next row in the batch. Rows are i.i.d. draws, so a roll by one is a
    # shuffle without fixed points. A random permutation leaves one joint pair among the "marginal"
    # ones on average, whose large score caps what the critic can learn at high MI.
    shuffled = torch.roll(joint, 1, dims=-1)
    ix = torch.cat([joint, joint], dim=2)
    iz = torch.cat([joint, shuffled], dim=2)
    if len(gens) == 1:  # one member: plain (2 * batch, d) inputs take the network's addmm path
        ix, iz = ix[:, 0], iz[:, 0]
    return ix.to(dev), iz.to(dev)


def _train(mine: MINE, data: dict, steps: int, batch: int, lr: float, lr_schedule: str, eval_every: int,
           eval_perms: int, gens, progress: bool, limit: float = math.inf, guard: bool = False):
    """The one training loop: Adam on the critic (see :mod:`~minelib.critic_step`; with ``guard``, NWJ's
    gradient clipped against spikes, :mod:`~minelib.spike_guard`), per-step values kept, divergence (non-finite,
    or ``|bound| > limit``) caught. Returns the values, the held-out checkpoints and the clipped steps (or None)."""
    K, n_train = data["K"], data["n_train"]
    xf, zf = data["x_train"], data["z_train"]
    step_fn = estimator_step(mine) if guard else make_step(mine)
    values, test_rows, chunk = [], [], 250
    mine.train()
    bar = tqdm(total=steps, disable=not progress, desc=f"MINE ({mine.bound})", unit="step", leave=False)
    for first in range(0, steps, chunk):
        c = min(chunk, steps - first)
        # Piecewise constant per chunk: no per-step Python cost.
        step_lr = lr if lr_schedule == "constant" else \
            lr * (0.1 + 0.45 * (1 + math.cos(math.pi * (first + c / 2) / steps)))
        ix, iz = _batch_indices(gens, n_train, c, batch, xf.device)
        chunk_values = []
        for s in range(c):
            # x rows: the batch twice; z rows: the batch, then shuffled (see _batch_indices).
            chunk_values.append(step_fn.step(xf[ix[s]], zf[iz[s]], step_lr))
            step = first + s + 1
            if step % eval_every == 0 and step < steps:
                # Checkpoints on the way are for the curve: 4 shuffles (or 4 blocks of an all-pairs bound)
                # keep them cheap. The last one, the reported estimate, is taken by estimate_mi with all.
                test_rows.append((step, _evaluate(mine, data, min(eval_perms, 4), [mine.criterion], batch,
                                                  blocks=4)[mine.bound]))
        chunk_values = torch.stack(chunk_values).reshape(c, K).cpu()
        _check_finite(chunk_values, first, limit)
        values.append(chunk_values)
        bar.update(c)
        bar.set_postfix(mi=f"{chunk_values[-1].mean().item():.3f}")
    bar.close()
    clipped = getattr(step_fn, "clipped", None)  # NWJ's guard (minelib.spike_guard): steps clipped per member
    return torch.cat(values).numpy(), test_rows, None if clipped is None else clipped.cpu().tolist()


def _check_finite(values: torch.Tensor, first_step: int, limit: float = math.inf) -> None:
    bad = ~torch.isfinite(values) | (values.abs() > limit)
    if bad.any():
        row = int(bad.any(dim=1).nonzero()[0, 0])
        value = float(values[row][bad[row]][0])
        what = "became non-finite" if not math.isfinite(value) else \
            f"reached {value:.3g} nats, beyond the {limit:.3g} no healthy run of this many rows reaches"
        raise TrainingDivergedError(
            f"the training bound {what} at step {first_step + row + 1}; lower lr, use bound='dv' with "
            f"ema_rate < 1, or check the inputs' scale (transform='rank_gauss' or 'standardize')")


@torch.no_grad()
def _evaluate(mine: MINE, data: dict, n_perms: int, bounds: Sequence[Bound], batch: int,
              blocks: int | None = None, with_parts: bool = False):
    """``bounds`` of the current critic on the held-out split, per member, by name.

    Marginal pairs pair each x with z of other rows: the held-out rows (already in random order)
    with z rolled by ``n_perms`` different offsets, so no row meets its own partner. The pairing is
    fixed, so successive evaluations differ only through the critic. All-pairs bounds are taken on
    blocks of ``batch`` rows instead (at most ``blocks`` of them), see :func:`_all_pairs_value`.
    ``with_parts`` (the reported estimate) computes the values in float64, where NWJ's ``e^(T-1)`` of a critic
    with a large offset cannot overflow, and also returns each held-out row's share of them for the bootstrap
    (:func:`minelib.diagnostics.bootstrap_bound`).
    """
    was_training = mine.training
    mine.eval()
    x, z = data["x_test"], data["z_test"]
    values, parts = {}, {}
    marginal = [b for b in bounds if not b.all_pairs]
    if marginal:
        m = x.shape[1]
        offsets = [1 + (r * (m - 1)) // n_perms for r in range(n_perms)]
        t_joint = _scores_chunked(mine, x, z)
        t_marg = torch.cat([_scores_chunked(mine, x, torch.roll(z, o, dims=1)) for o in offsets], dim=1)
        if with_parts:
            t_joint, t_marg = t_joint.double(), t_marg.double()
            by_row = t_marg.unflatten(1, (n_perms, m))
            parts.update(joint=t_joint, lse_marg=torch.logsumexp(by_row, dim=1),
                         lse2_marg=torch.logsumexp(2 * by_row, dim=1), pairs_per_row=n_perms)
        values.update({b.name: b.value(t_joint, t_marg) for b in marginal})
    for b in bounds:
        if b.all_pairs:
            values[b.name], parts["terms"] = _all_pairs_value(mine, b, x, z, batch, blocks)
    mine.train(was_training)
    values = {b.name: values[b.name].double().cpu().numpy() for b in bounds}
    return (values, parts) if with_parts else values


def _all_pairs_value(mine: MINE, bound: Bound, x: torch.Tensor, z: torch.Tensor, batch: int,
                     blocks: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``bound`` averaged over consecutive blocks of ``batch`` held-out rows (K, m, d), per member, and each
    row's term of it (K, rows in full blocks).

    An all-pairs bound depends on the batch it is computed on: InfoNCE cannot exceed the log of its size,
    and with m rows in one block it would report a bound with another ceiling (and m ** 2 pairs). Blocks of
    the training batch size report the bound the critic was trained to maximise. Rows after the last full
    block are left out; fewer held-out rows than ``batch`` make one block of them all.
    """
    b = min(batch, x.shape[1])
    count = x.shape[1] // b if blocks is None else min(blocks, x.shape[1] // b)
    values, terms = [], []
    for i in range(count):
        rows = slice(i * b, (i + 1) * b)
        t = _scores_chunked(mine, *all_pairs(x[:, rows], z[:, rows])).unflatten(-1, (b, b))
        values.append(bound.value(t.diagonal(dim1=-2, dim2=-1), t))
        terms.append(bound.row_terms(t.diagonal(dim1=-2, dim2=-1), t))
    return torch.stack(values).mean(dim=0), torch.cat(terms, dim=-1)


def _scores_chunked(mine: MINE, x: torch.Tensor, z: torch.Tensor, rows: int = 8192) -> torch.Tensor:
    """Network scores of (K, m, d) inputs, a block of rows at a time to bound memory."""
    out = []
    for i in range(0, x.shape[1], rows):
        xb, zb = x[:, i:i + rows], z[:, i:i + rows]
        out.append(mine.network(xb[0], zb[0])[None] if mine.members == 1 else mine.network(xb, zb))
    return torch.cat(out, dim=1)


def _history_table(train_values: np.ndarray, test_rows: list) -> pd.DataFrame:
    steps, K = train_values.shape
    train = pd.DataFrame({
        "member": np.tile(np.arange(K), steps), "step": np.repeat(np.arange(1, steps + 1), K),
        "split": "train", "mi": train_values.reshape(-1)})
    test = pd.DataFrame([(k, step, "test", float(v[k])) for step, v in test_rows for k in range(K)],
                        columns=["member", "step", "split", "mi"])
    return pd.concat([train, test], ignore_index=True)
