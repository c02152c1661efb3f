"""What makes an estimate of :func:`~minelib.estimate_mi` checkable: its interval, and warnings when it is suspect.

**Interval.** The held-out bound is a function of the held-out rows: the joint score ``T(x_i, z_i)`` of each row
and, for DV and NWJ, the log-sum-exp of its marginal scores ``T(x_i, z_j)`` (for InfoNCE, each row's term).
Resampling the rows with replacement (a bootstrap over rows, Efron 1979; a row's parts are drawn together) gives
the bound's sampling spread ``se``; with several seeds on one data set the members' spread is added
(:func:`combine_members`). ``mi +- 1.96 se`` (:func:`interval`, ``MIEstimate.sampling_ci``) says how far the
held-out rows and the seeds move the estimate. It misses the larger error of a critic that learnt its training
rows rather than the dependence; the reported interval (:func:`bracket`, ``MIEstimate.ci``) therefore reaches up
to the training bound when that is higher. Neither covers a bound near its ceiling: a warning says so.

Measured at ``estimate_mi``'s defaults (3,000 steps, batch 512, ``rank_gauss``) on the 13 tasks of
:func:`minelib.groundtruth.suite`, n = 5,000, 3 seeds per task, one data set per seed (2026-12-02, commit
2dcafd5): on tasks of at most 2 nats DV's ``ci`` covered the truth in 30 of 30 (task, seed) pairs (100 %),
``sampling_ci`` in 20 (67 %; the misses, all below the truth, are dense Gaussians at d = 20, 1.73-1.87 for 2
nats, and Student-t at d = 5, 0.06-0.10 for 0.30, where the training bound read 0.36-0.39). Mean width 0.18
nats against 0.13. Above 2 nats (6 and 10 nats at d = 20) neither covers (0 of 6) and the ceiling or
train/held-out warning fires on every pair.

**Warnings** (:func:`estimate_warnings`), plain sentences in ``MIEstimate.warnings``, each also emitted as a
:class:`MIEstimateWarning`: a negative estimate; training and held-out bounds apart beyond their noise; an
estimate near a ceiling the method cannot pass (log of the batch or of the held-out rows); an estimate resting on
few marginal pairs (high MI); a training bound knocked back mid-run (:func:`training_drop`); a held-out bound still
rising over the second half of training (:func:`late_gain`: not converged, so low); DV and NWJ of the same critic
far apart; seeds apart beyond their held-out noise.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

ESS_MIN = 500  # effective marginal pairs; measured: >= 1,371 on the suite's tasks of <= 2 nats, <= 158 at 6
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: scipy.stats.norm.ppf(0.975)


class MIEstimateWarning(UserWarning):
    """An estimate that may be wrong: the message says why and what to try."""


def emit(messages: Sequence[str], stacklevel: int = 3) -> None:
    """Each message as a :class:`MIEstimateWarning` (the caller's line reported)."""
    for message in messages:
        warnings.warn(message, MIEstimateWarning, stacklevel=stacklevel)


def bootstrap_bound(parts: dict, bound: str, gens: Sequence[torch.Generator], replicates: int) -> np.ndarray:
    """``replicates`` bootstrap values of the held-out bound per member, (K, replicates), float64.

    ``parts`` holds, per member and held-out row (K, m): ``joint`` (the joint score) and ``lse_marg`` (the
    log-sum-exp of the row's ``pairs_per_row`` marginal scores) for DV and NWJ; ``terms`` (the row's term of the
    bound) for InfoNCE. Member k resamples with its own generator ``gens[k]`` (stream ``eval``).
    """
    out = []
    for k, gen in enumerate(gens):
        # One draw of rows for both parts: a row's joint and marginal terms move together (resampling them
        # apart would drop their covariance from the spread).
        some = parts["terms" if bound == "infonce" else "joint"]
        index = torch.randint(some.shape[1], (replicates, some.shape[1]), generator=gen)
        sample = lambda v: v[k].double().cpu()[index]
        if bound == "infonce":
            out.append(sample(parts["terms"]).mean(dim=1))
            continue
        mean_joint = sample(parts["joint"]).mean(dim=1)
        rows = parts["joint"].shape[1]
        lme = torch.logsumexp(sample(parts["lse_marg"]), dim=1) - math.log(rows * parts["pairs_per_row"])
        out.append(mean_joint - lme if bound == "dv" else mean_joint - torch.exp(lme - 1.0))
    return torch.stack(out).numpy()


def combine_members(values: np.ndarray, se: np.ndarray) -> tuple[float, float]:
    """One estimate from S seeds of one data set: their mean, and ``se^2 = mean(se_k^2) + s^2 / S``.

    ``mean(se_k^2)`` is one member's held-out noise (the members' held-out rows are drawn from the same n, so
    averaging them removes little of it); ``s^2 / S`` is the squared standard error of a mean over S seeds.
    """
    values, se = np.asarray(values, dtype=np.float64), np.asarray(se, dtype=np.float64)
    spread = values.var(ddof=1) / len(values) if len(values) > 1 else 0.0
    return float(values.mean()), float(math.sqrt(np.mean(se ** 2) + spread))


def interval(mi, se) -> np.ndarray:
    """The 95 % interval ``mi +- 1.96 se``: shape (2,), or (K, 2) for K estimates."""
    mi, se = np.asarray(mi, dtype=np.float64), np.asarray(se, dtype=np.float64)
    return np.stack([mi - Z95 * se, mi + Z95 * se], axis=-1)


def bracket(mi, se, train, train_se) -> np.ndarray:
    """The reported interval: from the held-out bound's lower end to the higher of its upper end and the training
    bound's, ``max(mi + 1.96 se, train + 1.96 train_se)``; (2,) or (K, 2).

    The held-out bound of any critic is below the MI up to sampling noise; what the critic lacks of the optimum
    makes it low, and that bias is not sampling noise. The training bound is the same critic on the rows it was
    fitted to, high by as much as it overfit them. Where the held-out value falls short because the critic
    learnt its training rows rather than the dependence (Student-t at d = 5: 0.09 held out, 0.36 in training,
    truth 0.30), the interval reaches the training value; where both agree it is the sampling interval.
    Neither end covers a critic short of the optimum on both splits (a bound near its ceiling): a warning
    says when that may be so.
    """
    low, high = interval(mi, se).T
    train_high = np.asarray(train, dtype=np.float64) + Z95 * np.asarray(train_se, dtype=np.float64)
    return np.stack([low, np.maximum(high, train_high)], axis=-1)


def normalised_gap(lme_marg: float, log_normaliser: float) -> float:
    """DV minus NWJ of one critic shifted by its training normaliser ``c`` (NWJ's is 1, DV's its moving
    average): ``e^(u - c) - (u - c) - 1 >= 0`` with ``u`` the held-out ``log mean e^T`` of marginal pairs.

    DV ignores a constant shift of the critic; NWJ is tight only when ``u = c``. A large gap says the held-out
    marginal scores are not where training left them: their log-mean-exp rests on a few pairs (high MI), or
    the critic's offset drifted.
    """
    d = float(lme_marg) - float(log_normaliser)
    return math.expm1(d) - d if d < 700 else math.inf


def training_drop(values: np.ndarray, blocks: int = 30) -> tuple[float, float, int]:
    """The largest fall of one member's training bound from its best so far: ``(drop, peak, step)``, in nats,
    on medians of ``blocks`` consecutive blocks of steps (at least 10 steps each), ``step`` the fall's lowest block.

    A healthy run rises and settles; a fall of nats says a minibatch spike knocked the critic back (NWJ at 6
    nats: a minibatch value of -2,125 at step 850, then a training bound of -1.6 rising 0.1 nats per 100 steps,
    as Adam's second moment, inflated by the spike's gradient, keeps the steps small)."""
    values = np.asarray(values, dtype=np.float64)
    size = max(10, len(values) // blocks)
    medians = np.array([np.median(values[i:i + size]) for i in range(0, len(values) - size + 1, size)])
    if len(medians) < 2:
        return 0.0, float(medians.max(initial=-np.inf)), 0
    fall = np.maximum.accumulate(medians) - medians
    worst = int(fall.argmax())
    return float(fall[worst]), float(medians[:worst + 1].max()), (worst + 1) * size


def late_gain(test_rows: Sequence[tuple[int, np.ndarray]], final: np.ndarray, steps: int) -> np.ndarray:
    """Per member, how far the held-out bound rose over the second half of training: the final estimate minus
    the held-out checkpoint nearest to half the steps (NaN without checkpoints).

    With the cosine schedule the training bound flattens as the step size decays, converged or not; the held-out
    bound's rise over the second half tells the two apart. Measured on the suite's tasks of at most 2 nats, 3
    seeds (2026-12-02): a rise beyond twice the estimate's bootstrap se marked, at 600 steps (batch 256), 7 (DV)
    and 11 (NWJ) of the 16 (task, seed) pairs whose interval missed the truth and none of the 17 that covered
    it; at the defaults (3,000 steps, DV) it marked 5 of 30, every one below the truth by 0.07-0.27 nats, all
    covered by ``ci``, whose upper end reaches the training bound.
    """
    if not test_rows:
        return np.full(np.shape(final), math.nan)
    at = np.array([s for s, _ in test_rows])
    mid = test_rows[int(np.abs(at - steps / 2).argmin())][1]
    return np.asarray(final, dtype=np.float64) - np.asarray(mid, dtype=np.float64)


def estimate_warnings(m: dict) -> list[str]:
    """The warnings of one member's estimate as plain sentences (empty when none applies).

    ``m`` holds: ``mi``, ``se`` (held-out, nats), ``train`` and ``train_se`` (the training bound over the last
    steps and its noise), ``ceiling`` and ``ceiling_name``, ``gap`` (:func:`normalised_gap`, NaN when it does
    not apply), ``bound`` and optionally ``drop`` (:func:`training_drop`), ``gain`` (:func:`late_gain`) and
    ``ess`` (the effective number of held-out marginal pairs, of ``pairs``). Thresholds: a held-out rise over the
    second half of training of more than twice ``se`` and 0.02 nats; fewer effective pairs than :data:`ESS_MIN` and 5 % of
    them; a fall of the training bound
    by more than 0.5 nats and a quarter of its peak; a gap between training and held-out of more than 4 noise units and 0.05
    nats; within 1 nat of the ceiling; a DV-NWJ gap of more than 0.2 nats and 20 % of the estimate.
    """
    out, mi = [], m["mi"]
    if mi < 0:
        out.append(f"the held-out estimate is negative ({mi:.3g} nats), which MI never is: the critic found no "
                   f"dependence it could generalise (too few rows, or none there); read it as 0, at most "
                   f"{max(mi + Z95 * m['se'], 0.0):.3g} nats (the interval's upper end)")
    noise = math.sqrt(m["se"] ** 2 + m["train_se"] ** 2)
    if abs(m["train"] - mi) > max(4 * noise, 0.05):
        why = ("the critic overfit its training rows (more rows, a smaller network or fewer steps)"
               if m["train"] > mi else "training had not settled (more steps, or a smaller lr)")
        out.append(f"the training bound ({m['train']:.3g} nats over the last steps) and the held-out one "
                   f"({mi:.3g}) differ by more than their noise ({noise:.2g}): {why}")
    gain = m.get("gain", math.nan)
    if gain > max(2 * m["se"], 0.02):
        out.append(f"training had not converged: the held-out estimate rose by {gain:.3g} nats over the second half "
                   f"of the steps (more than twice its standard error, {m['se']:.2g}) while the step size decayed, "
                   f"so more steps would likely raise it, and the interval may not cover that shortfall; raise "
                   f"steps (at 600 steps this marked most of the estimates whose interval missed the truth)")
    if mi > m["ceiling"] - 1.0:
        out.append(f"the estimate ({mi:.3g} nats) is within 1 nat of {m['ceiling_name']} = {m['ceiling']:.3g}, "
                   f"a ceiling the {m['bound']} bound cannot pass in practice: the true MI may be far higher, and "
                   f"the interval does not cover that bias; a larger "
                   f"batch_size and more rows lift the ceiling")
    # Relative too: on a few hundred held-out rows every estimate rests on few pairs, and the interval shows it.
    if m.get("ess", math.inf) < min(ESS_MIN, 0.05 * m.get("pairs", math.inf)):
        out.append(f"the held-out estimate rests on about {m['ess']:.0f} marginal pairs (the effective number behind "
                   f"its log-mean-exp; the rest weigh nothing beside a few high scores): that happens at high MI, "
                   f"where every bound reads low and the interval does not cover the shortfall (2 nats at d = 20: "
                   f"1,400-2,400 pairs; 6 nats: 67-158 pairs and estimates of 4.8-5.1)")
    drop, peak, step = m.get("drop", (0.0, 0.0, 0))
    if drop > max(0.5, 0.25 * abs(peak)):
        out.append(f"training was unstable: the training bound fell from {peak:.3g} to {peak - drop:.3g} nats by step "
                   f"{step} (a minibatch spike knocks the critic back, and Adam's steps stay small for hundreds of "
                   f"steps after): the estimate may be far below what the critic reached; bound='dv', spike_guard=True for NWJ, a smaller lr "
                   f"or more steps help (NWJ spikes most, at high MI)")
    if math.isfinite(m["gap"]) and m["gap"] > max(0.2, 0.2 * abs(mi)):
        out.append(f"DV and NWJ of the same critic (shifted by its training normaliser) differ by {m['gap']:.3g} "
                   f"nats: the held-out marginal scores' log-mean-exp rests on a few pairs, so the estimate is "
                   f"noisier than its interval says (common above a few nats)")
    return out


def member_warning(values: np.ndarray, se: np.ndarray) -> list[str]:
    """A warning when S >= 2 seeds of one data set spread more than twice their held-out noise."""
    if len(values) < 2:
        return []
    spread, noise = float(np.std(values, ddof=1)), float(np.sqrt(np.mean(np.square(se))))
    if spread <= 2 * noise:
        return []
    listed = ", ".join(f"{v:.3g}" for v in values)
    return [f"the seeds disagree ({listed} nats; spread {spread:.2g} against a held-out noise of {noise:.2g}): "
            f"the optimisation, not the data, sets the uncertainty (the interval includes the spread); more "
            f"steps or a smaller lr make the seeds agree"]
