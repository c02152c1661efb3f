"""Probe of Fig 2's d = 50 collapse (docs/diagnostics.md, Fig 2): one DV (or NWJ) critic trained as ``estimate_mi``
trains it (same split, transform, minibatches, hand-derived step, cosine schedule), logging what the library does
not: each batch's joint mean, log-mean-exp of marginal scores and the moving average, and at checkpoints the
held-out bound, its parts and the share of the marginal exp-mass held by the 10 largest pairs.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/probe_fig2.py --ema 0.01 --seed 1 --every 50 --verbose 1

The last line is a JSON summary: final held-out DV, its minimum past 10 % of the steps, and the steps where the
marginal half of the bias-corrected gradient weighed more than 5 (``e^(lme_batch - log_ema)``; 1 for plain DV).
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from minelib import estimation as E
from minelib import seeding
from minelib.critic_step import CriticStep
from minelib.data import correlated_gaussian

_BATCH: dict = {}


def _spy(step_bound_and_grad):
    """Wrap ``CriticStep._bound_and_grad`` to keep the batch's joint mean, lme and largest marginal score."""
    def wrapped(self, t):
        b = t.shape[-2] // 2
        _BATCH.update(mj=t[..., :b, :].mean().item(), mmax=t[..., b:, :].max().item(),
                      lme=(torch.logsumexp(t[..., b:, :], dim=(-2, -1)) - math.log(b)).item())
        return step_bound_and_grad(self, t)
    return wrapped


def parse() -> argparse.Namespace:
    """The probe's settings; the defaults are the old quick profile's d = 50 DV critic."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, kind, default in (("d", int, 50), ("n", int, 60_000), ("steps", int, 3000), ("batch", int, 512),
                                ("hidden", str, "100,100"), ("lr", float, 1e-3), ("sched", str, "cosine"),
                                ("ema", float, 0.01), ("bound", str, "dv"), ("every", int, 100), ("perms", int, 4),
                                ("seed", int, 0), ("tag", str, ""), ("verbose", int, 0)):
        p.add_argument(f"--{name}", type=kind, default=default)
    return p.parse_args()


@torch.no_grad()
def held_out(mine, data: dict, perms: int) -> dict:
    """DV, NWJ, joint mean, lme and top-10 share of the marginal exp-mass on the held-out split."""
    was = mine.training
    mine.eval()
    x, z = data["x_test"], data["z_test"]
    m = x.shape[1]
    tj = E._scores_chunked(mine, x, z).mean().item()
    tm = torch.cat([E._scores_chunked(mine, x, torch.roll(z, 1 + (r * (m - 1)) // perms, dims=1))
                    for r in range(perms)], dim=1).double()
    lme = (torch.logsumexp(tm, 1) - math.log(tm.shape[1])).item()
    mine.train(was)
    return dict(test_dv=tj - lme, test_nwj=tj - math.exp(lme - 1), test_mj=tj, test_lme=lme,
                test_top10=torch.softmax(tm[0], 0).topk(10).values.sum().item(), test_max=tm.max().item())


def train(a: argparse.Namespace) -> tuple[np.ndarray, list[dict], float]:
    """Per-step (bound, joint mean, lme, log EMA, max marginal score) and the checkpoints' held-out rows."""
    x, z = correlated_gaussian(a.n, 0.5, a.d, seed=(a.seed, 0, a.d))
    seeds = [a.seed]
    data = E._split_and_scale(x[None], z[None], 1, int(round(a.n / 6)), "rank_gauss",
                              seeding.member_generators(seeds, "split"), "cpu")
    mine = E.MINE(a.d, a.d, a.bound, a.ema, [int(h) for h in a.hidden.split(",")], "elu", 1, seeds)
    step_fn, gens = E.make_step(mine), seeding.member_generators(seeds, "data")
    mine.train()
    log, rows, start = [], [], time.perf_counter()
    for first in range(0, a.steps, 250):
        c = min(250, a.steps - first)
        lr = a.lr if a.sched == "constant" else \
            a.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * (first + c / 2) / a.steps)))  # estimate_mi's schedule
        ix, iz = E._batch_indices(gens, data["n_train"], c, a.batch, "cpu")
        for s in range(c):
            v = step_fn.step(data["x_train"][ix[s]], data["z_train"][iz[s]], lr)
            log.append((float(v), _BATCH["mj"], _BATCH["lme"], float(mine.ema.log_value), _BATCH["mmax"]))
            if (first + s + 1) % a.every == 0:
                rows.append(dict(step=first + s + 1, **held_out(mine, data, a.perms),
                                 train_dv=float(np.mean([r[0] for r in log[-a.every:]]))))
                if a.verbose:
                    print(" ".join(f"{k} {v:.2f}" for k, v in rows[-1].items()), flush=True)
    return np.array(log), rows, time.perf_counter() - start


def main() -> None:
    """Train, then print the JSON summary (and with ``--verbose`` the spike steps)."""
    a = parse()
    CriticStep._bound_and_grad = _spy(CriticStep._bound_and_grad)
    log, rows, seconds = train(a)
    dv = np.array([r["test_dv"] for r in rows])
    steps = np.array([r["step"] for r in rows])
    weight = np.exp(log[:, 2] - log[:, 3])  # the marginal half's total weight in the corrected gradient
    print(json.dumps(dict(tag=a.tag, seed=a.seed, seconds=round(seconds, 1), final=round(float(dv[-1]), 3),
                          min_after10=round(float(dv[steps > 0.1 * a.steps].min()), 3),
                          max_weight=round(float(np.nanmax(weight[1:])), 1) if a.ema < 1 else 1.0,
                          steps_weight_gt5=int((weight[1:] > 5).sum()),
                          train_min_after10=round(float(log[len(log) // 10:, 0].min()), 2))))
    if a.verbose:
        spikes = [(i + 1, round(float(weight[i]), 1), round(float(log[i, 4]), 1), round(float(log[i, 1]), 2))
                  for i in np.flatnonzero(weight > 5)]
        print("spikes (step, marginal weight, batch max marginal score, batch joint mean):", spikes)


if __name__ == "__main__":
    main()
